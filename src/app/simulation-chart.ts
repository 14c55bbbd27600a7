import * as echarts from 'echarts';
import type { SimulationResult } from '../domain/simulation/types.js';

const WIDTH = 1100;
const ROW_HEIGHT = 330;
const TOP = 80;
const LINE_STYLES: echarts.LineSeriesOption['lineStyle'][] = [
  { width: 2, type: 'solid' }, { width: 4, type: 'solid' }, { width: 2, type: 'dashed' }, { width: 2, type: 'dotted' },
];

/**
 * The simulation as an SVG chart (Apache ECharts' server-side SVG renderer: no browser, no
 * canvas): one row per start date, on the left the cost so far per subscriber still active
 * (cumulative cost / active subscribers) and on the right the active subscribers, day by day,
 * a line per strategy.
 */
export function simulationChart(results: readonly SimulationResult[], title: string): string {
  const grid: echarts.GridComponentOption[] = [];
  const xAxis: echarts.XAXisComponentOption[] = [];
  const yAxis: echarts.YAXisComponentOption[] = [];
  const series: echarts.LineSeriesOption[] = [];
  const titles: echarts.TitleComponentOption[] = [{ text: title, left: 'center', top: 8, textStyle: { fontSize: 16 } }];
  const half = WIDTH / 2;
  results.forEach((result, row) => {
    const top = TOP + row * ROW_HEIGHT;
    const panels = [
      { name: `cost so far per active subscriber (${result.currency})`, heading: `Cost per retained subscriber, from ${result.start.slice(0, 10)}` },
      { name: 'active subscribers', heading: `Active subscribers, from ${result.start.slice(0, 10)}` },
    ];
    panels.forEach((panel, column) => {
      const index = row * 2 + column;
      const left = column * half;
      grid.push({ left: left + 80, top: top + 45, width: half - 130, height: ROW_HEIGHT - 110 });
      titles.push({ text: panel.heading, left: left + 80, top: top + 8, textStyle: { fontSize: 13 } });
      xAxis.push({ type: 'value', gridIndex: index, min: 0, max: result.days, name: 'days', nameLocation: 'middle', nameGap: 26 });
      yAxis.push({ type: 'value', gridIndex: index, name: panel.name, nameLocation: 'middle', nameGap: 55, scale: column === 0 });
      result.strategies.forEach((strategy, k) => {
        series.push({
          name: strategy.label, type: 'line', xAxisIndex: index, yAxisIndex: index, showSymbol: false,
          // Strategies that decide alike draw the same line: dashes keep the one below visible.
          lineStyle: LINE_STYLES[k % LINE_STYLES.length],
          data: strategy.series.map((point) => [point.day, column === 1 ? point.active : point.active > 0 ? Math.round((point.cost / point.active) * 1e4) / 1e4 : null]),
        });
      });
    });
  });
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: TOP + results.length * ROW_HEIGHT });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      title: titles,
      legend: { top: 40, itemGap: 24, data: results[0]?.strategies.map((s) => s.label) ?? [] },
      grid, xAxis, yAxis, series,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

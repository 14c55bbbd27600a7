import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../domain/clock.js';
import { metaError, newTraceId } from './error-catalog.js';

/**
 * A demo data source for the daily run, served by the built-in sandbox so that `npm start`
 * shows a daily run end to end without any outside service (config/daily-runs.json points at
 * it with `sandbox:/_sandbox/data/fallzahlen`). Its numbers stay the same until told to change:
 *
 * - `GET /_sandbox/data/:topic`: `{"topic", "updatedAt", "data": {"date", "cases", "newCases"}}`;
 *   `updatedAt` is the time of the request, as a real API's generation time would be.
 * - `POST /_sandbox/data/:topic/next`: the next day's numbers (date one day on, new cases added).
 * - `PUT /_sandbox/data/:topic` with `{"data": {...}}`: exactly this data (any JSON object), to
 *   play a correction or a broken answer; the next `next` starts again from sane numbers.
 */

interface Dataset {
  data: Record<string, unknown>;
  /** How many times the numbers moved on. */
  step: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function firstDataset(clock: Clock): Dataset {
  return { step: 0, data: { date: clock.now().toISOString().slice(0, 10), cases: 120_000, newCases: 0 } };
}

/** The numbers after `dataset`: deterministic, so a demo can be repeated. */
function nextDataset(dataset: Dataset, clock: Clock): Dataset {
  const step = dataset.step + 1;
  const { date, cases } = dataset.data;
  const previous = typeof date === 'string' && !Number.isNaN(Date.parse(date)) ? Date.parse(date) : clock.now().getTime() - DAY_MS;
  const newCases = 80 + ((step * 37) % 200);
  return { step, data: { date: new Date(previous + DAY_MS).toISOString().slice(0, 10), cases: (typeof cases === 'number' && Number.isFinite(cases) ? cases : 120_000) + newCases, newCases } };
}

/** Adds the demo data source's routes to the sandbox's server. */
export function registerDemoDataSource(app: FastifyInstance, clock: Clock): void {
  const datasets = new Map<string, Dataset>();
  const current = (topic: string): Dataset => {
    let dataset = datasets.get(topic);
    if (!dataset) {
      dataset = firstDataset(clock);
      datasets.set(topic, dataset);
    }
    return dataset;
  };
  const answer = (topic: string) => ({ topic, updatedAt: clock.now().toISOString(), data: current(topic).data });

  app.get<{ Params: { topic: string } }>('/_sandbox/data/:topic', async (request) => answer(request.params.topic));
  app.post<{ Params: { topic: string } }>('/_sandbox/data/:topic/next', async (request) => {
    datasets.set(request.params.topic, nextDataset(current(request.params.topic), clock));
    return answer(request.params.topic);
  });
  app.put<{ Params: { topic: string }; Body: unknown }>('/_sandbox/data/:topic', async (request, reply) => {
    const body = request.body as { data?: unknown } | null;
    if (typeof body !== 'object' || body === null || typeof body.data !== 'object' || body.data === null || Array.isArray(body.data)) {
      const refused = 'expected {"data": {...}}: the data the source answers with';
      return reply.code(400).send(metaError(100, newTraceId(), refused, refused).body);
    }
    datasets.set(request.params.topic, { step: current(request.params.topic).step, data: body.data as Record<string, unknown> });
    return answer(request.params.topic);
  });
}

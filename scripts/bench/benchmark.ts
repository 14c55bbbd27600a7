/** One line of the benchmark table. */
export interface BenchRow {
  name: string;
  metric: string;
  value: number | string;
}

/** What every module in scripts/bench/ exports as `benchmark`. */
export interface Benchmark {
  name: string;
  run(): Promise<BenchRow[]>;
}

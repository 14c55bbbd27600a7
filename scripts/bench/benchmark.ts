import { ConfigError } from '../../src/domain/errors.js';

/** One line of the benchmark table. */
export interface BenchRow {
  name: string;
  metric: string;
  value: number | string;
}

/** The command line's flags, as scripts/bench.ts parsed them; each benchmark reads the ones it names in `flags`. */
export interface BenchOptions {
  subscribers?: number[];
  workers?: number[];
  seed?: number;
  kills?: number;
  /** A directory for V8 CPU profiles of the processes a benchmark starts (`--cpu-prof DIR`). */
  'cpu-prof'?: string;
}

export interface BenchContext {
  options: BenchOptions;
  /** One run's inputs and figures: printed at once as one JSON line with --json. */
  record(run: Record<string, unknown>): void;
  /** A progress line (stderr). */
  progress(line: string): void;
  /** A result that breaks a rule the benchmark checks: reported, and the command exits 1. */
  violation(message: string): void;
}

/** What every module in scripts/bench/ exports as `benchmark`. */
export interface Benchmark {
  name: string;
  /** The flags of BenchOptions this benchmark reads; any other given flag is refused. */
  flags: readonly (keyof BenchOptions)[];
  /** False: runs only when named (long runs that are checks more than measurements). */
  runsByDefault?: boolean;
  /** The rows of the table printed without --json. */
  run(context: BenchContext): Promise<BenchRow[]>;
}

/** Rounds to `digits` decimals (figures in records and tables). */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A comma-separated list of positive integers from the environment, or `fallback`; a bad value is a ConfigError (exit 78). */
export function integersFromEnv(name: string, fallback: string): number[] {
  const raw = process.env[name] ?? fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new ConfigError(`${name}: expected positive integers separated by commas, got ${JSON.stringify(raw)}`);
  return values;
}

/** A positive number of seconds from the environment; Infinity when unset. */
export function secondsFromEnv(name: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return Infinity;
  const value = Number(raw);
  if (!(value > 0)) throw new ConfigError(`${name}: expected a positive number of seconds, got ${JSON.stringify(raw)}`);
  return value;
}

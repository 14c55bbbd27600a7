import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, PermanentError } from '../../src/domain/errors.js';

/**
 * The one way every command parses its flags and ends: node's `util.parseArgs` splits the
 * arguments (`--a=b`, `-h`, `--`), this file decides what is allowed, so every command refuses
 * an unknown flag, prints `--help` and `--version`, and with `--json` prints its errors as JSON
 * on stdout, in the same words and with the exit codes the README documents.
 */

/** Bad arguments or input: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The operator said no (or could not be asked): exit code 3. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
}

export const EXIT = { ok: 0, unexpected: 1, usage: 2, refused: 3, config: 78 } as const;

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
}

export type Flags = Record<string, FlagSpec>;

export type FlagValues<F extends Flags> = { [K in keyof F]?: F[K]['type'] extends 'string' ? string : boolean };

export interface CommandSpec<F extends Flags> {
  /** How the user runs it, as the usage says: `npm run publish`. */
  name: string;
  /** The usage text; the flags every command has and the exit codes are added below it. */
  help: string;
  flags: F;
  /** Arguments without a flag are refused unless this is true. */
  positionals?: boolean;
  /** The command has `--json`: results and errors as JSON on stdout. */
  json?: boolean;
}

export interface ParsedCommand<F extends Flags> {
  values: FlagValues<F>;
  positionals: string[];
  json: boolean;
  help: boolean;
  version: boolean;
}

export interface CommandContext<F extends Flags> {
  values: FlagValues<F>;
  positionals: string[];
  json: boolean;
  /** Prints a result on stdout: `text`, or `data` as one JSON line with --json. */
  print(text: string, data: unknown): void;
}

const COMMON_HELP = `Every command: -h, --help prints this text; --version prints the version.
Exit codes: 0 ok, 2 bad input, 3 refused by the operator, 78 bad configuration, 1 unexpected.`;

function commonFlags(spec: CommandSpec<Flags>): Flags {
  return { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' }, ...(spec.json ? { json: { type: 'boolean' } } : {}), ...spec.flags };
}

/** Splits and checks the arguments; a UsageError says what is wrong in one line. */
export function parseCommandLine<F extends Flags>(spec: CommandSpec<F>, argv: readonly string[]): ParsedCommand<F> {
  const flags = commonFlags(spec);
  // Not strict: parseArgs would then refuse `--mps -1` as "ambiguous" before the command could
  // say what it expects. Every token is checked here instead.
  const { tokens } = parseArgs({ args: [...argv], options: flags, strict: false, allowPositionals: true, tokens: true });
  const known = new Set(Object.keys(flags).flatMap((name) => [`--${name}`, ...(flags[name]?.short ? [`-${flags[name].short}`] : [])]));
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (!spec.positionals) throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}`);
      positionals.push(token.value);
      continue;
    }
    const flag = flags[token.name];
    const spelled = token.rawName === `--${token.name}` || (flag?.short !== undefined && token.rawName === `-${flag.short}`);
    if (!flag || !spelled) throw new UsageError(`unknown option ${token.rawName}`);
    if (flag.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined || (!token.inlineValue && known.has(token.value.split('=')[0] ?? ''))) {
      throw new UsageError(`${token.rawName} needs a value`);
    }
    values[token.name] = token.value;
  }
  const { help, version, json, ...own } = values;
  return { values: own as FlagValues<F>, positionals, json: json === true, help: help === true, version: version === true };
}

/** The version in package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The documented exit code of an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof PermanentError) return EXIT.usage;
  if (err instanceof ConfigError) return EXIT.config;
  if (err instanceof RefusedError) return EXIT.refused;
  return EXIT.unexpected;
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]?.trim() || 'unknown error';
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

/**
 * Runs a command: parses its flags, answers --help and --version, runs `main` and exits with
 * what it returns (0 when nothing). An error ends it with one line on stderr (`error: ...`), and
 * with --json also `{"error":{"message","exitCode"}}` on stdout, never with a stack trace.
 */
export function runCommand<F extends Flags>(spec: CommandSpec<F>, main: (ctx: CommandContext<F>) => Promise<number | void>, argv: readonly string[] = process.argv.slice(2)): void {
  // Known before parsing, so that a refused flag is reported as JSON too.
  let json = spec.json === true && argv.includes('--json');
  const run = async (): Promise<number> => {
    const parsed = parseCommandLine(spec, argv);
    json = parsed.json;
    if (parsed.help) {
      console.log(`${spec.help}\n\n${COMMON_HELP}`);
      return EXIT.ok;
    }
    if (parsed.version) {
      console.log(json ? JSON.stringify({ version: packageVersion() }) : packageVersion());
      return EXIT.ok;
    }
    const print = (text: string, data: unknown): void => console.log(json ? JSON.stringify(data) : text);
    return (await main({ values: parsed.values, positionals: parsed.positionals, json, print })) ?? EXIT.ok;
  };
  const finish = async (code: number): Promise<never> => {
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  };
  run().then(finish, async (err: unknown) => {
    const code = exitCodeOf(err);
    const message = oneLine(err);
    const hint = err instanceof UsageError ? ` (see ${spec.name} -- --help)` : '';
    console.error(`error: ${message}${hint}`);
    if (json) console.log(JSON.stringify({ error: { message, exitCode: code } }));
    await finish(code);
  });
}

/**
 * The project's error family. Every failure that crosses a module boundary is one of these,
 * so callers decide with `instanceof` (or `err.name`) instead of parsing messages.
 */
export interface AppErrorOptions {
  /** A stable, machine-readable code (a Meta error code, or a project code such as `config`). */
  code: string;
  cause?: unknown;
}

abstract class AppError extends Error {
  readonly code: string;

  constructor(message: string, options: AppErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.name = new.target.name;
  }
}

/** Retrying will not help: record the failure and stop. */
export class PermanentError extends AppError {}

/** Retrying later may help. */
export class TransientError extends AppError {}

/** The other side asked us to slow down; retry no sooner than `retryAfterMs`. */
export class RateLimitedError extends TransientError {
  readonly retryAfterMs: number;

  constructor(message: string, options: AppErrorOptions & { retryAfterMs: number }) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The configuration is invalid; the process cannot start. */
export class ConfigError extends AppError {
  constructor(message: string, options: Partial<AppErrorOptions> = {}) {
    super(message, { code: options.code ?? 'config', cause: options.cause });
  }
}

/** Metadata of one log line: fields, never a sentence built from them. */
export type LogMeta = Record<string, unknown>;

/**
 * What every layer needs of a logger. It lives here, at the bottom, so that the WhatsApp
 * client, the HTTP server and the jobs can take one without depending on the wiring in
 * `src/app/` that builds it (winston's logger implements it). The domain itself does not log.
 */
export interface Logger {
  error(message: string, meta?: LogMeta): unknown;
  warn(message: string, meta?: LogMeta): unknown;
  info(message: string, meta?: LogMeta): unknown;
  debug(message: string, meta?: LogMeta): unknown;
  /** A logger that adds `meta` to every line (`{ scope: 'http' }`, `{ job, broadcastId }`). */
  child(meta: LogMeta): Logger;
}

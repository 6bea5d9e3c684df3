/**
 * Structured logging. Pass any pino-compatible logger (`info/warn/error(object, message)`); duh is silent by
 * default. Log lines carry ids, model refs, counts and costs: never prompts, answers or secrets.
 *
 * @module
 */

/** A pino-compatible structured logger. `debug` is optional. */
export interface Logger {
  debug?(object: Record<string, unknown>, message: string): void;
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/** The default logger: discards everything. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
};

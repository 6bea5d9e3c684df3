/**
 * Shared error mapping for the built-in adapters: HTTP status and headers → the duh error family.
 *
 * @module
 */
import { ProviderError, ProviderRateLimitError, type ProviderErrorKind } from '../../src/errors.js';

/** Headers as SDKs expose them: a Fetch `Headers`, a plain record, or nothing. */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | undefined>> | null | undefined;

/** Read one header, case-insensitively. */
export function header(headers: HeadersLike, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : (value as string | undefined);
  }
  return undefined;
}

/**
 * How long the provider asked us to wait, in milliseconds: `retry-after-ms` (OpenAI), then `retry-after` as
 * seconds or an HTTP date. `undefined` when no usable hint is present (then the engine's backoff applies).
 */
export function retryAfterMs(headers: HeadersLike, now: number = Date.now()): number | undefined {
  const milliseconds = header(headers, 'retry-after-ms');
  if (milliseconds !== undefined && milliseconds.trim() !== '') {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What identifies the failed call. */
export interface CallFields {
  provider: string;
  model: string;
}

/** Map an HTTP failure to the duh error family, with a message that says what to do. */
export function errorFromStatus(
  fields: CallFields,
  status: number | undefined,
  detail: string,
  options: { headers?: HeadersLike; cause?: unknown; apiKeyHint?: string; kind?: ProviderErrorKind } = {},
): ProviderError {
  const requestId = header(options.headers, 'x-request-id') ?? header(options.headers, 'request-id');
  const base = { ...fields, ...(status !== undefined ? { status } : {}), ...(requestId ? { requestId } : {}) };
  const cause = { cause: options.cause };
  if (status === 429 && options.kind === undefined) {
    const wait = retryAfterMs(options.headers);
    return new ProviderRateLimitError({ ...base, ...(wait !== undefined ? { retryAfterMs: wait } : {}) }, `Rate limited by the provider: ${detail}`, cause);
  }
  const hints: Partial<Record<number, string>> = {
    401: `The API key was rejected. ${options.apiKeyHint ?? 'Check the `apiKey` option.'}`,
    403: `The API key may not use this model. ${options.apiKeyHint ?? 'Check the key\'s permissions.'}`,
    404: `Unknown model \`${fields.model}\`: check the model id, or the \`baseURL\`.`,
  };
  const hint = status !== undefined ? hints[status] : undefined;
  return new ProviderError(
    { ...base, ...(options.kind ? { kind: options.kind } : {}) },
    `${status !== undefined ? `HTTP ${status}: ` : ''}${detail}${hint ? ` ${hint}` : ''}`,
    cause,
  );
}

/** A failure before any HTTP status (connection refused, reset, DNS): retryable. */
export function networkError(fields: CallFields, cause: unknown): ProviderError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new ProviderError({ ...fields, kind: 'network', retryable: true }, `Network error: ${message}`, { cause });
}

/** True for the errors a fetch or SDK throws when its signal aborts. */
export function isAbortError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // The openai SDK's errors all have name 'Error'; its abort error is recognisable only by its class name.
  return ['AbortError', 'APIUserAbortError', 'AbortedError'].includes(error.name) || error.constructor?.name === 'APIUserAbortError';
}

/**
 * Remove API keys from an error's message, in place (duh's `redactSecrets` only knows common key shapes; a tenant's
 * key may have any shape). Keys shorter than 4 characters are left alone. Returns the error.
 */
export function scrubKeys<T>(error: T, keys: readonly (string | undefined)[]): T {
  if (!(error instanceof Error)) return error;
  for (const key of keys) if (key !== undefined && key.length >= 4 && error.message.includes(key)) error.message = error.message.split(key).join('[redacted]');
  return error;
}

/**
 * The `duh` error family.
 *
 * Every error `duh` throws or reports is a {@link DuhError}. Each class carries a stable string `code`, plain
 * data fields you can branch on, and a message that names the option, model or limit involved and says how
 * to fix it. Use the static `isInstance` guards rather than `instanceof`: they also work across duplicate
 * copies of the package (the ESM/CJS dual-package hazard) because they check a `Symbol.for` marker.
 *
 * This file imports nothing of ours: it is a contract.
 *
 * @module
 */

const MARKER = Symbol.for('duh.error');

/** Stable machine-readable error codes: one per class, plus `STREAM_CONSUMED` (a plain `DuhError`). */
export type DuhErrorCode =
  | 'INVALID_OPTION'
  | 'PROVIDER'
  | 'PROVIDER_RATE_LIMIT'
  | 'PROVIDER_TIMEOUT'
  | 'TRUNCATED'
  | 'RATE_LIMITED'
  | 'POLICY_DENIED'
  | 'COST_LIMIT'
  | 'BUDGET_EXCEEDED'
  | 'LIMITER_UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'INSUFFICIENT_MODELS'
  | 'ALL_CHALLENGERS_FAILED'
  | 'PROTOCOL'
  | 'STORAGE'
  | 'NOT_FOUND'
  | 'STREAM_CONSUMED'
  | 'MISSING_DEPENDENCY'
  | 'ABORTED';

/** Options accepted by every {@link DuhError} constructor. */
export interface DuhErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

/**
 * Base class of every error `duh` produces.
 *
 * @example
 * ```ts
 * try { await duh.ask(question); }
 * catch (error) {
 *   if (ProviderError.isInstance(error) && error.retryable) { ... }
 *   else if (DuhError.isInstance(error)) console.error(error.code, error.message);
 * }
 * ```
 */
export class DuhError extends Error {
  readonly [MARKER] = true;
  /** Stable machine-readable code (one per subclass). */
  readonly code: DuhErrorCode;
  override name: string = 'DuhError';

  constructor(code: DuhErrorCode, message: string, options: DuhErrorOptions = {}) {
    // Provider messages sometimes echo keys or tokens: scrub them before they reach anyone.
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** True for any `duh` error, from any copy of the package. */
  static isInstance(error: unknown): error is DuhError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }

  /** A plain, JSON-safe view of the error (no stack, no cause), as used in events and on the wire. */
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** The JSON shape of an error inside events and records. */
export interface SerializedError {
  name: string;
  code: DuhErrorCode | 'UNKNOWN';
  message: string;
  /** Whether trying again may succeed (provider errors only). */
  retryable?: boolean;
  /** What went wrong at the provider (provider errors only). */
  kind?: ProviderErrorKind;
  /** Provider and model involved, when known. */
  provider?: string;
  model?: string;
  status?: number;
}

function guard<T extends DuhError>(code: DuhErrorCode | readonly DuhErrorCode[]) {
  const codes = new Set<string>(typeof code === 'string' ? [code] : code);
  return (error: unknown): error is T => DuhError.isInstance(error) && codes.has(error.code);
}

/**
 * An option or argument was missing, of the wrong type or out of range. Thrown at construction (for
 * `new Consensus`) or synchronously when a run is requested, before any model is called.
 */
export class InvalidOptionError extends DuhError {
  override name = 'InvalidOptionError';
  /** Name of the option, as you would write it in code (`rounds`, `panel[1]`). */
  readonly option: string;
  /** The value that was rejected. */
  readonly value: unknown;

  constructor(option: string, value: unknown, message: string, options?: DuhErrorOptions) {
    super('INVALID_OPTION', message, options);
    this.option = option;
    this.value = value;
  }

  static override isInstance = guard<InvalidOptionError>('INVALID_OPTION');
}

/** Fields describing the provider call that failed. */
/** What went wrong at the provider, normalised across providers. */
export type ProviderErrorKind =
  | 'auth'
  | 'bad-request'
  | 'model-not-found'
  | 'rate-limit'
  | 'overloaded'
  | 'server'
  | 'timeout'
  | 'network'
  | 'content-filter'
  | 'truncated'
  | 'circuit-open'
  | 'unknown';

export interface ProviderErrorFields {
  /** What went wrong, normalised. Defaults from `status`. */
  kind?: ProviderErrorKind;
  /** Provider name (`openai`, `anthropic`, ...). */
  provider: string;
  /** Model id within the provider (`gpt-5.2`). */
  model: string;
  /** HTTP status when the provider answered with one. */
  status?: number;
  /** Whether retrying the same call may succeed. Defaults from `status` (408, 409, 429, >= 500). */
  retryable?: boolean;
  /** How long the provider asked us to wait before retrying, in milliseconds. */
  retryAfterMs?: number;
  /** Provider request id, for support tickets. */
  requestId?: string;
}

/**
 * A model call failed at the provider (HTTP error, network failure, bad response). Adapters throw this (or a
 * subclass); the engine retries it when `retryable` is true.
 */
export class ProviderError extends DuhError {
  override name = 'ProviderError';
  readonly kind: ProviderErrorKind;
  readonly provider: string;
  readonly model: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(fields: ProviderErrorFields, message: string, options?: DuhErrorOptions & { code?: DuhErrorCode }) {
    super(options?.code ?? 'PROVIDER', `[${fields.provider}:${fields.model}] ${message}`, options);
    this.kind = fields.kind ?? kindOfStatus(fields.status);
    this.provider = fields.provider;
    this.model = fields.model;
    this.status = fields.status;
    this.retryable = fields.retryable ?? isRetryableStatus(fields.status);
    this.retryAfterMs = fields.retryAfterMs;
    this.requestId = fields.requestId;
  }

  /** The `provider:model` reference of the failed call. */
  get ref(): string {
    return `${this.provider}:${this.model}`;
  }

  static override isInstance = guard<ProviderError>(['PROVIDER', 'PROVIDER_RATE_LIMIT', 'PROVIDER_TIMEOUT', 'TRUNCATED']);

  override toJSON(): SerializedError {
    const json: SerializedError = { ...super.toJSON(), kind: this.kind, retryable: this.retryable, provider: this.provider, model: this.model };
    if (this.status !== undefined) json.status = this.status;
    return json;
  }
}

/** The error kind an HTTP status implies. */
export function kindOfStatus(status: number | undefined): ProviderErrorKind {
  if (status === undefined) return 'unknown';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'model-not-found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate-limit';
  if (status === 503 || status === 529) return 'overloaded';
  if (status >= 500) return 'server';
  if (status >= 400) return 'bad-request';
  return 'unknown';
}

/** Statuses that are worth retrying: timeouts, conflicts, rate limits and server errors. */
export function isRetryableStatus(status: number | undefined): boolean {
  return status === 408 || status === 409 || status === 429 || (status !== undefined && status >= 500);
}

/** The provider refused the call because of its own rate limit (HTTP 429). Always retryable. */
export class ProviderRateLimitError extends ProviderError {
  override name = 'ProviderRateLimitError';

  constructor(fields: Omit<ProviderErrorFields, 'retryable'>, message?: string, options?: DuhErrorOptions) {
    const wait = fields.retryAfterMs === undefined ? '' : ` (retry after ${(fields.retryAfterMs / 1000).toFixed(1)} s)`;
    super(
      { status: 429, ...fields, kind: 'rate-limit', retryable: true },
      message ?? `Rate limited by the provider${wait}. duh retries automatically; raise \`retry.maxRetries\` or lower concurrency if this persists.`,
      { ...options, code: 'PROVIDER_RATE_LIMIT' },
    );
  }

  static override isInstance = guard<ProviderRateLimitError>('PROVIDER_RATE_LIMIT');
}

/** A model call took longer than `timeoutMs`. Retryable. */
export class ProviderTimeoutError extends ProviderError {
  override name = 'ProviderTimeoutError';
  readonly timeoutMs: number;

  constructor(fields: Omit<ProviderErrorFields, 'retryable'> & { timeoutMs: number }, options?: DuhErrorOptions) {
    super(
      { ...fields, kind: 'timeout', retryable: true },
      `No complete answer within ${fields.timeoutMs} ms. Raise the \`timeoutMs\` option or lower \`maxOutputTokens\`.`,
      { ...options, code: 'PROVIDER_TIMEOUT' },
    );
    this.timeoutMs = fields.timeoutMs;
  }

  static override isInstance = guard<ProviderTimeoutError>('PROVIDER_TIMEOUT');
}

/**
 * A streamed answer ended without the provider's finish signal (the connection dropped mid-answer). The text
 * received so far is kept in `partialText`. Retryable. (An answer cut by the token limit is not an error: it
 * is a contribution with `truncated: true`.)
 */
export class TruncatedStreamError extends ProviderError {
  override name = 'TruncatedStreamError';
  readonly partialText: string;

  constructor(fields: Omit<ProviderErrorFields, 'retryable'>, partialText: string, options?: DuhErrorOptions) {
    super(
      { ...fields, kind: 'truncated', retryable: true },
      `The answer stream ended without a finish signal after ${partialText.length} characters; the connection was probably cut.`,
      { ...options, code: 'TRUNCATED' },
    );
    this.partialText = partialText;
  }

  static override isInstance = guard<TruncatedStreamError>('TRUNCATED');
}

/** An optional peer dependency (a provider SDK, a database driver) is not installed. */
export class MissingDependencyError extends DuhError {
  override name = 'MissingDependencyError';
  /** The npm package to install. */
  readonly packageName: string;

  constructor(packageName: string, usedBy: string, alternative?: string, options?: DuhErrorOptions) {
    super(
      'MISSING_DEPENDENCY',
      `${usedBy} needs the \`${packageName}\` package, which is not installed. Run \`npm install ${packageName}\`` +
        `${alternative ? `, or ${alternative}` : ''}.`,
      options,
    );
    this.packageName = packageName;
  }

  static override isInstance = guard<MissingDependencyError>('MISSING_DEPENDENCY');
}

/** A duh rate limit (token bucket) refused the run. Reserved for the limiter; carries when to retry. */
export class RateLimitedError extends DuhError {
  override name = 'RateLimitedError';
  readonly key: string;
  readonly retryAfterMs: number;

  constructor(key: string, retryAfterMs: number, message?: string, options?: DuhErrorOptions) {
    super('RATE_LIMITED', message ?? `Rate limit \`${key}\` is exhausted; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, options);
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }

  static override isInstance = guard<RateLimitedError>('RATE_LIMITED');
}

/** The policy hook denied an action. */
export class PolicyDeniedError extends DuhError {
  override name = 'PolicyDeniedError';
  readonly action: string;
  readonly resource: string;
  readonly reason: string | undefined;

  constructor(action: string, resource: string, reason?: string, options?: DuhErrorOptions) {
    super('POLICY_DENIED', `Policy denied \`${action}\` on \`${resource}\`${reason ? `: ${reason}` : ''}.`, options);
    this.action = action;
    this.resource = resource;
    this.reason = reason;
  }

  static override isInstance = guard<PolicyDeniedError>('POLICY_DENIED');
}

/**
 * The run's cost limit could be crossed by the next round, so the run stopped before making any of its calls.
 * Thrown only when no round was committed yet (not even round 1 fits); otherwise the run ends with the last
 * decision and `stopReason: 'cost-limit'`.
 */
export class CostLimitError extends DuhError {
  override name = 'CostLimitError';
  readonly limitUsd: number;
  readonly spentUsd: number;
  /** Worst-case cost of the round that was not started. */
  readonly nextRoundUsd: number;

  constructor(limitUsd: number, spentUsd: number, nextRoundUsd: number, options?: DuhErrorOptions) {
    super(
      'COST_LIMIT',
      `Cost limit $${limitUsd.toFixed(4)} would be exceeded: $${spentUsd.toFixed(4)} spent and the next round may cost up to ` +
        `$${nextRoundUsd.toFixed(4)}. Raise \`costLimitUsd\`, lower \`maxOutputTokens\`, or use cheaper models.`,
      options,
    );
    this.limitUsd = limitUsd;
    this.spentUsd = spentUsd;
    this.nextRoundUsd = nextRoundUsd;
  }

  static override isInstance = guard<CostLimitError>('COST_LIMIT');
}

/** Which budget refused a run, with the figures. */
export interface BudgetFigures {
  /** The budget's key, e.g. `tenant:acme:day` or `user:u1:month`. */
  budget: string;
  /** The budget's limit for the window, in USD. */
  limitUsd: number;
  /** Spent and reserved in the current window, before this run. */
  usedUsd: number;
  /** The run's worst-case cost that did not fit. */
  requestedUsd: number;
  /** When the window ends (ISO 8601). */
  resetsAt: string;
}

/**
 * A budget (USD per user or tenant per day or month) cannot cover a run's worst-case cost. Nothing was spent:
 * the run was refused before its first call. Carries the figures.
 */
export class BudgetExceededError extends DuhError implements BudgetFigures {
  override name = 'BudgetExceededError';
  readonly budget: string;
  readonly limitUsd: number;
  readonly usedUsd: number;
  readonly requestedUsd: number;
  readonly resetsAt: string;

  constructor(figures: BudgetFigures, options?: DuhErrorOptions) {
    super(
      'BUDGET_EXCEEDED',
      `Budget \`${figures.budget}\` cannot cover this run: $${figures.usedUsd.toFixed(4)} of $${figures.limitUsd.toFixed(4)} is spent or reserved ` +
        `and the run may cost up to $${figures.requestedUsd.toFixed(4)}. It resets at ${figures.resetsAt}. Lower \`rounds\` or ` +
        `\`maxOutputTokens\`, use cheaper models, pass \`onBudget: 'degrade'\`, or raise the budget.`,
      options,
    );
    this.budget = figures.budget;
    this.limitUsd = figures.limitUsd;
    this.usedUsd = figures.usedUsd;
    this.requestedUsd = figures.requestedUsd;
    this.resetsAt = figures.resetsAt;
  }

  static override isInstance = guard<BudgetExceededError>('BUDGET_EXCEEDED');
}

/**
 * The rate-limit store (e.g. Redis) could not be reached and the limiter fails closed (the default). Pass
 * `failOpen: true` to the store to let requests through instead, with a warning.
 */
export class LimiterUnavailableError extends DuhError {
  override name = 'LimiterUnavailableError';
  /** The store's name (`memory`, `redis`). */
  readonly store: string;

  constructor(store: string, message: string, options?: DuhErrorOptions) {
    super('LIMITER_UNAVAILABLE', `[${store}] ${message}`, options);
    this.store = store;
  }

  static override isInstance = guard<LimiterUnavailableError>('LIMITER_UNAVAILABLE');
}

/** Credentials (API key, password, token) were missing, wrong, expired or revoked. Never says which secret. */
export class AuthenticationError extends DuhError {
  override name = 'AuthenticationError';

  constructor(message: string, options?: DuhErrorOptions) {
    super('UNAUTHENTICATED', message, options);
  }

  static override isInstance = guard<AuthenticationError>('UNAUTHENTICATED');
}

/**
 * Not enough usable models (no proposer-eligible model, an empty pool). `Consensus` reports these cases earlier as
 * `InvalidOptionError`; the selection functions throw this when used on their own.
 */
export class InsufficientModelsError extends DuhError {
  override name = 'InsufficientModelsError';

  constructor(message: string, options?: DuhErrorOptions) {
    super('INSUFFICIENT_MODELS', message, options);
  }

  static override isInstance = guard<InsufficientModelsError>('INSUFFICIENT_MODELS');
}

/** One member's failure, as listed by {@link AllChallengersFailedError} and in run records. */
export interface MemberFailure {
  /** `provider:model` of the member that failed. */
  model: string;
  round: number;
  phase: string;
  error: SerializedError;
}

/** Every challenger of a round failed, so there is nothing to revise against. */
export class AllChallengersFailedError extends DuhError {
  override name = 'AllChallengersFailedError';
  readonly round: number;
  readonly failures: readonly MemberFailure[];

  constructor(round: number, failures: readonly MemberFailure[], options?: DuhErrorOptions) {
    super(
      'ALL_CHALLENGERS_FAILED',
      `All ${failures.length} challenger(s) failed in round ${round}: ` +
        failures.map((failure) => `${failure.model} (${failure.error.message})`).join('; ') +
        '. Check provider keys and status, or add `fallbacks` for these models.',
      options,
    );
    this.round = round;
    this.failures = failures;
  }

  static override isInstance = guard<AllChallengersFailedError>('ALL_CHALLENGERS_FAILED');
}

/** The protocol reached an impossible state (an invalid state-machine transition). Indicates a bug. */
export class ProtocolError extends DuhError {
  override name = 'ProtocolError';

  constructor(message: string, options?: DuhErrorOptions) {
    super('PROTOCOL', message, options);
  }

  static override isInstance = guard<ProtocolError>('PROTOCOL');
}

/** A storage driver failed to read or write. */
export class StorageError extends DuhError {
  override name = 'StorageError';
  /** The driver's name (`memory`, `sqlite`, `postgres`). */
  readonly driver: string;

  constructor(driver: string, message: string, options?: DuhErrorOptions) {
    super('STORAGE', `[${driver}] ${message}`, options);
    this.driver = driver;
  }

  static override isInstance = guard<StorageError>('STORAGE');
}

/** A thread (or other record) was not found. (A prefix matching several threads is an `InvalidOptionError`.) */
export class NotFoundError extends DuhError {
  override name = 'NotFoundError';
  readonly resource: string;
  readonly id: string;

  constructor(resource: string, id: string, message?: string, options?: DuhErrorOptions) {
    super('NOT_FOUND', message ?? `No ${resource} matches \`${id}\`.`, options);
    this.resource = resource;
    this.id = id;
  }

  static override isInstance = guard<NotFoundError>('NOT_FOUND');
}

/** The run was cancelled through its `AbortSignal` (or by leaving a stream early). */
export class AbortedError extends DuhError {
  override name = 'AbortedError';

  constructor(reason?: unknown) {
    super('ABORTED', 'The run was aborted.', { cause: reason });
  }

  static override isInstance = guard<AbortedError>('ABORTED');
}

/**
 * Serialize any thrown value for an event, log line or record. Unknown errors keep only their name and
 * message; every message passes through {@link redactSecrets}.
 */
export function serializeError(error: unknown): SerializedError {
  let json: SerializedError;
  if (DuhError.isInstance(error)) json = error.toJSON();
  else if (error instanceof Error) json = { name: error.name, code: 'UNKNOWN', message: error.message };
  else json = { name: 'Error', code: 'UNKNOWN', message: String(error) };
  json.message = redactSecrets(json.message);
  return json;
}

const SECRET_PATTERNS: readonly RegExp[] = [
  /\b(sk|pk|rk|pplx)-[A-Za-z0-9_-]{8,}/g, // OpenAI / Anthropic / Perplexity style keys (sk-..., sk-ant-..., pplx-...)
  /\bAIza[0-9A-Za-z_-]{20,}/g, // Google API keys
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, // Authorization header values
  /([?&](?:key|api_key|apikey|token|access_token)=)[^&\s"']+/gi, // secrets in query strings
  /("?\b(?:api[_-]?key|access[_-]?token|token|authorization|x-api-key|x-goog-api-key|password|secret)"?\s*[:=]\s*"?)[^\s"',}]{6,}/gi, // key: value pairs
];

/**
 * Replace anything that looks like an API key, bearer token or password in `text` with `[redacted]`. duh applies
 * it to every error message that reaches an event, a log line or a stored record, so a provider error that
 * echoes a key never leaks it.
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match: string, ...groups: unknown[]) => {
      const prefix = groups.length > 2 && typeof groups[0] === 'string' && /[=:]\s*"?$/.test(groups[0]) ? groups[0] : '';
      return `${prefix}[redacted]`;
    });
  }
  return out;
}

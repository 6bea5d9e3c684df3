/**
 * Limits, budgets and tenant credentials of a multi-user `Consensus`: the option types and their validation.
 *
 * - **Rate limits** are token buckets per user, per tenant and per provider or model, for requests and for
 *   tokens. A user's or tenant's `requests` count runs; a model's `requests` count calls to it; `tokens` count
 *   model tokens (estimated before each call, reconciled with the real usage after). A run waits for tokens up
 *   to `maxWaitMs` instead of failing, since a consensus fans out to many members.
 * - **Budgets** are USD per user and per tenant per UTC day or month. A run's worst case is reserved before it
 *   starts and settled with its real cost after, so concurrent runs can never overspend.
 * - **Credentials** resolve a tenant's own provider key (bring your own key) for the models of its runs.
 *
 * All of it lives in one {@link RateLimitStore}: memory by default, `duh/limiter/redis` to share limits and
 * budgets between instances.
 *
 * @module
 */
import { InvalidOptionError } from './errors.js';
import { parseRate, type Rate, type RateLimitStore } from './limiter.js';
import type { Principal } from './principal.js';

/** A rate: `'60/min'`, `'200k/hour'`, `'1m/day'`, or `{ limit, windowMs }`. */
export type RateSpec = string | Rate;

/** Request and token buckets of one subject. */
export interface BucketLimits {
  /** Runs (per user or tenant) or calls (per model) allowed per window. */
  requests?: RateSpec;
  /** Model tokens (input + output) allowed per window. */
  tokens?: RateSpec;
}

/** Limits that may depend on who is asking (e.g. a tenant's plan). Return undefined for no limit. */
export type PrincipalLimits = BucketLimits | ((principal: Principal) => BucketLimits | undefined);

/** Token-bucket limits of a `Consensus`. */
export interface LimitsOptions {
  /** Buckets of each user (the principal's id within its tenant; anonymous runs share `anonymous`). */
  perUser?: PrincipalLimits;
  /** Buckets of each tenant, shared by its users. */
  perTenant?: PrincipalLimits;
  /**
   * Buckets per provider (`openai`) or model (`openai:gpt-5.2`), shared by every tenant: e.g. your account's
   * provider rate limits. A call draws from both its provider's and its model's buckets when both are set.
   */
  perModel?: Readonly<Record<string, BucketLimits>>;
  /**
   * How long a run may queue for an empty bucket before it fails with `RateLimitedError`. 0 refuses at once.
   * @default 30000
   */
  maxWaitMs?: number;
}

/** A budget: at most `usd` per UTC day or calendar month. */
export interface BudgetWindow {
  usd: number;
  per: 'day' | 'month';
}

/** A budget that may depend on who is asking. Return undefined for no budget. */
export type PrincipalBudget = BudgetWindow | ((principal: Principal) => BudgetWindow | undefined);

/** What a run does when its worst case does not fit a budget. */
export type BudgetOverflow = 'refuse' | 'degrade';

/** USD budgets of a `Consensus`. */
export interface BudgetOptions {
  /** Each user's budget. */
  perUser?: PrincipalBudget;
  /** Each tenant's budget, shared by its users. */
  perTenant?: PrincipalBudget;
  /**
   * `refuse` (default) fails a run whose worst case does not fit with `BudgetExceededError` (with the figures);
   * `degrade` first tries fewer rounds, then the cheapest models. Runs may override it with `onBudget`.
   * @default 'refuse'
   */
  onExceed?: BudgetOverflow;
}

/**
 * Finds a tenant's own key for a provider (bring your own key); undefined means "use the shared adapter".
 * `duh/identity` provides one backed by encrypted storage (`identity.credentials()`).
 */
export type CredentialResolver = (request: { tenant: string; provider: string }) => Promise<{ apiKey: string } | undefined>;

/** Resolved buckets of one subject. */
export interface ResolvedBuckets {
  requests?: Rate;
  tokens?: Rate;
}

/** Limits and budgets, checked once at construction. */
export interface ResolvedGovernance {
  store: RateLimitStore;
  perUser: ((principal: Principal) => ResolvedBuckets | undefined) | undefined;
  perTenant: ((principal: Principal) => ResolvedBuckets | undefined) | undefined;
  perModel: ReadonlyMap<string, ResolvedBuckets>;
  maxWaitMs: number;
  budgetPerUser: ((principal: Principal) => BudgetWindow | undefined) | undefined;
  budgetPerTenant: ((principal: Principal) => BudgetWindow | undefined) | undefined;
  onExceed: BudgetOverflow;
}

function buckets(option: string, value: unknown): ResolvedBuckets {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be an object like { requests: '60/min', tokens: '200k/hour' }.`);
  }
  onlyKnownKeys(option, value, ['requests', 'tokens']);
  const { requests, tokens } = value as BucketLimits;
  return {
    ...(requests !== undefined ? { requests: parseRate(requests, `${option}.requests`) } : {}),
    ...(tokens !== undefined ? { tokens: parseRate(tokens, `${option}.tokens`) } : {}),
  };
}

function perPrincipal(option: string, value: PrincipalLimits | undefined): ((principal: Principal) => ResolvedBuckets | undefined) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') {
    // Parsed per call, but cached per distinct result object so a plan table costs one parse per plan.
    const cache = new WeakMap<object, ResolvedBuckets>();
    return (principal) => {
      const limits = value(principal);
      if (limits === undefined) return undefined;
      let resolved = cache.get(limits);
      if (!resolved) cache.set(limits, (resolved = buckets(option, limits)));
      return resolved;
    };
  }
  const resolved = buckets(option, value);
  return () => resolved;
}

/** The largest budget: amounts are kept in micro-dollars, exact up to 2^53. */
const MAX_BUDGET_USD = 1e9;

/** Throw for keys of `value` that are not in `known` (a misspelt option must not silently mean "no limit"). */
function onlyKnownKeys(option: string, value: object, known: readonly string[]): void {
  const unknown = Object.keys(value).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new InvalidOptionError(`${option}.${unknown}`, (value as Record<string, unknown>)[unknown], `\`${option}\` has no \`${unknown}\` option; it takes ${known.map((key) => `\`${key}\``).join(', ')}.`);
  }
}

function budgetWindow(option: string, value: unknown): BudgetWindow {
  const window = value as Partial<BudgetWindow> | null;
  if (typeof window !== 'object' || window === null || typeof window.usd !== 'number' || !(window.usd >= 0) || !Number.isFinite(window.usd)) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be like { usd: 5, per: 'day' } with a finite \`usd\` >= 0.`);
  }
  onlyKnownKeys(option, window, ['usd', 'per']);
  if (window.usd > MAX_BUDGET_USD) {
    throw new InvalidOptionError(`${option}.usd`, window.usd, `The \`${option}.usd\` option is at most ${MAX_BUDGET_USD} (one billion dollars); for no budget, leave \`${option}\` unset.`);
  }
  if (window.per !== 'day' && window.per !== 'month') {
    throw new InvalidOptionError(`${option}.per`, window.per, `The \`${option}.per\` option must be 'day' or 'month' (UTC windows).`);
  }
  return { usd: window.usd, per: window.per };
}

function budgetOf(option: string, value: PrincipalBudget | undefined): ((principal: Principal) => BudgetWindow | undefined) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') {
    return (principal) => {
      const window = value(principal);
      return window === undefined ? undefined : budgetWindow(option, window);
    };
  }
  const resolved = budgetWindow(option, value);
  return () => resolved;
}

/** Check `limits`, `budget` and `limiter`; undefined when none is set (no limiter work at all). */
export function resolveGovernance(
  limits: LimitsOptions | undefined,
  budget: BudgetOptions | undefined,
  store: RateLimitStore | undefined,
  defaultStore: () => RateLimitStore,
): ResolvedGovernance | undefined {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) {
    throw new InvalidOptionError('limits', limits, "The `limits` option must be an object like { perUser: { requests: '60/min' } }.");
  }
  if (budget !== undefined && (typeof budget !== 'object' || budget === null)) {
    throw new InvalidOptionError('budget', budget, "The `budget` option must be an object like { perTenant: { usd: 100, per: 'month' } }.");
  }
  if (store !== undefined) checkLimiter('limiter', store);
  if (limits) onlyKnownKeys('limits', limits, ['perUser', 'perTenant', 'perModel', 'maxWaitMs']);
  if (budget) onlyKnownKeys('budget', budget, ['perUser', 'perTenant', 'onExceed']);
  if (!limits && !budget) return undefined;
  const perModel = new Map<string, ResolvedBuckets>();
  if (limits?.perModel !== undefined) {
    if (typeof limits.perModel !== 'object' || limits.perModel === null) {
      throw new InvalidOptionError('limits.perModel', limits.perModel, "The `limits.perModel` option maps a provider or model ref to buckets, e.g. { openai: { requests: '500/min' } }.");
    }
    for (const [key, value] of Object.entries(limits.perModel)) perModel.set(key, buckets(`limits.perModel[${JSON.stringify(key)}]`, value));
  }
  const maxWaitMs = limits?.maxWaitMs ?? 30_000;
  if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0) || !Number.isFinite(maxWaitMs)) {
    throw new InvalidOptionError('limits.maxWaitMs', maxWaitMs, 'The `limits.maxWaitMs` option must be a finite number of milliseconds >= 0 (0 refuses at once).');
  }
  const onExceed = budget?.onExceed ?? 'refuse';
  if (onExceed !== 'refuse' && onExceed !== 'degrade') {
    throw new InvalidOptionError('budget.onExceed', onExceed, "The `budget.onExceed` option must be 'refuse' or 'degrade'.");
  }
  return {
    store: store ?? defaultStore(),
    perUser: perPrincipal('limits.perUser', limits?.perUser),
    perTenant: perPrincipal('limits.perTenant', limits?.perTenant),
    perModel,
    maxWaitMs,
    budgetPerUser: budgetOf('budget.perUser', budget?.perUser),
    budgetPerTenant: budgetOf('budget.perTenant', budget?.perTenant),
    onExceed,
  };
}

/** `store` as a {@link RateLimitStore} v1, or an InvalidOptionError naming `option` and what is missing. */
export function checkLimiter(option: string, store: unknown): RateLimitStore {
  const candidate = store as Partial<RateLimitStore> | null;
  const missing = (['take', 'refund', 'reserve', 'settle'] as const).filter((method) => typeof candidate?.[method] !== 'function');
  if (typeof candidate !== 'object' || candidate === null || candidate.specificationVersion !== 'v1' || missing.length) {
    throw new InvalidOptionError(
      option,
      store,
      `The \`${option}\` option must be a RateLimitStore v1${missing.length ? ` (missing ${missing.join(', ')})` : ''}: memoryLimiter() from duh/limiter/memory or redisLimiter() from duh/limiter/redis.`,
    );
  }
  return candidate as RateLimitStore;
}

/** The UTC window containing `now`: its key (`2026-11-26` or `2026-11`), start and end in epoch ms. */
export function budgetWindowAt(per: BudgetWindow['per'], now: number): { id: string; start: number; end: number } {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  if (per === 'month') {
    const start = Date.UTC(year, month, 1);
    return { id: date.toISOString().slice(0, 7), start, end: Date.UTC(year, month + 1, 1) };
  }
  const start = Date.UTC(year, month, date.getUTCDate());
  return { id: date.toISOString().slice(0, 10), start, end: start + 86_400_000 };
}

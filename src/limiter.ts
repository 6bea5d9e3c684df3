/**
 * The rate-limit store contract (v1): atomic weighted token buckets for rate limits, and reserve/settle
 * counters for budgets, behind one small interface that memory and Redis (and your own store) implement.
 *
 * - **Buckets.** A bucket holds up to `capacity` tokens and refills continuously at `refillPerMs` tokens per
 *   millisecond. It starts full. {@link RateLimitStore.take} removes `cost` tokens when that many are there and
 *   otherwise removes nothing and says when they will be ({@link LimitDecision.retryAfterMs}).
 *   {@link RateLimitStore.refund} gives tokens back, never above capacity. The exact arithmetic, which every
 *   store implements the same way, is in `src/limiter/bucket.ts`.
 * - **Counters** (budgets). {@link RateLimitStore.reserve} adds an amount to a counter only when the sum stays
 *   within a limit; {@link RateLimitStore.settle} later replaces the reservation by the real amount. Counters
 *   are exact to nine decimal places (0.1 + 0.2 is 0.3), so USD amounts can be passed as they are.
 * - **Time** comes from the caller: every request carries `now` (epoch ms). Stores never read a clock, so a
 *   test controls time completely, and instances sharing a Redis agree as long as their clocks do.
 *
 * Rates are written `'60/min'`, `'200k/hour'`, `'1.5m/day'` or `{ limit, windowMs }`; see {@link parseRate}.
 *
 * This file imports nothing of ours but the errors: it is a contract.
 *
 * @module
 */
import { InvalidOptionError } from './errors.js';

/** A rate: `limit` units per `windowMs` milliseconds. `'60/min'` is `{ limit: 60, windowMs: 60_000 }`. */
export interface Rate {
  /** Units allowed per window; also the bucket's capacity (the largest burst). Positive and finite. */
  limit: number;
  /** The window in milliseconds. Positive and finite. */
  windowMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1, msec: 1, msecs: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
  w: 604_800_000, wk: 604_800_000, week: 604_800_000, weeks: 604_800_000,
};

const SUFFIX: Readonly<Record<string, number>> = { '': 1, k: 1e3, m: 1e6, b: 1e9 };

// <count>[k|m|b] ( '/' | ' per ' ) [<multiplier>] <unit>, e.g. '60/min', '200k/hour', '2 per 5min', '1_000/h'
const RATE = /^\s*(\d[\d_]*(?:\.\d+)?)\s*([kmb]?)\s*(?:\/|\s+per\s+)\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$/i;

const RATE_FORMS = "'60/min', '200k/hour', '1.5m/day', '10/s', '2/5min' or { limit: 60, windowMs: 60_000 }";

/**
 * Read a rate written as text (`'60/min'`) or as a {@link Rate} object, and check it.
 *
 * Text is `<count>/<window>`: the count may end in `k` (thousand), `m` (million) or `b` (billion) and may use
 * `_` between digits; the window is a unit (`ms`, `s`/`sec`/`second`, `m`/`min`/`minute`, `h`/`hr`/`hour`,
 * `d`/`day`, `w`/`week`, singular or plural, any case), optionally preceded by a multiplier (`'2/5min'`,
 * `'100/30s'`). `per` may replace the slash (`'60 per minute'`).
 *
 * @param value the rate, as written by the user
 * @param option the option's name as the user wrote it (`limits.perUser.requests`), used in the error
 * @throws {InvalidOptionError} naming `option`, with examples of the accepted forms
 *
 * @example
 * ```ts
 * parseRate('60/min', 'requests');      // { limit: 60, windowMs: 60_000 }
 * parseRate('200k/hour', 'tokens');     // { limit: 200_000, windowMs: 3_600_000 }
 * parseRate('2/5min', 'requests');      // { limit: 2, windowMs: 300_000 }
 * ```
 */
export function parseRate(value: string | Rate, option: string): Rate {
  if (typeof value === 'string') {
    const match = RATE.exec(value);
    const unit = match ? UNIT_MS[match[4]!.toLowerCase()] : undefined;
    if (!match || unit === undefined || match[1]!.endsWith('_')) {
      throw new InvalidOptionError(option, value, `The \`${option}\` option must be a rate such as ${RATE_FORMS}; got ${JSON.stringify(value)}.`);
    }
    const limit = Number(match[1]!.replaceAll('_', '')) * SUFFIX[match[2]!.toLowerCase()]!;
    const windowMs = (match[3] === undefined ? 1 : Number(match[3])) * unit;
    return checkRate({ limit, windowMs }, value, option);
  }
  if (typeof value === 'object' && value !== null) return checkRate({ limit: value.limit, windowMs: value.windowMs }, value, option);
  throw new InvalidOptionError(option, value, `The \`${option}\` option must be a rate such as ${RATE_FORMS}; got ${typeof value}.`);
}

function checkRate(rate: Rate, value: unknown, option: string): Rate {
  const { limit, windowMs } = rate;
  if (typeof limit !== 'number' || !Number.isFinite(limit) || !(limit > 0)) {
    throw new InvalidOptionError(option, value, `The \`${option}\` rate needs a positive, finite limit (e.g. ${RATE_FORMS}); got limit ${String(limit)}.`);
  }
  if (typeof windowMs !== 'number' || !Number.isFinite(windowMs) || !(windowMs > 0)) {
    throw new InvalidOptionError(option, value, `The \`${option}\` rate needs a positive, finite window in ms (e.g. ${RATE_FORMS}); got windowMs ${String(windowMs)}.`);
  }
  return { limit, windowMs };
}

/**
 * The bucket of a rate: `capacity` = `limit` (the largest burst) and `refillPerMs` = `limit / windowMs`, so an
 * empty bucket is full again after one window.
 */
export function bucketOf(rate: Rate): { capacity: number; refillPerMs: number } {
  return { capacity: rate.limit, refillPerMs: rate.limit / rate.windowMs };
}

/** One take from (or, with `amount`, refund to) a token bucket. */
export interface BucketRequest {
  /** The bucket's name, e.g. `user:acme:u1:requests`. Any non-empty string. */
  key: string;
  /** The most tokens the bucket holds (and starts with). Positive and finite. */
  capacity: number;
  /** Tokens added per millisecond, continuously, up to `capacity`. Finite, >= 0 (0: never refills). */
  refillPerMs: number;
  /** Tokens to take. Finite, >= 0. More than `capacity` can never be granted. */
  cost: number;
  /** The caller's time, epoch ms. A time earlier than the bucket's last update refills nothing. */
  now: number;
}

/** A refund: give `amount` tokens back to a bucket (never above `capacity`). */
export type RefundRequest = Omit<BucketRequest, 'cost'> & {
  /** Tokens to give back. Finite, >= 0. */
  amount: number;
};

/** What a bucket said to a take or a refund. */
export interface LimitDecision {
  /** Whether the tokens were taken (always true for a refund). */
  allowed: boolean;
  /** Whole tokens left after the operation (rounded down). */
  remaining: number;
  /** The bucket's capacity. */
  limit: number;
  /** Epoch ms when the bucket will be full again (`now` when it is full; infinite when it never refills). */
  resetAt: number;
  /**
   * 0 when allowed; otherwise the milliseconds (a whole number) until `cost` tokens are there, so a take at
   * `now + retryAfterMs` succeeds if nothing else takes first. `Number.POSITIVE_INFINITY` when the cost can
   * never be granted (more than the capacity, or a bucket that never refills).
   */
  retryAfterMs: number;
  /**
   * Set when the store could not be reached and failed open (`failOpen: true`): the decision is an allowing
   * stand-in, and this says why. Absent on real decisions.
   */
  degraded?: string;
  /** Set by `takeWithin`: how long it waited (ms, by its clock) before this decision. */
  waitedMs?: number;
}

/**
 * A reservation on a counter (a budget): add `amount` if `used + amount <= limit`. Amounts are exact to nine
 * decimal places (finer digits are rounded) and may be as large as `Number.MAX_SAFE_INTEGER`.
 */
export interface CounterRequest {
  /** The counter's name, e.g. `budget:acme:2026-01-15`. Any non-empty string. */
  key: string;
  /** The most the counter may reach by reservations. Finite, >= 0. */
  limit: number;
  /** How much to add. Finite, >= 0. */
  amount: number;
  /**
   * Epoch ms when the counter's window ends (by the caller's clock): from then on the counter counts as 0 and
   * stores may delete it. Set by the request that creates the counter; later requests keep the first value.
   */
  expiresAt: number;
  /** The caller's time, epoch ms. */
  now: number;
}

/** What a counter said to a reservation. */
export interface CounterDecision {
  /** Whether `amount` was added. */
  allowed: boolean;
  /** The counter after the operation (before it, when refused). */
  used: number;
  /** The limit of the request. */
  limit: number;
  /** Set when the store failed open: the decision is an allowing stand-in, and this says why. */
  degraded?: string;
}

/** Replace a reservation by what was really spent: `used += actual - reserved`, floored at 0. */
export interface SettleRequest {
  /** The counter's name. */
  key: string;
  /** What was reserved earlier (finite, >= 0). */
  reserved: number;
  /** What was really spent (finite, >= 0). May exceed `reserved`: the counter then grows past it. */
  actual: number;
  /** The counter's window end, used when the settle creates the counter. */
  expiresAt: number;
  /** The caller's time, epoch ms. */
  now: number;
}

/** What a settle left in the counter. */
export interface SettleResult {
  /** The counter after the settle. */
  used: number;
  /** Set when the store failed open: nothing was recorded, and this says why. */
  degraded?: string;
}

/**
 * A rate-limit store, v1: where buckets and budget counters live. Every operation is atomic on its key, even
 * with many processes sharing the store. Check yours with `rateLimitStoreConformance` from `duh/testing`.
 *
 * @example
 * ```ts
 * import { memoryLimiter } from 'duh/limiter/memory';
 * const store = memoryLimiter();
 * const decision = await store.take({ key: 'user:u1', capacity: 60, refillPerMs: 60 / 60_000, cost: 1, now: Date.now() });
 * if (!decision.allowed) console.log(`retry in ${decision.retryAfterMs} ms`);
 * ```
 */
export interface RateLimitStore {
  /** The contract version this store implements. */
  readonly specificationVersion: 'v1';
  /** The store's name, for errors and logs: `memory`, `redis`, ... */
  readonly name: string;
  /**
   * Take `cost` tokens from the bucket `key`, atomically. A bucket that does not exist yet is full. Deducts only
   * when allowed; a refused take leaves the bucket as it was.
   */
  take(request: BucketRequest): Promise<LimitDecision>;
  /** Give `amount` tokens back to the bucket `key` (e.g. a call that used fewer tokens than it took). Never above capacity. */
  refund(request: RefundRequest): Promise<LimitDecision>;
  /** Budgets: atomically `used += amount` if `used + amount <= limit`; the counter expires at `expiresAt`. */
  reserve(request: CounterRequest): Promise<CounterDecision>;
  /** Budgets: `used += actual - reserved`, floored at 0. */
  settle(request: SettleRequest): Promise<SettleResult>;
  /** Release what the store opened (connections it created). Safe to call twice. */
  close?(): Promise<void>;
}

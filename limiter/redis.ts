/**
 * Redis rate-limit store: token buckets and budget counters shared by every process that points at the same
 * Redis, so any number of server instances or serverless functions agree on limits and budgets.
 *
 * Each operation is **one round trip**: one Lua script (four operations, chosen by an argument) sent with
 * `EVALSHA`, or `EVAL` when the server does not know the script yet (`NOSCRIPT`: a restart, `SCRIPT FLUSH`).
 * Each operation touches one key, so it works on Redis Cluster as it is. The script uses nothing newer than
 * Redis 7.0. Idle keys expire on their own: a bucket at least 30 s after it would be full again (its expiry is
 * renewed at most about every 30 s), a counter a minute after its window ends.
 *
 * When Redis cannot be reached (or does not answer within `timeoutMs`), the store **fails closed** by default:
 * operations reject with a `LimiterUnavailableError`. With `failOpen: true` they resolve to allowing decisions
 * marked `degraded`, and `onError` hears about it (by default one `console.warn` per outage).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { Consensus } from 'duh';
 * import { redisLimiter } from 'duh/limiter/redis';
 *
 * const limiter = redisLimiter({ client: new Redis(process.env.REDIS_URL!), prefix: 'myapp:duh:' });
 * const duh = new Consensus({ models, limiter, limits: { perUser: { requests: '60/min' } }, budget: { perTenant: { usd: 100, per: 'month' } } });
 * ```
 *
 * @module
 */
import { InvalidOptionError, LimiterUnavailableError, MissingDependencyError } from '../src/errors.js';
import type { BucketRequest, CounterDecision, CounterRequest, LimitDecision, RateLimitStore, RefundRequest, SettleRequest, SettleResult } from '../src/limiter.js';
import {
  type BucketOutcome,
  type BucketState,
  checkBucketRequest,
  checkCounterRequest,
  checkRefundRequest,
  checkSettleRequest,
  decide,
  fromFixed,
  KEEP_FULL_MS,
  refund,
  take,
  toFixed,
} from '../src/limiter/bucket.js';

const STORE_NAME = 'redis';

/**
 * The subset of a Redis client the store uses: `evalsha` and `eval` with ioredis's argument order
 * (`script or sha, number of keys, ...keys, ...args`), resolving to the script's reply. An ioredis `Redis` or
 * `Cluster` fits as it is; wrap any other client in these two functions.
 */
export interface RedisClientLike {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** Options for {@link redisLimiter}. */
export interface RedisLimiterOptions {
  /**
   * Your client (an ioredis `Redis` or `Cluster`, or anything with `evalsha` and `eval`). duh never closes it:
   * `close()` leaves it to you. Pass either `client` or `url`.
   */
  client?: RedisClientLike;
  /**
   * A Redis URL (`redis://user:password@host:6379/0`, `rediss://` for TLS). duh imports the optional peer
   * `ioredis` on first use, creates its own client and closes it on `close()`. Without `client` and `url`, the
   * `REDIS_URL` environment variable is used.
   */
  url?: string;
  /**
   * Prepended to every key: buckets are `<prefix>bucket:<key>`, counters `<prefix>counter:<key>`. Give each app
   * (or test run) sharing a Redis its own. @default 'duh:'
   */
  prefix?: string;
  /**
   * What to do when Redis cannot be reached or does not answer in time. `false` (the default) fails closed:
   * operations reject with `LimiterUnavailableError`, so nothing runs unmetered. `true` fails open: operations
   * resolve to allowing decisions with `degraded` set, and `onError` is called. @default false
   */
  failOpen?: boolean;
  /**
   * Called with a `LimiterUnavailableError` each time an operation fails open. Without it, the store prints one
   * `console.warn` per outage (the first failure after a success).
   */
  onError?: (error: LimiterUnavailableError) => void;
  /**
   * How long an operation waits for Redis before it counts as unreachable, in ms (it gives up between
   * `timeoutMs` and 1.25 × `timeoutMs`). @default 1000
   */
  timeoutMs?: number;
}

/** The Redis store: a {@link RateLimitStore} over one Lua script. */
export interface RedisLimiter extends RateLimitStore {
  readonly name: 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  /** Close the client the store created from `url` (a client you passed stays open). Safe to call twice. */
  close(): Promise<void>;
}

/** Counters live this long after their window ends, so callers' clock drift never drops a live one. */
const KEY_GRACE_MS = 60_000;

/**
 * The store's only script. KEYS[1] is the bucket or counter; ARGV[1] the operation. It applies the arithmetic of
 * `src/limiter/bucket.ts` step by step on the same IEEE doubles, so it changes the state exactly as the memory
 * store would. Numbers arrive as JavaScript's shortest round-trip decimal strings (`tonumber` reads them
 * exactly) and are stored as Redis writes Lua numbers, with 17 significant digits (exact again).
 *
 * - A bucket is a hash `{ t: tokens, u: updatedAt }`. The reply is `{applied, t, u}` with the state **before**
 *   the operation (nil when there was none); this process derives the decision from it with the same functions
 *   as the memory store, and checks that it agrees on `applied`.
 * - A counter is a hash `{ w: whole, n: nanos, e: expiresAt }` (fixed point, nine decimals); the reply is
 *   `{applied, whole, nanos}` after the operation, as integers.
 *
 * Nothing here needs more than Redis 7.0 (no shebang flags, no functions). The key layout is part of v1.
 */
export const REDIS_LIMITER_SCRIPT = `-- duh rate-limit store v1
local key, op = KEYS[1], ARGV[1]
if op == 'take' or op == 'refund' then
  -- A bucket is a hash {t = tokens, u = updatedAt, x = when the key expires, by the callers' clock}.
  -- ARGV: capacity, refillPerMs, cost or amount, now. Reply: {applied, t, u} with the state as it was BEFORE
  -- (false, false when there was none); the caller derives the decision from it with the same arithmetic
  -- (src/limiter/bucket.ts), so the reply formats no number.
  local state = redis.call('HMGET', key, 't', 'u', 'x')
  local t, u, x = state[1], state[2], state[3]
  local capacity, rate, amount, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local tokens, at, stamp = capacity, now, ARGV[5]
  if t then
    tokens, at, stamp = tonumber(t), tonumber(u), u
  elseif op == 'refund' then
    return {1, false, false}
  end
  local current = tokens
  local elapsed = now - at
  if elapsed > 0 then
    current = tokens + elapsed * rate
    stamp = ARGV[5]
  end
  if not (current < capacity) then current = capacity end
  local left
  if op == 'take' then
    if not (amount <= current) then return {0, t, u} end
    left = current - amount
  else
    left = current + amount
    if not (left < capacity) then left = capacity end
  end
  if rate > 0 and capacity / rate < 1e12 then
    -- Numbers passed to redis.call are written with 17 significant digits: exact. The key must outlive the
    -- refill by KEEP_FULL_MS; its expiry is renewed only when that is no longer certain, to the time an empty
    -- bucket needs plus twice that: so at most about once per ${KEEP_FULL_MS} ms per key.
    if x and now + math.ceil((capacity - left) / rate) + ${KEEP_FULL_MS} <= tonumber(x) then
      redis.call('HSET', key, 't', left, 'u', stamp)
    else
      local ttl = math.ceil(capacity / rate) + ${2 * KEEP_FULL_MS}
      redis.call('HSET', key, 't', left, 'u', stamp, 'x', now + ttl)
      redis.call('PEXPIRE', key, ttl)
    end
  else
    -- Never (or practically never) refills: kept until it does.
    redis.call('HSET', key, 't', left, 'u', stamp)
    if x then
      redis.call('HDEL', key, 'x')
      redis.call('PERSIST', key)
    end
  end
  return {1, t, u}
end
-- A counter is a hash {w = whole, n = nanos, e = expiresAt}: fixed point, nanos in [0, 1e9), all integers a
-- double holds exactly. ARGV: two amounts as (whole, nanos) pairs, expiresAt, now. Reply: {applied, whole, nanos}.
local state = redis.call('HMGET', key, 'w', 'n', 'e')
local now = tonumber(ARGV[7])
local uw, un, expires = 0, 0, tonumber(ARGV[6])
if state[3] and tonumber(state[3]) > now then uw, un, expires = tonumber(state[1]), tonumber(state[2]), tonumber(state[3]) end
local function save(w, n)
  if expires > now and (w > 0 or n > 0) then
    redis.call('HSET', key, 'w', w, 'n', n, 'e', expires)
    redis.call('PEXPIRE', key, math.ceil(expires - now) + ${KEY_GRACE_MS})
  elseif state[3] then
    redis.call('DEL', key)
  end
  return {1, w, n}
end
local aw, an, bw, bn = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if op == 'reserve' then
  -- ARGV: limit (whole, nanos), amount (whole, nanos), expiresAt, now
  local sw, sn = uw + bw, un + bn
  if sn >= 1000000000 then sw, sn = sw + 1, sn - 1000000000 end
  if sw < aw or (sw == aw and sn <= an) then return save(sw, sn) end
  return {0, uw, un}
elseif op == 'settle' then
  -- ARGV: reserved (whole, nanos), actual (whole, nanos), expiresAt, now
  local tw, tn = uw + bw, un + bn
  if tn >= 1000000000 then tw, tn = tw + 1, tn - 1000000000 end
  local rw, rn = 0, 0
  if aw < tw or (aw == tw and an <= tn) then
    rw, rn = tw - aw, tn - an
    if rn < 0 then rw, rn = rw - 1, rn + 1000000000 end
  end
  return save(rw, rn)
end
return redis.error_reply('duh limiter: unknown operation ' .. tostring(op))
`;

/** The SHA-1 of the script, as Redis names it for EVALSHA (Web Crypto: no import, any runtime). */
async function scriptSha(): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return undefined;
  const digest = await subtle.digest('SHA-1', new TextEncoder().encode(REDIS_LIMITER_SCRIPT));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** What duh needs of the `ioredis` module it loads for `url`. */
interface IoRedisModule {
  default?: IoRedisConstructor | { default?: IoRedisConstructor; Redis?: IoRedisConstructor };
  Redis?: IoRedisConstructor;
}
type IoRedisConstructor = new (url: string, options: Record<string, unknown>) => OwnedClient;
interface OwnedClient extends RedisClientLike {
  status?: string;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith('NOSCRIPT');

function isModuleNotFound(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  }
  return false;
}

/** A URL fit for messages: the password replaced. */
const safeUrl = (url: string) => url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');

/**
 * A script reply: whether the operation was applied, and two numbers: for buckets the state before the
 * operation (tokens, updatedAt; `first` undefined when there was none), for counters the value after it (whole, nanos).
 */
interface Reply {
  applied: boolean;
  first: number | undefined;
  second: number;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/**
 * Create a Redis rate-limit store. Nothing connects until the first operation.
 *
 * @throws {InvalidOptionError} at once when the options are wrong (both or neither of `client` and `url` with
 *   no `REDIS_URL`, a client without `evalsha`/`eval`, a bad `prefix`, `failOpen`, `onError` or `timeoutMs`)
 * @throws {MissingDependencyError} on first use when duh must create the client and `ioredis` is not installed
 */
export function redisLimiter(options: RedisLimiterOptions = {}): RedisLimiter {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'redisLimiter() takes options such as { client } (an ioredis client) or { url: "redis://127.0.0.1:6379" }.');
  }
  const { client: givenClient, prefix = 'duh:', failOpen = false, onError, timeoutMs = 1000 } = options;
  if (givenClient !== undefined && options.url !== undefined) {
    throw new InvalidOptionError('client', givenClient, 'Pass either `client` or `url` to redisLimiter(), not both.');
  }
  if (givenClient !== undefined && (typeof givenClient !== 'object' || givenClient === null || typeof givenClient.evalsha !== 'function' || typeof givenClient.eval !== 'function')) {
    throw new InvalidOptionError('client', givenClient, 'The `client` option of redisLimiter() must be an ioredis client, or any object with evalsha() and eval() taking ioredis-style arguments.');
  }
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const url = givenClient === undefined ? (options.url ?? (env?.['REDIS_URL'] || undefined)) : undefined;
  if (givenClient === undefined && url === undefined) {
    throw new InvalidOptionError(
      'url',
      undefined,
      'redisLimiter() needs a `client` (an ioredis client) or a `url` such as "redis://127.0.0.1:6379", and the REDIS_URL environment variable is not set either.',
    );
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new InvalidOptionError('url', url, `The \`url\` option of redisLimiter() must be a redis:// or rediss:// URL (e.g. "redis://127.0.0.1:6379"); got ${JSON.stringify(url)}.`);
  }
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', prefix, "The `prefix` option of redisLimiter() must be a string such as 'myapp:duh:'.");
  if (typeof failOpen !== 'boolean') throw new InvalidOptionError('failOpen', failOpen, 'The `failOpen` option of redisLimiter() must be true or false.');
  if (onError !== undefined && typeof onError !== 'function') throw new InvalidOptionError('onError', onError, 'The `onError` option of redisLimiter() must be a function receiving the error.');
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new InvalidOptionError('timeoutMs', timeoutMs, 'The `timeoutMs` option of redisLimiter() must be a positive, finite number of milliseconds (e.g. 1000).');
  }
  const where = url !== undefined ? safeUrl(url) : 'the client you passed';

  let owned: OwnedClient | undefined;
  let clientPromise: Promise<RedisClientLike> | undefined;
  let closed = false;
  const getClient = (): Promise<RedisClientLike> | RedisClientLike => {
    if (givenClient !== undefined) return givenClient;
    return (clientPromise ??= (async () => {
      let module: IoRedisModule;
      try {
        module = (await import('ioredis')) as unknown as IoRedisModule;
      } catch (error) {
        if (isModuleNotFound(error)) throw new MissingDependencyError('ioredis', 'redisLimiter({ url })', 'pass your own client with the `client` option', { cause: error });
        throw error;
      }
      const inner = module.default as { default?: IoRedisConstructor; Redis?: IoRedisConstructor } | undefined;
      const Redis = (typeof module.default === 'function' ? module.default : undefined) ?? module.Redis ?? inner?.default ?? inner?.Redis;
      if (typeof Redis !== 'function') throw new MissingDependencyError('ioredis', 'redisLimiter({ url })', 'install ioredis 5 or 6 (its Redis class was not found)');
      if (closed) throw new LimiterUnavailableError(STORE_NAME, 'The store was closed; create a new redisLimiter().');
      const created = new Redis(url!, {
        maxRetriesPerRequest: 1,
        connectTimeout: Math.max(timeoutMs, 1000),
        enableAutoPipelining: true,
        // Shows in CLIENT LIST which app's limiter a connection is.
        connectionName: `duh-limiter${prefix ? `:${prefix.replace(/[^\w:.-]/g, '_')}` : ''}`.slice(0, 120),
      });
      // Failures reach callers through the operations; without a listener ioredis would print every reconnect error.
      created.on('error', () => {});
      owned = created;
      return created;
    })().catch((error: unknown) => {
      clientPromise = undefined; // a later call may retry (e.g. after installing ioredis)
      throw error;
    }));
  };

  let sha: string | undefined;
  let shaReady: Promise<void> | undefined;
  let sent = false;
  /**
   * One round trip: EVAL for the first operation (it loads the script) and when there is no Web Crypto to name
   * it; EVALSHA after that, falling back to EVAL on NOSCRIPT (a restarted or flushed server).
   */
  const run = async (key: string, args: (string | number)[]): Promise<unknown> => {
    const client = await getClient();
    if (!sent) {
      await (shaReady ??= scriptSha().then((value) => void (sha = value), () => undefined));
      sent = true;
      return client.eval(REDIS_LIMITER_SCRIPT, 1, key, ...args);
    }
    if (sha === undefined) return client.eval(REDIS_LIMITER_SCRIPT, 1, key, ...args);
    try {
      return await client.evalsha(sha, 1, key, ...args);
    } catch (error) {
      if (isNoScript(error)) return client.eval(REDIS_LIMITER_SCRIPT, 1, key, ...args);
      throw error;
    }
  };

  // Timeouts: one ticker for all operations in flight instead of a timer each (cheaper at high rates). An
  // operation fails once it has seen 5 ticks of timeoutMs / 4, i.e. after timeoutMs to 1.25 × timeoutMs.
  const inFlight = new Set<{ ticks: number; reject: (error: unknown) => void }>();
  let ticker: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    if (inFlight.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
      return;
    }
    for (const entry of inFlight) {
      if (++entry.ticks >= 5) {
        inFlight.delete(entry);
        entry.reject(new TimeoutError(timeoutMs));
      }
    }
  };
  const withTimeout = (promise: Promise<unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const entry = { ticks: 0, reject };
      inFlight.add(entry);
      if (ticker === undefined) {
        ticker = setInterval(tick, timeoutMs / 4);
        (ticker as { unref?: () => void }).unref?.();
      }
      promise.then(
        (value) => {
          inFlight.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          inFlight.delete(entry);
          reject(error);
        },
      );
    });

  let outage = false;
  /** Run the script; on failure throw (closed) or return `fallback(reason)` (open). */
  const call = async <T>(key: string, args: (string | number)[], fallback: (reason: string) => T): Promise<Reply | { degraded: T }> => {
    let reply: unknown;
    try {
      reply = await withTimeout(run(key, args));
    } catch (error) {
      if (MissingDependencyError.isInstance(error) || InvalidOptionError.isInstance(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      const unavailable = new LimiterUnavailableError(
        STORE_NAME,
        `Redis at ${where} did not serve the rate limiter (${reason}). Check that Redis is running and reachable, or pass failOpen: true to redisLimiter() to let requests through while it is down.`,
        { cause: error },
      );
      if (!failOpen) throw unavailable;
      if (onError) onError(unavailable);
      else if (!outage) console.warn(`duh: ${unavailable.message} Failing open: requests are not limited until Redis answers again.`);
      outage = true;
      return { degraded: fallback(`redis unavailable: ${reason}`) };
    }
    outage = false;
    const flag = Array.isArray(reply) && reply.length === 3 ? Number(reply[0]) : Number.NaN;
    if (flag !== 0 && flag !== 1) {
      throw new LimiterUnavailableError(STORE_NAME, `Redis answered the limiter script with ${JSON.stringify(reply)}; check that ${where} is a Redis 7.0+ server and that nothing rewrites EVAL replies.`);
    }
    const [, first, second] = reply as unknown[];
    return { applied: flag === 1, first: first == null || first === false ? undefined : Number(first), second: Number(second) };
  };

  /** The decision of a bucket operation, from the state the script saw before applying it (the same arithmetic as memory). */
  const bucketDecision = (reply: Reply, outcome: (state: BucketState | undefined) => BucketOutcome): LimitDecision => {
    const { decision } = outcome(reply.first === undefined ? undefined : { tokens: reply.first, updatedAt: reply.second });
    if (decision.allowed !== reply.applied) {
      throw new LimiterUnavailableError(STORE_NAME, `The limiter script and this process disagree on a decision (script ${reply.applied ? 'applied' : 'refused'} it); is another duh version with an incompatible key layout using the prefix ${JSON.stringify(prefix)}?`);
    }
    return decision;
  };

  const bucketKey = (key: string) => `${prefix}bucket:${key}`;
  const counterKey = (key: string) => `${prefix}counter:${key}`;

  return {
    specificationVersion: 'v1',
    name: STORE_NAME,
    prefix,
    async take(request: BucketRequest): Promise<LimitDecision> {
      checkBucketRequest(request);
      const { key, capacity, refillPerMs, cost, now } = request;
      const result = await call(bucketKey(key), ['take', String(capacity), String(refillPerMs), String(cost), String(now)], (degraded) => ({
        ...decide(true, Math.max(0, capacity - cost), now, capacity, refillPerMs, cost, now),
        degraded,
      }));
      if ('degraded' in result) return result.degraded;
      return bucketDecision(result, (state) => take(state, request));
    },
    async refund(request: RefundRequest): Promise<LimitDecision> {
      checkRefundRequest(request);
      const { key, capacity, refillPerMs, amount, now } = request;
      const result = await call(bucketKey(key), ['refund', String(capacity), String(refillPerMs), String(amount), String(now)], (degraded) => ({
        ...decide(true, capacity, now, capacity, refillPerMs, 0, now),
        degraded,
      }));
      if ('degraded' in result) return result.degraded;
      return bucketDecision(result, (state) => refund(state, request));
    },
    async reserve(request: CounterRequest): Promise<CounterDecision> {
      checkCounterRequest(request);
      const { key, limit, amount, expiresAt, now } = request;
      const [limitWhole, limitNanos] = toFixed(limit);
      const [amountWhole, amountNanos] = toFixed(amount);
      const result = await call(counterKey(key), ['reserve', limitWhole, limitNanos, amountWhole, amountNanos, String(expiresAt), String(now)], (degraded) => ({
        allowed: true,
        used: amount,
        limit,
        degraded,
      }));
      if ('degraded' in result) return result.degraded;
      return { allowed: result.applied, used: fromFixed(result.first ?? 0, result.second), limit };
    },
    async settle(request: SettleRequest): Promise<SettleResult> {
      checkSettleRequest(request);
      const { key, reserved, actual, expiresAt, now } = request;
      const [reservedWhole, reservedNanos] = toFixed(reserved);
      const [actualWhole, actualNanos] = toFixed(actual);
      const result = await call(counterKey(key), ['settle', reservedWhole, reservedNanos, actualWhole, actualNanos, String(expiresAt), String(now)], (degraded) => ({
        used: 0,
        degraded,
      }));
      if ('degraded' in result) return result.degraded;
      return { used: fromFixed(result.first ?? 0, result.second) };
    },
    async close(): Promise<void> {
      closed = true;
      clientPromise = undefined;
      const client = owned;
      owned = undefined;
      if (client === undefined) return;
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}

/**
 * Sign-in throttling: token buckets on password attempts, per account (tenant and email) and per client IP, in a
 * {@link RateLimitStore} (memory by default; Redis to share the counts between instances).
 *
 * Every attempt takes one token from each bucket that applies before the password is checked, so a flood of
 * guesses costs no scrypt work once a bucket is empty. A successful sign-in gives its tokens back: only failed
 * attempts wear a bucket down. A bucket refills continuously (`'10/15min'`: one attempt back every 90 s), so a
 * burst of failures costs an account minutes, never a manual unlock. An attacker who keeps guessing at one
 * account keeps its bucket empty and its owner waiting too: the price of any per-account limit (docs/identity.md).
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import { checkLimiter, type RateSpec } from '../governance.js';
import { bucketOf, parseRate, type RateLimitStore } from '../limiter.js';

/** How sign-ins are throttled. */
export interface SignInLimitOptions {
  /**
   * Password attempts per account (one email in one tenant), or `false` for none. Failed attempts count; a
   * successful sign-in gives its attempt back. @default '10/15min'
   */
  perAccount?: RateSpec | false;
  /**
   * Password attempts per client IP (`origin.ip`), across accounts and tenants, or `false` for none. Attempts
   * without an IP skip this bucket. @default '100/15min'
   */
  perIp?: RateSpec | false;
  /** Where attempts are counted. Pass `redisLimiter()` to share them between instances. @default memoryLimiter() */
  limiter?: RateLimitStore;
}

/** An attempt let through: `release()` gives its tokens back (after a successful sign-in). */
export interface SignInPass {
  release(): Promise<void>;
}

/** An attempt refused: which bucket is empty, and when it will hold an attempt again. */
export interface SignInRefusal {
  bucket: 'account' | 'ip';
  retryAfterMs: number;
}

/** Admits or refuses password attempts. */
export interface SignInGate {
  admit(attempt: { tenant: string; email: string; ip?: string | undefined }): Promise<SignInPass | SignInRefusal>;
}

const DEFAULTS = { perAccount: '10/15min', perIp: '100/15min' } as const;

const part = (text: string) => encodeURIComponent(text);

/**
 * The gate for `options` (`false`: none), drawing on `options.limiter` or on `defaultStore()`.
 * @throws {InvalidOptionError} for a bad rate or limiter, naming the option
 */
export function createSignInGate(
  options: SignInLimitOptions | false | undefined,
  clock: { now(): number },
  defaultStore: () => RateLimitStore,
): SignInGate | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionError('signInLimits', options, "The `signInLimits` option must be an object like { perAccount: '10/15min', perIp: '100/15min' }, or false.");
  }
  const unknown = Object.keys(options ?? {}).filter((key) => !['perAccount', 'perIp', 'limiter'].includes(key));
  if (unknown.length) {
    throw new InvalidOptionError(`signInLimits.${unknown[0]}`, (options as Record<string, unknown>)[unknown[0]!], 'The `signInLimits` option takes perAccount, perIp and limiter.');
  }
  const bucket = (name: 'perAccount' | 'perIp') => {
    const value = options?.[name] ?? DEFAULTS[name];
    return value === false ? undefined : bucketOf(parseRate(value, `signInLimits.${name}`));
  };
  const account = bucket('perAccount');
  const ip = bucket('perIp');
  if (!account && !ip) return undefined;
  const store = options?.limiter === undefined ? defaultStore() : checkLimiter('signInLimits.limiter', options.limiter);

  return {
    async admit({ tenant, email, ip: address }) {
      const now = clock.now();
      const draws: { bucket: SignInRefusal['bucket']; key: string; capacity: number; refillPerMs: number }[] = [];
      if (account) draws.push({ bucket: 'account', key: `signin:account:${part(tenant)}:${part(email)}`, ...account });
      if (ip && address) draws.push({ bucket: 'ip', key: `signin:ip:${part(address)}`, ...ip });
      const taken: typeof draws = [];
      const giveBack = () => Promise.all(taken.map(({ key, capacity, refillPerMs }) => store.refund({ key, capacity, refillPerMs, amount: 1, now: clock.now() }))).then(() => {});
      for (const draw of draws) {
        const decision = await store.take({ key: draw.key, capacity: draw.capacity, refillPerMs: draw.refillPerMs, cost: 1, now });
        if (!decision.allowed) {
          // All or nothing: an attempt refused by one bucket does not wear down the others.
          await giveBack();
          return { bucket: draw.bucket, retryAfterMs: decision.retryAfterMs };
        }
        taken.push(draw);
      }
      return { release: giveBack };
    },
  };
}

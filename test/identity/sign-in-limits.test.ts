// Sign-in throttling (duh/identity): password attempts per account and per client IP are token buckets checked
// before any lookup or scrypt work; a successful sign-in gives its attempt back; refusals are RateLimitedErrors
// with retryAfterMs and are audited at most once a minute per account or address; the counts can live in Redis,
// shared by several identity instances.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthenticationError, InvalidOptionError, RateLimitedError } from '../../src/errors.js';
import { createIdentity } from '../../src/identity/index.js';
import type { Principal } from '../../src/principal.js';
import type { StorageDriver } from '../../src/storage.js';
import { memoryLimiter } from '../../limiter/memory.js';
import { redisLimiter } from '../../limiter/redis.js';
import { memoryStorage } from '../../storage/memory.js';

const ADMIN: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
const T0 = Date.UTC(2026, 0, 1);
const JWT_SECRET = 'x'.repeat(48);
const REDIS_URL = process.env['DUH_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A memory storage that counts getUserByEmail calls (a throttled attempt must not reach it). */
function countingStorage() {
  const inner = memoryStorage();
  let lookups = 0;
  const storage: StorageDriver = { ...inner, getUserByEmail: (scope, email) => (lookups++, inner.getUserByEmail!(scope, email)) };
  return { storage, lookups: () => lookups };
}

function make(storage: StorageDriver, extra: Partial<Parameters<typeof createIdentity>[0]> = {}) {
  const clock = { time: T0, now: () => clock.time };
  const identity = createIdentity({ storage, clock, passwords: { cost: 1024 }, jwt: { secret: JWT_SECRET }, ...extra });
  return { identity, clock };
}

const attempt = (identity: ReturnType<typeof make>['identity'], email: string, password: string, ip?: string) =>
  identity.login({ tenant: 'acme', email, password }, ip ? { ip } : undefined).then(
    () => 'ok',
    (error: unknown) => error as Error,
  );

describe('sign-in throttling', () => {
  it('refuses an account after its failed attempts, before any lookup, until the bucket refills; audits the refusal once a minute', async () => {
    const { storage, lookups } = countingStorage();
    const { identity, clock } = make(storage, { signInLimits: { perAccount: '3/15min', perIp: false } });
    await identity.users.create({ email: 'alice@acme.test', password: 'correct horse' }, { principal: ADMIN });
    for (let i = 0; i < 3; i++) expect(AuthenticationError.isInstance(await attempt(identity, 'alice@acme.test', 'guess'))).toBe(true);
    const before = lookups();
    const refused = await attempt(identity, 'Alice@ACME.test', 'correct horse'); // the right password, and the email in other case
    expect(RateLimitedError.isInstance(refused), String(refused)).toBe(true);
    expect((refused as RateLimitedError).message).toBe('Too many sign-in attempts for this account; retry in 300 s.');
    expect((refused as RateLimitedError).retryAfterMs).toBe(300_000);
    expect(lookups(), 'a refused attempt reads nothing').toBe(before);
    await attempt(identity, 'alice@acme.test', 'guess');
    clock.time += 60_000;
    await attempt(identity, 'alice@acme.test', 'guess');
    const denials = (await storage.listAudit!({ tenant: 'acme' }, { limit: 100 })).filter((event) => event.outcome === 'deny');
    expect(denials.map((event) => [event.action, event.reason, event.details])).toEqual([
      ['auth:login', 'too many attempts (account)', { email: 'alice@acme.test' }],
      ['auth:login', 'too many attempts (account)', { email: 'alice@acme.test' }],
    ]);
    clock.time += 240_000; // 300 s after the bucket ran dry: one attempt back
    expect(await attempt(identity, 'alice@acme.test', 'correct horse')).toBe('ok');
    // Other accounts were never affected.
    await identity.users.create({ email: 'bob@acme.test', password: 'battery staple' }, { principal: ADMIN });
    expect(await attempt(identity, 'bob@acme.test', 'battery staple')).toBe('ok');
  });

  it('gives a successful sign-in its attempt back, so only failures wear an account down', async () => {
    const { identity } = make(memoryStorage(), { signInLimits: { perAccount: '2/15min' } });
    await identity.users.create({ email: 'carol@acme.test', password: 'correct horse' }, { principal: ADMIN });
    for (let i = 0; i < 6; i++) expect(await attempt(identity, 'carol@acme.test', 'correct horse', '192.0.2.1')).toBe('ok');
    expect(AuthenticationError.isInstance(await attempt(identity, 'carol@acme.test', 'guess'))).toBe(true);
    expect(await attempt(identity, 'carol@acme.test', 'correct horse')).toBe('ok');
    expect(AuthenticationError.isInstance(await attempt(identity, 'carol@acme.test', 'guess'))).toBe(true);
    // Two failures in all: the bucket (2) is empty, whatever the successes between them.
    expect(RateLimitedError.isInstance(await attempt(identity, 'carol@acme.test', 'correct horse'))).toBe(true);
  });

  it('limits attempts per client IP across accounts, and a refusal by one bucket does not wear down the other', async () => {
    const { identity } = make(memoryStorage(), { signInLimits: { perAccount: '1/15min', perIp: '1/15min' } });
    for (const email of ['dan@acme.test', 'eve@acme.test']) await identity.users.create({ email, password: 'correct horse' }, { principal: ADMIN });
    expect(AuthenticationError.isInstance(await attempt(identity, 'dan@acme.test', 'guess', '198.51.100.7'))).toBe(true);
    const refused = await attempt(identity, 'eve@acme.test', 'correct horse', '198.51.100.7');
    expect(RateLimitedError.isInstance(refused)).toBe(true);
    expect((refused as RateLimitedError).key).toBe('signin:ip');
    // 15 min for one attempt (the bucket arithmetic may round the wait up by a millisecond).
    expect((refused as RateLimitedError).message).toMatch(/^Too many sign-in attempts from this address; retry in 90[01] s\.$/);
    // eve's own bucket (capacity 1) was given back when the address refused her attempt.
    expect(await attempt(identity, 'eve@acme.test', 'correct horse', '203.0.113.9')).toBe('ok');
    // Attempts without an address draw on the account bucket only.
    expect(await attempt(identity, 'eve@acme.test', 'correct horse')).toBe('ok');
  });

  it('throttles with the defaults, and not at all with signInLimits: false', async () => {
    const throttled = make(memoryStorage());
    await throttled.identity.users.create({ email: 'fay@acme.test', password: 'correct horse' }, { principal: ADMIN });
    const results = [];
    for (let i = 0; i < 11; i++) results.push(await attempt(throttled.identity, 'fay@acme.test', 'guess'));
    expect(results.slice(0, 10).every((result) => AuthenticationError.isInstance(result))).toBe(true);
    expect(RateLimitedError.isInstance(results[10])).toBe(true);

    const open = make(memoryStorage(), { signInLimits: false });
    await open.identity.users.create({ email: 'fay@acme.test', password: 'correct horse' }, { principal: ADMIN });
    for (let i = 0; i < 15; i++) expect(AuthenticationError.isInstance(await attempt(open.identity, 'fay@acme.test', 'guess'))).toBe(true);
    expect(await attempt(open.identity, 'fay@acme.test', 'correct horse')).toBe('ok');
  });

  it('names the option and the fix for a bad setting', () => {
    const storage = memoryStorage();
    const problem = (signInLimits: unknown) => {
      try {
        createIdentity({ storage, signInLimits: signInLimits as never });
        return undefined;
      } catch (error) {
        return error as InvalidOptionError;
      }
    };
    expect(problem({ perAccount: 'ten a minute' })).toMatchObject({ option: 'signInLimits.perAccount' });
    expect(problem({ perIp: { limit: -1, windowMs: 1000 } })).toMatchObject({ option: 'signInLimits.perIp' });
    expect(problem({ limiter: {} })).toMatchObject({ option: 'signInLimits.limiter', message: expect.stringContaining('redisLimiter()') });
    expect(problem({ perAcount: '5/min' })).toMatchObject({ option: 'signInLimits.perAcount' });
    expect(problem('on')).toMatchObject({ option: 'signInLimits' });
    for (const error of [problem({ perAccount: 'ten a minute' }), problem('on')]) expect(InvalidOptionError.isInstance(error)).toBe(true);
  });

  describe('shared between instances', () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const prefix = `duh-test:${randomUUID()}:`;
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });

    for (const [name, limiter] of [
      ['one memoryLimiter', () => memoryLimiter()],
      ['redisLimiter on a real Redis', () => redisLimiter({ client: redis, prefix })],
    ] as const) {
      it(`counts attempts made through two identity instances together (${name})`, async () => {
        const shared = limiter();
        const storage = memoryStorage();
        const a = make(storage, { signInLimits: { perAccount: '4/15min', limiter: shared } });
        const b = make(storage, { signInLimits: { perAccount: '4/15min', limiter: shared } });
        // Both clocks share the real time here, so the Redis bucket sees one timeline.
        a.clock.time = b.clock.time = Date.now();
        await a.identity.users.create({ email: `gus-${name.length}@acme.test`, password: 'correct horse' }, { principal: ADMIN });
        const email = `gus-${name.length}@acme.test`;
        for (const identity of [a.identity, b.identity, a.identity, b.identity]) expect(AuthenticationError.isInstance(await attempt(identity, email, 'guess'))).toBe(true);
        expect(RateLimitedError.isInstance(await attempt(a.identity, email, 'correct horse'))).toBe(true);
        expect(RateLimitedError.isInstance(await attempt(b.identity, email, 'correct horse'))).toBe(true);
      });
    }
  });
});

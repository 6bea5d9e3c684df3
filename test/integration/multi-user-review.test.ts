// Regression tests from a review of the multi-user engine (admission, budgets, buckets, policy, records). Each test
// pins one bug the review found, now fixed; the comment above it says what was wrong and how it was fixed.
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, RateLimitedError } from '../../src/errors.js';
import type { ConsensusEvent } from '../../src/events.js';
import type { RateLimitStore } from '../../src/limiter.js';
import type { Policy } from '../../src/policy.js';
import { rbac } from '../../src/policy/rbac.js';
import type { Principal } from '../../src/principal.js';
import type { StorageDriver } from '../../src/storage.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { memoryLimiter } from '../../limiter/memory.js';
import { memoryStorage } from '../../storage/memory.js';
import { roleOf, tick, trio } from '../helpers.js';

const QUESTION = 'Should we shard by tenant or by region?';
const alice: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor'] };
const admin: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
const NOON = Date.UTC(2026, 10, 26, 12);
const DAY = 86_400_000;

/** Three cheap scripted models (as in multi-user.test.ts): opus $1, gpt $0.5, flash $0.1 per million tokens. */
const cheap = () => {
  const make = (ref: `${string}:${string}`, price: number) =>
    new MockAdapter({ ref, info: { inputPricePerMTok: price, outputPricePerMTok: price, maxOutputTokens: 1000 }, reply: 'A short answer.' });
  return { opus: make('anthropic:opus', 1), gpt: make('openai:gpt', 0.5), flash: make('google:flash', 0.1) };
};

/** Tokens left in a bucket, without taking any. */
const left = (store: ReturnType<typeof memoryLimiter>, key: string, limit: number, windowMs: number, now: number) =>
  store.tryTake({ key, capacity: limit, refillPerMs: limit / windowMs, cost: 0, now }).remaining;

/** What a budget counter holds, in micro-dollars, without changing it. */
const counter = async (store: RateLimitStore, key: string, now: number) =>
  (await store.reserve({ key, limit: Number.MAX_SAFE_INTEGER, amount: 0, expiresAt: now + 2 * DAY, now })).used;

/** A memory store that fails open (allowing stand-in decisions, nothing stored) for the operations `down` selects. */
function flakyStore(down: { reserve?: boolean; take?: (key: string) => boolean }) {
  const inner = memoryLimiter();
  const store: RateLimitStore = {
    specificationVersion: 'v1',
    name: 'flaky',
    take: async (request) =>
      down.take?.(request.key)
        ? { allowed: true, remaining: request.capacity, limit: request.capacity, resetAt: request.now, retryAfterMs: 0, degraded: 'store unreachable' }
        : inner.take(request),
    refund: (request) => inner.refund(request),
    reserve: async (request) => (down.reserve ? { allowed: true, used: 0, limit: request.limit, degraded: 'store unreachable' } : inner.reserve(request)),
    settle: (request) => inner.settle(request),
  };
  return { inner, store };
}

describe('admission: degradation', () => {
  // WAS A BUG (src/engine/admission.ts:345): the degrade path builds its cheapest cast from `context.models`, every model
  // of the engine, not from the models the policy allowed. filterModels() never narrows `context.models`, so a model
  // denied by `model:use` (here by the tenant allowlist) proposes, challenges and classifies once the budget is
  // tight. FIX: pass the allowed models (the verdicts of filterModels, e.g. return them with the context) to
  // `plan.cheapest`, run the cheap cast through filterModels/applyCredentials like the first one, and in
  // consensusPlan.cheapest do not fall back to `planConsensus(context).proposer` (which reads every model).
  it('never uses a model the policy denied when it degrades to the cheapest cast', async () => {
    const { opus, gpt, flash } = cheap();
    const policy = rbac({ modelsByTenant: { acme: ['anthropic:*', 'openai:*'] } });
    const duh = new Consensus({ models: [opus, gpt, flash], policy, rounds: 2, maxOutputTokens: 1000, budget: { perUser: { usd: 0.009, per: 'day' }, onExceed: 'degrade' } });
    // Today the run degrades to [flash, gpt, opus] (budget-degraded event) and flash proposes, challenges and
    // classifies. google:flash is not allowed for tenant acme: it must never be called (a refusal is fine).
    await duh.ask(QUESTION, { principal: alice }).catch(() => undefined);
    expect(flash.calls).toHaveLength(0);
  });

  // WAS A BUG (src/engine/admission.ts:345): same root cause for tenant keys. The cheapest cast is made of the shared
  // adapters, not of their withApiKey() copies, so once a tenant's run is degraded its calls go out on the
  // operator's shared provider keys (billed to the operator) instead of the tenant's own. FIX: build the degrade
  // options before applyCredentials (or apply `swap` to the cheap cast with `plan.map`), so every cast a run can
  // end up with is keyed.
  it("keeps the tenant's own provider keys when it degrades to the cheapest cast", async () => {
    const { opus, gpt, flash } = cheap();
    const credentials = async ({ tenant, provider }: { tenant: string; provider: string }) => (tenant === 'acme' ? { apiKey: `sk-acme-${provider}-0123456789` } : undefined);
    const duh = new Consensus({ models: [opus, gpt, flash], credentials, rounds: 2, maxOutputTokens: 1000, budget: { perUser: { usd: 0.009, per: 'day' }, onExceed: 'degrade' } });
    const events: ConsensusEvent[] = [];
    await duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) });
    expect(events.find((event) => event.type === 'budget-degraded')).toBeDefined();
    const calls = [...opus.calls, ...gpt.calls, ...flash.calls];
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((call) => call.apiKey === undefined)).toHaveLength(0);
  });
});

describe('admission: giving back what earlier steps took', () => {
  // WAS A BUG (src/engine/admission.ts:334-369): docs/rate-limiting.md ("Order of admission") promises that "a refusal at
  // any step stores nothing, calls no model and gives back what earlier steps took", but the request tokens taken
  // at step 5 are kept when the budget (step 6) refuses the run, or when the budget store fails. A user whose
  // budget is spent burns their request quota on runs that never ran, and is then rate limited when the budget
  // resets. FIX: keep the `Taken[]` of the request buckets and `refundAll` them when reserveAll refuses or throws.
  // (test/integration/budget-concurrency.test.ts counts refused runs against the request bucket and would need the
  // same change; or, if that behaviour is wanted, correct the docs instead.)
  it('gives the request token back when the budget refuses the run', async () => {
    const clock = new ManualClock({ start: NOON });
    let usd = 0.000001;
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, clock, limits: { perUser: { requests: '1/hour' }, maxWaitMs: 0 }, budget: { perUser: () => ({ usd, per: 'day' }) } });
    await expect(duh.ask(QUESTION, { principal: alice })).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' });
    usd = 100; // the budget is raised (or the day turns over): the user has not run anything yet this hour
    await expect(duh.ask(QUESTION, { principal: alice })).resolves.toMatchObject({ decision: expect.any(String) });
  });
});

describe('admission: stores that failed open', () => {
  // WAS A BUG (src/engine/admission.ts:271-283 and 289-297): when the store fails open, `reserve` answers an allowing
  // stand-in (`degraded`) and stores nothing, but the reservation is still settled later with
  // `used += actual - reserved`. When the store is back by then (a Redis blip), the settle subtracts a worst case
  // that was never added, erasing other runs' reservations and spend from the counter: the budget is minted. The
  // same happens to the rollback settle of the first budget when the second refuses. FIX: remember `degraded` per
  // reservation and settle such a budget with `reserved: 0` (record the real spend) or not at all.
  it('does not erase other spending when a failed-open reservation is settled', async () => {
    const clock = new ManualClock({ start: NOON });
    const { inner, store } = flakyStore({ reserve: true });
    const key = 'budget:tenant:acme:day:2026-11-26';
    // Other runs of the tenant have $0.50 reserved or spent today.
    await inner.reserve({ key, limit: 1_000_000, amount: 500_000, expiresAt: NOON + DAY, now: NOON });
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, maxOutputTokens: 2000, clock, limiter: store, budget: { perTenant: { usd: 1, per: 'day' } } });
    await duh.ask(QUESTION, { principal: alice });
    // The counter may only have grown (by the run's spend, or not at all); today it drops to about $0.29.
    expect(await counter(inner, key, clock.now())).toBeGreaterThanOrEqual(500_000);
  });

  // WAS A BUG (src/engine/admission.ts:216 and 464-468): a take that failed open (`degraded`) took nothing, but meterCall's
  // ticket still refunds `estimate - used` to that bucket after the call, and takeAll refunds it on a later
  // refusal. With the store back, the refund adds tokens that were never taken: refunds mint tokens (docs say
  // "refunds never mint tokens"). FIX: carry `degraded` into `Taken` and leave such buckets out of `refundAll`
  // and of the ticket's `tokenBuckets`.
  it('does not refund tokens to a bucket whose take failed open', async () => {
    const clock = new ManualClock({ start: NOON });
    const { inner, store } = flakyStore({ take: (key) => key === 'tenant:acme:tokens' });
    const limit = 1_000_000;
    // The tenant has used 900k of its 1m tokens today.
    await inner.take({ key: 'tenant:acme:tokens', capacity: limit, refillPerMs: limit / DAY, cost: 900_000, now: NOON });
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, maxOutputTokens: 5000, clock, limiter: store, limits: { perTenant: { tokens: '1m/day' } } });
    await duh.ask(QUESTION, { principal: alice });
    await tick();
    // Nothing was taken from the bucket during the run (it failed open), so nothing may come back either.
    expect(left(inner, 'tenant:acme:tokens', limit, DAY, clock.now())).toBeLessThanOrEqual(100_000);
  });
});

describe('metering: calls that use more than their estimate', () => {
  // WAS A BUG (src/engine/admission.ts:469-475): when a call used more tokens than it took, the difference is drawn with
  // one `store.take` of the whole difference. A take is all or nothing, so when the bucket holds less than the
  // difference nothing at all is drawn: the overage is forgiven exactly when the bucket is nearly empty, and the
  // bucket never "runs dry" as docs/rate-limiting.md says. FIX: draw what is there (probe with cost 0 and take
  // `min(difference, remaining)`, or add a debit operation to the store contract that may go to 0 or below).
  it('drains the bucket when a call used more tokens than the bucket has left', async () => {
    const clock = new ManualClock({ start: NOON });
    const store = memoryLimiter();
    const limit = 100_000;
    await store.take({ key: 'tenant:acme:tokens', capacity: limit, refillPerMs: limit / DAY, cost: 80_000, now: NOON });
    const proposer = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: { inputPricePerMTok: 5, outputPricePerMTok: 25, maxOutputTokens: 128_000 },
      // The provider reports 30k input tokens for the proposal: far more than the ~1.2k estimated.
      reply: (_request, context) => (roleOf(context) === 'propose' ? { text: 'Use Postgres.', usage: { inputTokens: 30_000 } } : 'Use Postgres with RLS.'),
    });
    const { challengerA, challengerB } = trio();
    const duh = new Consensus({ models: [proposer, challengerA, challengerB], rounds: 1, classify: false, maxOutputTokens: 1000, clock, limiter: store, limits: { perTenant: { tokens: '100k/day' }, maxWaitMs: 0 } });
    await duh.ask(QUESTION, { principal: alice }).catch(() => undefined);
    await tick();
    // 20k were left and the proposal alone used over 30k: the bucket must be empty.
    expect(left(store, 'tenant:acme:tokens', limit, DAY, clock.now())).toBeLessThan(1000);
  });
});

describe('metering inside callMember', () => {
  // WAS A BUG (src/engine/call-member.ts:94-98): the circuit breaker is asked (`acquire`) before meterCall, which may
  // wait up to `limits.maxWaitMs` (30 s by default) for a bucket. A call that queued goes to its model even when
  // the circuit opened during the wait, so the fallback does not answer and the run pays the dead provider's
  // timeout; a half-open probe slot acquired before the wait is held for the whole wait (every other caller gets
  // circuit-open meanwhile), and a RateLimitedError then `release`s a probe slot this caller may not own. FIX: meter
  // first, then acquire; when the circuit is open after metering, `ticket.settle(undefined)` and fail over as now.
  it('does not call a model whose circuit opened while the call queued for its bucket', async () => {
    const clock = new ManualClock({ start: NOON, autoAdvance: true });
    const { challengerA, challengerB } = trio();
    const down = new MockAdapter({ ref: 'anthropic:down', info: { inputPricePerMTok: 5, outputPricePerMTok: 30, maxOutputTokens: 1000 }, reply: { serverError: { status: 503 } } });
    const backup = new MockAdapter({ ref: 'mistral:backup', info: { inputPricePerMTok: 1, outputPricePerMTok: 2, maxOutputTokens: 1000 }, reply: 'Backup proposal.' });
    const duh = new Consensus({
      models: [down, challengerA, challengerB],
      fallbacks: { 'anthropic:down': [backup] },
      rounds: 1,
      classify: false,
      maxOutputTokens: 1000,
      clock,
      retry: { maxRetries: 0 },
      circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 },
      limits: { perModel: { anthropic: { requests: '1/10s' } }, maxWaitMs: 60_000 },
    });
    // Two runs at once: one calls the model (503, the circuit opens), the other queues 10 s for the request bucket.
    const runs = await Promise.allSettled([duh.ask(QUESTION, { principal: alice }), duh.ask(QUESTION, { principal: { ...alice, id: 'bob' } })]);
    expect(runs.map((run) => run.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(duh.circuits[0]).toMatchObject({ model: 'anthropic:down', state: 'open' });
    // The queued call came out of its wait with the circuit open: its fallback should have answered.
    expect(down.calls).toHaveLength(1);
  });

  // WAS A BUG (src/engine/call-member.ts:106-111): a RateLimitedError from meterCall ends the whole model chain at once,
  // fallbacks included. For duh's own per-provider/per-model buckets (`limits.perModel`, documented as "your
  // account's provider rate limits") that is exactly when the fallback, which draws on other buckets, should answer:
  // a provider 429 does fall back, duh's mirror of it does not, and a proposer refused this way fails the run
  // although its fallback is free. FIX: when the refusing bucket is a `model:` bucket of this link, record the
  // failure and continue with `chain[link + 1]` (user and tenant buckets can keep failing the chain at once).
  it("falls back when duh's per-model bucket refuses the primary model", async () => {
    const { challengerA, challengerB } = trio();
    const primary = new MockAdapter({ ref: 'anthropic:primary', info: { inputPricePerMTok: 5, outputPricePerMTok: 30, maxOutputTokens: 1000 }, reply: 'Primary proposal.' });
    const backup = new MockAdapter({ ref: 'mistral:backup', info: { inputPricePerMTok: 1, outputPricePerMTok: 2, maxOutputTokens: 1000 }, reply: 'Backup proposal.' });
    const duh = new Consensus({
      models: [primary, challengerA, challengerB],
      fallbacks: { 'anthropic:primary': [backup] },
      rounds: 1,
      classify: false,
      maxOutputTokens: 1000,
      limits: { perModel: { anthropic: { requests: '2/day' } }, maxWaitMs: 0 },
    });
    await duh.ask(QUESTION, { principal: alice }); // proposal and revision: the bucket is empty now
    const result = await duh.ask(QUESTION, { principal: alice });
    expect(result.rounds[0]!.proposal.model).toBe('mistral:backup');
  });
});

describe('bucket and budget keys', () => {
  // WAS A BUG (src/engine/admission.ts:221, used at 251, 332 and 459): user keys are `${tenant}:${id}` with no escaping,
  // so user `eu:alice` of tenant `acme` and user `alice` of tenant `acme:eu` share one request bucket, one token
  // bucket and one budget counter: one tenant can exhaust another tenant's user (and read its usage in
  // BudgetExceededError figures). Principal ids such as `urn:...` or `google-oauth2|...`-style ids with colons are
  // common. FIX: encode each component (encodeURIComponent, or a length prefix) in every bucket and budget key.
  it("keeps one tenant's user buckets apart from another tenant's", async () => {
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, limits: { perUser: { requests: '1/hour' }, maxWaitMs: 0 } });
    await duh.ask(QUESTION, { principal: { id: 'eu:alice', tenant: 'acme', roles: [] } });
    const other = await duh.ask(QUESTION, { principal: { id: 'alice', tenant: 'acme:eu', roles: [] } }).catch((error: unknown) => error);
    expect(RateLimitedError.isInstance(other)).toBe(false);
  });
});

describe('option validation', () => {
  // WAS A BUG (src/governance.ts:135 with src/engine/admission.ts:266-269, and the same wrapping at 173-175): budgets are
  // reserved in micro-dollars, and the store accepts amounts up to Number.MAX_SAFE_INTEGER, so any `usd` above about
  // $9.0e9 is accepted by the constructor but makes every run fail. The store rejects the request with an
  // InvalidOptionError, which admission rewraps as LimiterUnavailableError ("The budget store failed ... let runs
  // through with failOpen"), pointing the operator at Redis. "Unlimited" plans written as
  // `{ usd: Number.MAX_SAFE_INTEGER }` (Infinity is refused) hit it. FIX: refuse `usd > MAX_SAFE_INTEGER / 1e6` in
  // budgetWindow() with a message naming the option (or clamp the limit), and let InvalidOptionError from the
  // store through `take`/`reserveAll` unwrapped.
  it('either refuses an over-large budget at construction or runs with it', async () => {
    const { models } = trio();
    let duh: Consensus;
    try {
      duh = new Consensus({ models, rounds: 1, budget: { perTenant: { usd: Number.MAX_SAFE_INTEGER, per: 'month' } } });
    } catch (error) {
      expect(InvalidOptionError.isInstance(error)).toBe(true);
      return;
    }
    await expect(duh.ask(QUESTION, { principal: alice })).resolves.toMatchObject({ decision: expect.any(String) });
  });

  // WAS A BUG (src/governance.ts:157-206): resolveGovernance checks unknown keys inside a bucket (`buckets()`) but not in
  // `limits` or `budget` themselves, so `budget: { usd: 5, per: 'day' }` (a window passed where the per-subject map
  // goes), `budget: { perUsers: ... }` or `limits: { requests: '60/min' }` are accepted and the engine runs with no
  // budget or limit at all, silently. FIX: reject keys other than perUser/perTenant/perModel/maxWaitMs and
  // perUser/perTenant/onExceed with InvalidOptionError naming the key (and, for `budget.usd`/`budget.per`, say to
  // put the window under perUser or perTenant).
  it('refuses unknown keys in `limits` and `budget` instead of running unlimited', () => {
    const { models } = trio();
    expect(() => new Consensus({ models, budget: { usd: 5, per: 'day' } as never })).toThrow(InvalidOptionError);
    expect(() => new Consensus({ models, limits: { requests: '60/min' } as never })).toThrow(InvalidOptionError);
  });
});

describe('rbac() model allowlists', () => {
  // WAS A BUG (src/policy/rbac.ts:188-191): the allowlist check looks at every role the principal holds, and a role that
  // is not listed in `modelsByRole` means "every model". So a contributor restricted to `openai:*` who also holds
  // `viewer` (or any read-only custom role such as `auditor`) may use every model: a role that does not even grant
  // `model:use` lifts the restriction of the role that does. FIX: only consider the held roles that grant
  // `model:use` (`grants.can.has('model:use')`, or canOwn when own), e.g.
  // `const users = held.filter((role) => roles.get(role)!.can.has('model:use'))`.
  it('does not let a read-only role lift the model allowlist of the role that may ask', () => {
    const policy = rbac({ modelsByRole: { contributor: ['openai:*'] } });
    const principal: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor', 'viewer'] };
    const decision = policy(principal, 'model:use', { type: 'model', tenant: 'acme', id: 'anthropic:claude-opus-4-6', models: ['anthropic:claude-opus-4-6'] });
    expect(decision).toMatchObject({ allow: false });
  });
});

describe('records', () => {
  // WAS A BUG (src/records.ts:239-248): sweep() lists the stale `active` threads, then marks each with an unconditional
  // finishThread(). A run that completes in between (its thread was stale because its round was long) is
  // overwritten from `complete` to `failed` with an "Interrupted" error, although it finished fine. With many
  // stale threads (one awaited write each) the window is wide. FIX: re-read each thread right before marking it
  // and skip it unless it is still `active` with the same `updatedAt`; better, give finishThread a condition
  // (`onlyIf: { status: 'active', updatedAt }`) so the check and the write are one atomic step in every driver.
  it('does not mark failed a thread that completed while the sweep ran', async () => {
    const inner = memoryStorage();
    const clock = new ManualClock({ start: NOON });
    const id = '01a00000-0000-7000-8000-00000000000a';
    let finishedMeanwhile = false;
    const storage: StorageDriver = {
      ...inner,
      listThreads: async (scope, query) => {
        const page = await inner.listThreads(scope, query);
        if (query.status === 'active' && !finishedMeanwhile) {
          // The live run commits its last round and closes its thread right after the sweep's listing.
          finishedMeanwhile = true;
          await inner.finishThread(scope, id, { status: 'complete', at: new Date(clock.now()).toISOString() });
        }
        return page;
      },
    };
    const duh = new Consensus({ models: trio().models, storage, clock, policy: rbac(), rounds: 1 });
    await inner.createThread({ tenant: 'acme' }, { id, question: 'A long run', protocol: 'consensus', userId: 'alice', createdAt: new Date(clock.now()).toISOString() });
    await clock.advance(2 * 3_600_000);
    await duh.threads.sweep({ principal: admin, olderThanMs: 3_600_000 });
    expect((await inner.getThread({ tenant: 'acme' }, id))?.status).toBe('complete');
  });

  // The window the re-read leaves (a run finishing between the sweep's read and its write) is closed by the
  // drivers' failIdleThread, a compare-and-set on status and updatedAt.
  it('does not mark failed a thread that finished, or wrote a phase, right before the sweep marks it (failIdleThread)', async () => {
    for (const meanwhile of ['finish', 'phase'] as const) {
      const inner = memoryStorage();
      const clock = new ManualClock({ start: NOON });
      const id = '01a00000-0000-7000-8000-00000000000b';
      const calls: boolean[] = [];
      const storage: StorageDriver = {
        ...inner,
        failIdleThread: async (scope, threadId, outcome) => {
          const at = new Date(clock.now()).toISOString();
          if (meanwhile === 'finish') await inner.finishThread(scope, threadId, { status: 'complete', at });
          else await inner.appendPhase!(scope, threadId, { roundNumber: 1, state: 'PROPOSE', contributions: [], decision: null, at });
          const marked = await inner.failIdleThread!(scope, threadId, outcome);
          calls.push(marked);
          return marked;
        },
      };
      const duh = new Consensus({ models: trio().models, storage, clock, policy: rbac(), rounds: 1 });
      await inner.createThread({ tenant: 'acme' }, { id, question: 'A long run', protocol: 'consensus', userId: 'alice', createdAt: new Date(clock.now()).toISOString() });
      await clock.advance(2 * 3_600_000);
      expect(await duh.threads.sweep({ principal: admin, olderThanMs: 3_600_000 }), meanwhile).toEqual([]);
      expect(calls, meanwhile).toEqual([false]);
      expect((await inner.getThread({ tenant: 'acme' }, id))?.status, meanwhile).toBe(meanwhile === 'finish' ? 'complete' : 'active');
    }
  });

  // WAS A BUG (src/records.ts:343-348): the `backup:read` audit entry is written only after the consumer has read the
  // whole backup. A consumer that stops early (`break`, a closed HTTP response, an error in its loop) has read
  // threads, yet leaves no trace in the audit log, which docs/policy.md says records "every export and backup".
  // FIX: write the entry once the policy allowed it (before the first line), or in a `finally` with the number of
  // threads read.
  it('audits a backup that was read only in part', async () => {
    const storage = memoryStorage();
    const duh = new Consensus({ models: trio().models, storage, policy: rbac(), rounds: 1 });
    await duh.ask(QUESTION, { principal: alice });
    await duh.ask(`${QUESTION} (again)`, { principal: alice });
    const lines: string[] = [];
    for await (const line of duh.backup({ principal: admin })) {
      lines.push(line);
      if (lines.length === 2) break; // the header and the first thread
    }
    expect(lines[1]).toContain(QUESTION);
    await duh.flush();
    const entries = await storage.listAudit!({ tenant: 'acme' }, { limit: 100 });
    expect(entries.map((entry) => entry.action)).toContain('backup:read');
  });

  // WAS A BUG (src/records.ts:292-303): feedback() asks only `thread:feedback` and then returns the whole stored thread
  // (question, every contribution, the decision). A principal allowed to rate decisions but not to read threads
  // (a feedback bot, a custom role) reads them through it: a record read without `thread:read`. FIX: return the
  // thread only after `thread:read` is also allowed (or return just the saved outcome).
  it('does not hand the thread to a principal that may give feedback but not read it', async () => {
    const policy: Policy = (principal, action) => principal.id !== 'rater' || action === 'thread:feedback';
    const duh = new Consensus({ models: trio().models, policy, rounds: 1 });
    const { threadId, decision } = await duh.ask(QUESTION, { principal: alice });
    const rater: Principal = { id: 'rater', tenant: 'acme', roles: ['feedback-bot'] };
    await expect(duh.threads.get(threadId, { principal: rater })).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    const answer = await duh.feedback(threadId, 'success', { principal: rater }).catch((error: unknown) => error);
    expect(JSON.stringify(answer)).not.toContain(decision);
  });
});

// Principals, the policy at each of its points, request/token buckets, budgets (reserve → settle, refuse, degrade),
// tenant keys and the audit trail, through the engine on scripted models.
import { describe, expect, it } from 'vitest';
import type { ModelAdapter } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { BudgetExceededError, LimiterUnavailableError, PolicyDeniedError, ProviderError, RateLimitedError } from '../../src/errors.js';
import type { ConsensusEvent } from '../../src/events.js';
import type { Policy } from '../../src/policy.js';
import { rbac } from '../../src/policy/rbac.js';
import type { Principal } from '../../src/principal.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { memoryLimiter } from '../../limiter/memory.js';
import { redisLimiter } from '../../limiter/redis.js';
import { memoryStorage } from '../../storage/memory.js';
import { collect, trio } from '../helpers.js';

const QUESTION = 'Should we shard by tenant or by region?';
const alice: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor'] };
const bob: Principal = { id: 'bob', tenant: 'acme', roles: ['contributor'] };
const vera: Principal = { id: 'vera', tenant: 'acme', roles: ['viewer'] };
const admin: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
const mallory: Principal = { id: 'mallory', tenant: 'globex', roles: ['admin'] };

async function auditOf(storage: ReturnType<typeof memoryStorage>, tenant = 'acme') {
  return storage.listAudit!({ tenant }, { limit: 1000 });
}

describe('policy at each point', () => {
  it('run:start: a viewer cannot ask; nothing is stored or called, the refusal is audited', async () => {
    const { models, proposer } = trio();
    const storage = memoryStorage();
    const duh = new Consensus({ models, storage, policy: rbac(), rounds: 1 });
    const error = await duh.ask(QUESTION, { principal: vera, origin: { ip: '203.0.113.9', userAgent: 'test' } }).catch((caught: unknown) => caught);
    expect(PolicyDeniedError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ action: 'run:start', reason: '`run:start` needs one of the roles contributor, admin; `vera` has viewer' });
    expect(proposer.calls).toHaveLength(0);
    expect((await duh.threads.list({ principal: admin })).total).toBe(0);
    await duh.flush();
    const [entry] = await auditOf(storage);
    expect(entry).toMatchObject({ actor: 'vera', action: 'run:start', outcome: 'deny', ip: '203.0.113.9', userAgent: 'test' });
  });

  it('run:start: a stream reports the denial as its only event', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, policy: rbac(), rounds: 1 });
    const stream = duh.stream(QUESTION, { principal: vera });
    const events = await collect(stream);
    expect(events.map((event) => event.type)).toEqual(['error']);
    expect(events[0]).toMatchObject({ error: { code: 'POLICY_DENIED', name: 'PolicyDeniedError' } });
    await expect(stream.result).rejects.toThrow(PolicyDeniedError);
  });

  it('model:use: a denied model is replaced by an allowed one', async () => {
    const { models, proposer, challengerA } = trio();
    const policy = rbac({ modelsByRole: { contributor: ['openai:*', 'google:*'] } });
    const duh = new Consensus({ models, policy, rounds: 1 });
    const result = await duh.ask(QUESTION, { principal: alice });
    expect(proposer.calls).toHaveLength(0);
    expect(result.rounds[0]!.proposal.model).toBe('openai:gpt-5.2');
    expect(challengerA.calls.length).toBeGreaterThan(0);
  });

  it('model:use: an explicitly requested model that is denied fails the run with the reason', async () => {
    const { models } = trio();
    const policy = rbac({ modelsByTenant: { acme: ['openai:*', 'google:*'] } });
    const duh = new Consensus({ models, policy, rounds: 1 });
    await expect(duh.ask(QUESTION, { principal: alice, proposer: 'anthropic:claude-opus-4-6' })).rejects.toMatchObject({
      code: 'POLICY_DENIED',
      action: 'model:use',
      resource: 'model:anthropic:claude-opus-4-6',
      reason: 'tenant `acme` may not use model `anthropic:claude-opus-4-6`',
    });
  });

  it('model:use: when no allowed model can propose, the run is refused', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, policy: rbac({ modelsByRole: { contributor: ['mistral:*'] } }), rounds: 1 });
    await expect(duh.ask(QUESTION, { principal: alice })).rejects.toThrow(/no allowed model can take its place/);
  });

  it('budget:reserve: the policy sees the worst case and may refuse it', async () => {
    const { models, proposer } = trio();
    const seen: number[] = [];
    const policy: Policy = (principal, action, resource) => {
      if (action !== 'budget:reserve') return true;
      seen.push(resource.usd!);
      return { allow: false, reason: `runs over $0.10 need approval (this one may cost $${resource.usd!.toFixed(2)})` };
    };
    const duh = new Consensus({ models, policy, rounds: 2 });
    await expect(duh.ask(QUESTION, { principal: alice })).rejects.toMatchObject({ action: 'budget:reserve' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(0.1);
    expect(proposer.calls).toHaveLength(0);
  });

  it('records: reads, feedback, deletes and exports ask the policy with the thread owner', async () => {
    const { models } = trio();
    const storage = memoryStorage();
    const duh = new Consensus({ models, storage, policy: rbac(), rounds: 1 });
    const { threadId } = await duh.ask(QUESTION, { principal: alice });
    // Viewers read; contributors change only their own threads; admins change anyone's.
    await expect(duh.threads.get(threadId, { principal: vera })).resolves.toMatchObject({ id: threadId, userId: 'alice' });
    await expect(duh.export(threadId, { principal: vera, format: 'json' })).resolves.toContain(threadId);
    await expect(duh.feedback(threadId, 'success', { principal: vera })).rejects.toMatchObject({ action: 'thread:feedback' });
    await expect(duh.threads.delete(threadId, { principal: bob })).rejects.toMatchObject({ action: 'thread:delete', reason: expect.stringContaining('own records only') });
    await expect(duh.feedback(threadId, 'success', { principal: alice })).resolves.toMatchObject({ outcome: { result: 'success' } });
    await expect(duh.backup({ principal: alice })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ action: 'backup:read' });
    await expect(duh.restore('', { principal: alice })).rejects.toBeDefined();
    await duh.threads.delete(threadId, { principal: admin });
    await expect(duh.threads.get(threadId, { principal: admin })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await duh.flush();
    const entries = (await auditOf(storage)).map((entry) => `${entry.actor} ${entry.action} ${entry.outcome}`);
    expect(entries).toEqual([
      'alice run:start allow',
      'alice run:end success',
      'vera thread:export success',
      'vera thread:feedback deny',
      'bob thread:delete deny',
      'alice thread:feedback success',
      'alice backup:read deny',
      'root thread:delete success',
    ]);
  });

  it('records: another tenant sees nothing, even as admin', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, policy: rbac(), rounds: 1 });
    const { threadId } = await duh.ask(QUESTION, { principal: alice });
    await expect(duh.threads.get(threadId, { principal: mallory })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await duh.threads.list({ principal: mallory })).total).toBe(0);
    expect(await duh.recall('shard', { principal: mallory })).toEqual([]);
    expect(await duh.cost({ principal: mallory })).toEqual([]);
  });
});

describe('threads.sweep()', () => {
  it("marks the tenant's abandoned active threads failed, for admins only, and leaves other tenants alone", async () => {
    const storage = memoryStorage();
    const clock = new ManualClock({ start: Date.UTC(2026, 10, 26, 12) });
    const duh = new Consensus({ models: trio().models, storage, clock, policy: rbac(), rounds: 1 });
    const at = new Date(clock.now()).toISOString();
    await storage.createThread({ tenant: 'acme' }, { id: '01a00000-0000-7000-8000-000000000001', question: 'Abandoned?', protocol: 'consensus', userId: 'alice', createdAt: at });
    await storage.createThread({ tenant: 'globex' }, { id: '01a00000-0000-7000-8000-000000000002', question: 'Theirs', protocol: 'consensus', userId: 'gina', createdAt: at });
    clock.advance(30 * 60_000);
    await storage.createThread({ tenant: 'acme' }, { id: '01a00000-0000-7000-8000-000000000003', question: 'Recent', protocol: 'consensus', userId: 'alice', createdAt: new Date(clock.now()).toISOString() });
    clock.advance(60 * 60_000);
    await expect(duh.threads.sweep({ principal: alice, olderThanMs: 3_600_000 })).rejects.toMatchObject({ action: 'thread:sweep' });
    await expect(duh.threads.sweep({ principal: admin, olderThanMs: 500 })).rejects.toThrow('The `olderThanMs` option must be an integer between 1000');
    await expect(duh.threads.sweep({ principal: admin } as never)).rejects.toThrow('threads.sweep() needs `{ olderThanMs }`');
    expect(await duh.threads.sweep({ principal: admin, olderThanMs: 3_600_000 })).toEqual(['01a00000-0000-7000-8000-000000000001']);
    expect(await storage.getThread({ tenant: 'acme' }, '01a00000-0000-7000-8000-000000000001')).toMatchObject({ status: 'failed', error: expect.stringContaining('no progress for over 60 min') });
    expect((await storage.getThread({ tenant: 'acme' }, '01a00000-0000-7000-8000-000000000003'))?.status).toBe('active');
    expect((await storage.getThread({ tenant: 'globex' }, '01a00000-0000-7000-8000-000000000002'))?.status).toBe('active');
  });
});

describe('rate limits', () => {
  it('refuses the run past the per-user request bucket when it may not wait', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, limits: { perUser: { requests: '2/min' }, maxWaitMs: 0 } });
    await duh.ask(QUESTION, { principal: alice });
    await duh.ask(QUESTION, { principal: alice });
    const error = await duh.ask(QUESTION, { principal: alice }).catch((caught: unknown) => caught);
    expect(RateLimitedError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ key: 'user:acme:alice:requests' });
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(29_000);
    // Another user has a bucket of their own.
    await expect(duh.ask(QUESTION, { principal: bob })).resolves.toBeDefined();
  });

  it('queues for the bucket instead of failing, and says so', async () => {
    const clock = new ManualClock({ start: Date.UTC(2026, 10, 26), autoAdvance: true });
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, clock, limits: { perTenant: { requests: '1/min' }, maxWaitMs: 120_000 } });
    await duh.ask(QUESTION, { principal: alice });
    const events: ConsensusEvent[] = [];
    const start = clock.now();
    await duh.ask(QUESTION, { principal: bob, onEvent: (event) => events.push(event) });
    expect(events[0]).toMatchObject({ type: 'rate-limit-wait', bucket: 'tenant:acme:requests', waitMs: 60_000 });
    expect(events[1]?.type).toBe('run-start');
    expect(clock.now() - start).toBeGreaterThanOrEqual(60_000);
  });

  it('meters model tokens per tenant and gives back what a call did not use', async () => {
    const store = memoryLimiter();
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, maxOutputTokens: 1000, limiter: store, limits: { perTenant: { tokens: '1m/day' } } });
    const result = await duh.ask(QUESTION, { principal: alice });
    const used = result.usage.inputTokens + result.usage.outputTokens;
    // Refunds run in the background after each call: let them land.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const left = store.tryTake({ key: 'tenant:acme:tokens', capacity: 1_000_000, refillPerMs: 1_000_000 / 86_400_000, cost: 0, now: Date.now() });
    expect(1_000_000 - left.remaining).toBeGreaterThanOrEqual(used);
    expect(1_000_000 - left.remaining).toBeLessThan(used + 50);
  });

  it('fails a call that can never fit its token bucket with a clear message', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1, limits: { perModel: { anthropic: { tokens: '100/min' } } } });
    await expect(duh.ask(QUESTION, { principal: alice })).rejects.toThrow(/Rate limit `model:anthropic:tokens` allows 100 per window, less than the/);
  });
});

describe('an unreachable limiter store', () => {
  const unreachable = (failOpen: boolean) => redisLimiter({ url: 'redis://127.0.0.1:1', failOpen, timeoutMs: 200 });

  it('fails closed by default: the run is refused before any call, with how to fix it', async () => {
    const { models, proposer } = trio();
    const limiter = unreachable(false);
    const duh = new Consensus({ models, rounds: 1, limiter, limits: { perUser: { requests: '10/min' } } });
    const error = await duh.ask(QUESTION, { principal: alice }).catch((caught: unknown) => caught);
    expect(LimiterUnavailableError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/failOpen/);
    expect(proposer.calls).toHaveLength(0);
    await limiter.close();
  });

  it('fails open by option, with a warning event, and the run completes unmetered', async () => {
    const { models } = trio();
    const limiter = unreachable(true);
    const duh = new Consensus({ models, rounds: 1, limiter, limits: { perUser: { requests: '10/min' } }, budget: { perTenant: { usd: 1, per: 'day' } } });
    const events: ConsensusEvent[] = [];
    const result = await duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) });
    expect(result.decision).toBeTruthy();
    const warnings = events.filter((event) => event.type === 'warning');
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({ code: 'limiter-unavailable', message: expect.stringContaining('unmetered') });
    await limiter.close();
  });
});

describe('budgets', () => {
  const cheap = () => {
    const make = (ref: `${string}:${string}`, price: number) =>
      new MockAdapter({ ref, info: { inputPricePerMTok: price, outputPricePerMTok: price, maxOutputTokens: 1000 }, reply: 'A short answer.' });
    // Worst cases at 1,000 output tokens: about $0.012 for one round, $0.04 for two, $0.07 for three.
    return [make('anthropic:opus', 1), make('openai:gpt', 0.5), make('google:flash', 0.1)];
  };

  it('reserves the worst case, settles the real cost, and refuses a run that does not fit, with the figures', async () => {
    const store = memoryLimiter();
    const duh = new Consensus({ models: cheap(), rounds: 2, maxOutputTokens: 1000, limiter: store, budget: { perTenant: { usd: 0.1, per: 'day' } } });
    const events: ConsensusEvent[] = [];
    const result = await duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) });
    const reserve = events.find((event) => event.type === 'budget' && event.action === 'reserve');
    const settle = events.find((event) => event.type === 'budget' && event.action === 'settle');
    expect(reserve).toMatchObject({ budgets: [{ budget: 'tenant:acme:day', limitUsd: 0.1 }] });
    const reserved = (reserve as Extract<ConsensusEvent, { type: 'budget' }>).budgets[0]!.amountUsd;
    expect(reserved).toBeGreaterThan(result.cost.totalUsd);
    expect(settle).toMatchObject({ budgets: [{ budget: 'tenant:acme:day', amountUsd: result.cost.totalUsd }] });
    expect((settle as Extract<ConsensusEvent, { type: 'budget' }>).budgets[0]!.usedUsd).toBeCloseTo(result.cost.totalUsd, 6);
    // Settle comes before run-end, which stays the last event.
    expect(events.at(-1)?.type).toBe('run-end');

    const tight = new Consensus({ models: cheap(), rounds: 3, maxOutputTokens: 1000, limiter: store, budget: { perTenant: { usd: 0.05, per: 'day' } } });
    const error = await tight.ask(QUESTION, { principal: alice }).catch((caught: unknown) => caught);
    expect(BudgetExceededError.isInstance(error)).toBe(true);
    const figures = error as BudgetExceededError;
    expect(figures.budget).toBe('tenant:acme:day');
    expect(figures.limitUsd).toBe(0.05);
    expect(figures.usedUsd).toBeCloseTo(result.cost.totalUsd, 6);
    expect(figures.requestedUsd).toBeGreaterThan(0.05 - figures.usedUsd);
    expect(figures.resetsAt).toMatch(/T00:00:00.000Z$/);
    expect(figures.message).toContain("onBudget: 'degrade'");
  });

  it('degrades to fewer rounds, then to cheaper models, when asked', async () => {
    const duh = new Consensus({ models: cheap(), rounds: 3, maxOutputTokens: 1000, budget: { perUser: { usd: 0.03, per: 'month' }, onExceed: 'degrade' } });
    const events: ConsensusEvent[] = [];
    const result = await duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) });
    const degraded = events.find((event) => event.type === 'budget-degraded');
    expect(degraded).toMatchObject({ fromRounds: 3 });
    const { toRounds, worstCaseUsd, availableUsd } = degraded as Extract<ConsensusEvent, { type: 'budget-degraded' }>;
    expect(toRounds).toBeLessThan(3);
    expect(worstCaseUsd).toBeLessThanOrEqual(availableUsd);
    expect(result.rounds.length).toBeLessThanOrEqual(toRounds);
    expect(events.find((event) => event.type === 'run-start')).toMatchObject({ maxRounds: toRounds });
    // A run may override the engine's choice.
    await expect(duh.ask(QUESTION, { principal: bob, onBudget: 'refuse' })).rejects.toThrow(BudgetExceededError);
  });

  it('degrades to fit every budget, when a later budget is tighter than the one that refused first', async () => {
    // The tenant budget (asked first) refuses 3 rounds; the user budget, tighter still, would refuse 2.
    const duh = new Consensus({ models: cheap(), rounds: 3, maxOutputTokens: 1000, budget: { perTenant: { usd: 0.06, per: 'day' }, perUser: { usd: 0.02, per: 'day' } } });
    const events: ConsensusEvent[] = [];
    await duh.ask(QUESTION, { principal: alice, onBudget: 'degrade', onEvent: (event) => events.push(event) });
    const degraded = events.find((event) => event.type === 'budget-degraded') as Extract<ConsensusEvent, { type: 'budget-degraded' }>;
    expect(degraded.toRounds).toBe(1);
    expect(degraded.worstCaseUsd).toBeLessThanOrEqual(0.02);
  });

  it('degrades to the cheapest models when even one round of the usual panel does not fit', async () => {
    const duh = new Consensus({ models: cheap(), rounds: 2, maxOutputTokens: 1000, budget: { perUser: { usd: 0.009, per: 'day' } } });
    const events: ConsensusEvent[] = [];
    const result = await duh.ask(QUESTION, { principal: alice, onBudget: 'degrade', onEvent: (event) => events.push(event) });
    expect(events.find((event) => event.type === 'budget-degraded')).toMatchObject({ models: ['google:flash', 'openai:gpt', 'anthropic:opus', 'google:flash'] });
    expect(result.rounds[0]!.proposal.model).toBe('google:flash');
  });

  it('never lets concurrent runs overspend a shared budget', async () => {
    const store = memoryLimiter();
    const models = cheap();
    const duh = new Consensus({ models, rounds: 1, maxOutputTokens: 1000, limiter: store, budget: { perTenant: { usd: 0.05, per: 'day' } } });
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, index) => duh.ask(`${QUESTION} #${index}`, { principal: index % 2 ? alice : bob })));
    const spent = outcomes.reduce((sum, outcome) => sum + (outcome.status === 'fulfilled' ? outcome.value.cost.totalUsd : 0), 0);
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(spent).toBeLessThanOrEqual(0.05);
    expect(refused.length).toBeGreaterThan(0);
    for (const outcome of refused) expect(BudgetExceededError.isInstance((outcome as PromiseRejectedResult).reason)).toBe(true);
  });

  it('settles a failed run with what it spent before failing', async () => {
    const store = memoryLimiter();
    const failing = new MockAdapter({ ref: 'openai:gpt', info: { inputPricePerMTok: 5, outputPricePerMTok: 5, maxOutputTokens: 1000 }, reply: { error: new ProviderError({ provider: 'openai', model: 'gpt', retryable: false, status: 401 }, 'bad key') } });
    const proposer = new MockAdapter({ ref: 'anthropic:opus', info: { inputPricePerMTok: 10, outputPricePerMTok: 10, maxOutputTokens: 1000 }, reply: 'Proposal.' });
    const duh = new Consensus({ models: [proposer, failing], challengers: ['openai:gpt'], rounds: 1, maxOutputTokens: 1000, limiter: store, budget: { perTenant: { usd: 1, per: 'day' } } });
    const events: ConsensusEvent[] = [];
    await expect(duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) })).rejects.toThrow();
    const settle = events.find((event) => event.type === 'budget' && event.action === 'settle') as Extract<ConsensusEvent, { type: 'budget' }>;
    expect(settle.budgets[0]!.amountUsd).toBeGreaterThan(0);
    expect(events.at(-1)?.type).toBe('error');
  });
});

describe('tenant provider keys', () => {
  it("runs a tenant's calls with its own key and other tenants' with the shared one", async () => {
    const { models, proposer } = trio();
    const credentials = async ({ tenant, provider }: { tenant: string; provider: string }) => (tenant === 'acme' && provider === 'anthropic' ? { apiKey: 'sk-acme-own-key-123456' } : undefined);
    const duh = new Consensus({ models, credentials, rounds: 1 });
    const events: ConsensusEvent[] = [];
    await duh.ask(QUESTION, { principal: alice, onEvent: (event) => events.push(event) });
    await duh.ask(QUESTION, { principal: mallory });
    const keys = proposer.calls.map((call) => call.apiKey ?? 'shared');
    expect(keys).toEqual(['sk-acme-own-key-123456', 'sk-acme-own-key-123456', 'shared', 'shared']);
    expect(JSON.stringify(events)).not.toContain('sk-acme-own-key');
  });

  it('refuses a tenant key for an adapter that cannot switch keys', async () => {
    const { models } = trio();
    const original = models[0]!;
    const plain: ModelAdapter = {
      specificationVersion: 'v1',
      provider: original.provider,
      modelId: original.modelId,
      info: original.info,
      stream: (request, options) => original.stream(request, options),
      generate: (request, options) => original.generate(request, options),
    };
    const duh = new Consensus({ models: [plain, models[1]!, models[2]!], credentials: async () => ({ apiKey: 'sk-tenant-123456789' }), rounds: 1 });
    await expect(duh.ask(QUESTION, { principal: alice })).rejects.toThrow(/cannot switch keys \(it has no withApiKey\)/);
  });
});

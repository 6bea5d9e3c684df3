import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, NotFoundError, StorageError } from '../../src/errors.js';
import { DEFAULT_TENANT, type StorageDriver } from '../../src/storage.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { memoryStorage } from '../../storage/memory.js';

const panel = () => [new MockAdapter({ ref: 'a:one', info: { outputPricePerMTok: 5 } }), new MockAdapter({ ref: 'b:two' })];

describe('threads and recall', () => {
  it('lists runs newest first and fetches one by id or by an 8+ character prefix', async () => {
    const duh = new Consensus({ models: panel(), rounds: 1 });
    const first = await duh.ask('How do we shard the orders table?');
    const second = await duh.ask('Which CDN should we use?');
    const page = await duh.threads.list();
    expect(page.total).toBe(2);
    expect(page.threads.map((thread) => thread.id)).toEqual([second.threadId, first.threadId]);
    expect((await duh.threads.list({ status: 'failed' })).total).toBe(0);
    expect((await duh.threads.list({ limit: 1, offset: 1 })).threads.map((thread) => thread.id)).toEqual([first.threadId]);

    const full = await duh.threads.get(first.threadId);
    expect(full.question).toBe('How do we shard the orders table?');
    expect(full.turns[0]!.decision?.content).toBe(first.decision);
    expect(full.turns[0]!.contributions.map((contribution) => contribution.role)).toEqual(['proposer', 'challenger', 'challenger', 'reviser', 'classifier']);
    expect(full.turns[0]!.contributions[1]).toMatchObject({ framing: 'flaw', sycophantic: false });
  });

  it('resolves unique prefixes and rejects short, ambiguous and unknown ones', async () => {
    const storage = memoryStorage();
    const scope = { tenant: DEFAULT_TENANT };
    await storage.createThread(scope, { id: 'abcdef12-0000-7000-8000-000000000001', question: 'one', protocol: 'consensus', userId: null, createdAt: '2026-01-01T00:00:00.000Z' });
    await storage.createThread(scope, { id: 'abcdef12-0000-7000-8000-000000000002', question: 'two', protocol: 'consensus', userId: null, createdAt: '2026-01-01T00:00:01.000Z' });
    await storage.createThread(scope, { id: '99999999-0000-7000-8000-000000000003', question: 'three', protocol: 'consensus', userId: null, createdAt: '2026-01-01T00:00:02.000Z' });
    // Another tenant's thread under a matching prefix neither resolves nor makes the prefix ambiguous.
    await storage.createThread({ tenant: 'other' }, { id: 'abcdef12-0000-7000-8000-000000000004', question: 'four', protocol: 'consensus', userId: null, createdAt: '2026-01-01T00:00:03.000Z' });
    const duh = new Consensus({ models: panel(), storage });
    expect((await duh.threads.get('99999999')).question).toBe('three');
    await expect(duh.threads.get('abcdef12')).rejects.toThrow(/matches 2 threads; use more characters/);
    await expect(duh.threads.get('abcdef12-0000-7000-8000-000000000002')).resolves.toMatchObject({ question: 'two' });
    await expect(duh.threads.get('abcdef12', { principal: { id: 'u1', tenant: 'other' } })).resolves.toMatchObject({ question: 'four', tenant: 'other' });
    await expect(duh.threads.get('99999999', { principal: { id: 'u1', tenant: 'other' } })).rejects.toSatisfy((error: unknown) => NotFoundError.isInstance(error));
    await expect(duh.threads.get('abc')).rejects.toSatisfy((error: unknown) => InvalidOptionError.isInstance(error) && /at least 8 characters/.test((error as Error).message));
    await expect(duh.threads.get('00000000')).rejects.toSatisfy((error: unknown) => NotFoundError.isInstance(error));
    await expect(duh.threads.list({ status: 'done' as never })).rejects.toThrow(/`status` option must be one of active, complete, failed/);
    await expect(duh.threads.list({ limit: 0 })).rejects.toThrow(/`limit` option must be an integer between 1 and 1000/);
  });

  it('recalls by question or decision text, case-insensitively', async () => {
    const proposer = new MockAdapter({ ref: 'a:one', info: { outputPricePerMTok: 5 }, reply: (_request, { system, prompt }) =>
        system.includes('independent experts') ? (prompt.includes('event bus') ? 'Use Kafka with compaction.' : 'Use a global CDN.') : 'x',
    });
    const duh = new Consensus({ models: [proposer, new MockAdapter({ ref: 'b:two' })], rounds: 1 });
    const kafka = await duh.ask('Pick an event bus');
    await duh.ask('Pick a CDN');
    const hits = await duh.recall('KAFKA');
    expect(hits).toEqual([expect.objectContaining({ threadId: kafka.threadId, question: 'Pick an event bus', decision: 'Use Kafka with compaction.', status: 'complete' })]);
    expect(await duh.recall('pick', { limit: 1 })).toHaveLength(1);
    await expect(duh.recall('  ')).rejects.toThrow(/non-empty string/);
  });

  it('falls back to scanning when the driver has no search()', async () => {
    const memory = memoryStorage();
    const { search: _search, ...withoutSearch } = memory;
    const driver: StorageDriver = withoutSearch;
    const duh = new Consensus({ models: panel(), rounds: 1, storage: driver });
    await duh.ask('Shard by tenant?');
    await duh.ask('Cache with Redis?');
    expect((await duh.recall('tenant')).map((hit) => hit.question)).toEqual(['Shard by tenant?']);
  });

  it('fails a run with a StorageError when the driver cannot create its thread with the first phase (startThread), and stores it as failed', async () => {
    const memory = memoryStorage();
    const broken: StorageDriver = { ...memory, startThread: async () => { throw new Error('disk full'); } };
    const duh = new Consensus({ models: panel(), rounds: 1, storage: broken });
    const error = await duh.ask('q').catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as StorageError).message).toBe('[memory] Could not create the thread with the PROPOSE phase of round 1: disk full');
    const [thread] = (await duh.threads.list()).threads;
    expect(thread?.status).toBe('failed');
    expect(await memory.getThread({ tenant: DEFAULT_TENANT }, thread!.id)).toMatchObject({ turns: [], error: (error as StorageError).message });
  });

  it('marks failed a thread whose first write landed although the driver reported an error, and never a thread that is not the run\'s', async () => {
    for (const landed of ['this run', 'another thread'] as const) {
      const memory = memoryStorage();
      const broken: StorageDriver = {
        ...memory,
        startThread: async (scope, thread, first) => {
          // The write reaches the store, but the answer is lost (or, for the other case, another thread holds the id).
          if (landed === 'this run') await memory.startThread!(scope, thread, first);
          else await memory.createThread(scope, { ...thread, question: 'Someone else\'s question?' });
          throw new Error('connection reset');
        },
      };
      const duh = new Consensus({ models: panel(), rounds: 1, storage: broken });
      const error = await duh.ask('q').catch((caught: unknown) => caught);
      expect(StorageError.isInstance(error), landed).toBe(true);
      const [summary, ...rest] = (await duh.threads.list()).threads;
      expect(rest, landed).toEqual([]);
      const thread = await memory.getThread({ tenant: DEFAULT_TENANT }, summary!.id);
      if (landed === 'this run') expect(thread).toMatchObject({ question: 'q', status: 'failed', error: (error as StorageError).message });
      else expect(thread, 'a thread that is not the run\'s own is left as it was').toMatchObject({ question: 'Someone else\'s question?', status: 'active', error: null });
    }
  });

  it('fails a run with a StorageError when the driver cannot write a round (appendTurn, for drivers without appendPhase), and never half-writes it', async () => {
    const memory = memoryStorage();
    const { appendPhase: _appendPhase, startThread: _startThread, ...withoutPhases } = memory;
    const broken: StorageDriver = { ...withoutPhases, appendTurn: async () => { throw new Error('disk full'); } };
    const duh = new Consensus({ models: panel(), rounds: 1, storage: broken });
    const error = await duh.ask('q').catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as StorageError).message).toBe('[memory] Could not save round 1: disk full');
    const [thread] = (await duh.threads.list()).threads;
    expect(thread?.status).toBe('failed');
    expect((await memory.getThread({ tenant: DEFAULT_TENANT }, thread!.id))?.turns).toEqual([]);
  });

  it('fails a run with a StorageError when the driver cannot write a phase, keeping the phases stored before it whole', async () => {
    const memory = memoryStorage();
    const broken: StorageDriver = {
      ...memory,
      appendPhase: async (scope, threadId, phase) => {
        if (phase.state === 'REVISE') throw new Error('disk full');
        await memory.appendPhase!(scope, threadId, phase);
      },
    };
    const duh = new Consensus({ models: panel(), rounds: 1, storage: broken });
    const error = await duh.ask('q').catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as StorageError).message).toBe('[memory] Could not save the REVISE phase of round 1: disk full');
    const [thread] = (await duh.threads.list()).threads;
    expect(thread?.status).toBe('failed');
    const [turn, ...rest] = (await memory.getThread({ tenant: DEFAULT_TENANT }, thread!.id))!.turns;
    expect(rest).toEqual([]);
    expect(turn).toMatchObject({ roundNumber: 1, state: 'CHALLENGE', decision: null });
    expect(turn!.contributions.map((contribution) => contribution.role)).toEqual(['proposer', 'challenger', 'challenger']);
  });

  it('memoryStorage can cap how many threads it keeps', async () => {
    const storage = memoryStorage({ maxThreads: 2 });
    const duh = new Consensus({ models: panel(), rounds: 1, storage });
    for (const question of ['one', 'two', 'three']) await duh.ask(question);
    expect((await duh.threads.list()).threads.map((thread) => thread.question)).toEqual(['three', 'two']);
    expect(() => memoryStorage({ maxThreads: 0 })).toThrow(/maxThreads/);
  });
});

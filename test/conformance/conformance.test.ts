import { describe, expect, it } from 'vitest';
import type { ModelAdapter } from '../../src/adapter.js';
import { ProviderError, StorageError } from '../../src/errors.js';
import { MockAdapter, type MockReply } from '../../src/testing/mock-adapter.js';
import { modelAdapterConformance, storageDriverConformance } from '../../src/testing/conformance.js';
import { costRowsOf } from '../../src/records.js';
import { AUDIT_GENESIS_HASH, auditCanonicalString, auditEventId, auditEventOf, matchesRecall, toRecallHit, type StorageDriver, type StoredAuditEvent, type StoredThread } from '../../src/storage.js';
import { memoryStorage } from '../../storage/memory.js';

describe('MockAdapter conforms to the model adapter contract', () => {
  for (const check of modelAdapterConformance({ create: () => new MockAdapter({ ref: 'mock:model', chunkSize: 3, reply: 'ok, done' }) })) {
    it(check.name, check.run);
  }
  for (const check of modelAdapterConformance({ create: () => new MockAdapter({ ref: 'mock:slow', latencyMs: 50, chunkSize: 2, chunkDelayMs: 5, reply: 'slow answer' }) })) {
    it(`(slow) ${check.name}`, check.run);
  }
});

describe('MockAdapter passes every failure scenario', () => {
  let next: MockReply | undefined;
  const stage = (reply: MockReply) => () => void (next = reply);
  const create = () => {
    const adapter = new MockAdapter({ ref: 'mock:scenarios', script: next ? [next] : [], reply: 'ok' });
    next = undefined;
    return adapter;
  };
  for (const check of modelAdapterConformance({
    create,
    scenarios: {
      rateLimit: stage({ rateLimit: { retryAfterMs: 2000 } }),
      serverError: stage({ serverError: { status: 500 } }),
      overloaded: stage({ serverError: { status: 503 } }),
      unauthorized: stage({ error: new ProviderError({ provider: 'mock', model: 'scenarios', status: 401 }, 'Invalid API key.') }),
      cutStream: stage({ truncate: { text: 'half an answer', afterChars: 6 } }),
      length: stage({ text: 'cut at the limit', finishReason: 'length' }),
      contentFilter: stage({ text: '', finishReason: 'content-filter' }),
      toolCall: stage({ text: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] }),
    },
  })) {
    it(check.name, check.run);
  }
});

describe('memoryStorage conforms to the storage driver contract', () => {
  for (const check of storageDriverConformance({ create: () => memoryStorage() })) it(check.name, check.run);
});

/** memoryStorage plus the optional operations it lacks, done by scanning its own export (so those cases run too). */
function withScans(driver: StorageDriver): StorageDriver {
  const threadsOf = async (scope: Parameters<StorageDriver['exportThreads']>[0]) => {
    const threads: StoredThread[] = [];
    for await (const thread of driver.exportThreads(scope)) threads.push(thread);
    return threads;
  };
  return {
    ...driver,
    costReport: async (scope, query) => costRowsOf(await threadsOf(scope), query.groupBy, query.since, query.until),
    // A relevance ranking (occurrences of the query in the question and every decision), newest first on ties:
    // the search cases must hold for it as for the newest-first fallback.
    search: async (scope, query, { limit }) => {
      const needle = query.toLowerCase();
      const count = (text: string) => text.toLowerCase().split(needle).length - 1;
      return (await threadsOf(scope))
        .reverse()
        .filter((thread) => matchesRecall(thread, query))
        .map((thread) => ({ ...toRecallHit(thread), score: count(thread.question) + thread.turns.reduce((sum, turn) => sum + count(turn.decision?.content ?? ''), 0) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, limit);
    },
  };
}

describe('memoryStorage with a scanning costReport and a ranking search conforms too', () => {
  for (const check of storageDriverConformance({ create: () => withScans(memoryStorage()) })) it(check.name, check.run);
});

describe('storageDriverConformance options', () => {
  it('leaves out skipped cases and rejects a skip naming no case', () => {
    const all = storageDriverConformance({ create: () => memoryStorage() });
    const skipped = storageDriverConformance({ create: () => memoryStorage(), skip: [all[0]!.name] });
    expect(skipped.map((check) => check.name)).toEqual(all.slice(1).map((check) => check.name));
    expect(() => storageDriverConformance({ create: () => memoryStorage(), skip: ['no such case'] })).toThrow(/no case is named "no such case"/);
  });

  it('gives every case a distinct name and closes the drivers it opened', async () => {
    const all = storageDriverConformance({ create: () => memoryStorage() });
    expect(new Set(all.map((check) => check.name)).size).toBe(all.length);
    let opened = 0;
    let closed = 0;
    const cases = storageDriverConformance({
      create: () => {
        opened++;
        return { ...memoryStorage(), close: async () => void closed++ };
      },
    });
    for (const check of cases) await check.run();
    expect(opened).toBeGreaterThanOrEqual(cases.length);
    expect(closed).toBe(opened);
  });
});

describe('the suites catch broken plug-ins', () => {
  const run = async (cases: { name: string; run: () => Promise<void> }[], name: string) => {
    const found = cases.find((candidate) => candidate.name.startsWith(name));
    if (!found) throw new Error(`no case ${name}`);
    return found.run().then(() => 'passed', (error: Error) => error.message);
  };

  it('flags a stream that never sends a finish part', async () => {
    const good = new MockAdapter({ ref: 'mock:model' });
    const broken: ModelAdapter = {
      ...good,
      specificationVersion: 'v1',
      provider: 'mock',
      modelId: 'model',
      info: good.info,
      generate: (request) => good.generate(request),
      async *stream() {
        yield { type: 'text-delta', text: 'half an ans' };
      },
    };
    expect(await run(modelAdapterConformance({ create: () => broken }), 'stream() yields')).toMatch(/exactly one finish part, got 0/);
  });

  it('flags an adapter that ignores the abort signal', async () => {
    const good = new MockAdapter({ ref: 'mock:model' });
    const deaf: ModelAdapter = {
      specificationVersion: 'v1',
      provider: 'mock',
      modelId: 'model',
      info: good.info,
      generate: (request) => good.generate(request),
      stream: (request) => good.stream(request),
    };
    expect(await run(modelAdapterConformance({ create: () => deaf }), 'rejects at once')).toMatch(/must reject after abort/);
  });

  it('flags a storage driver that lists oldest first', async () => {
    const driver = memoryStorage();
    const reversed: StorageDriver = {
      ...driver,
      listThreads: async (scope, query) => {
        const page = await driver.listThreads(scope, { ...query, limit: 1000, offset: 0 });
        const threads = page.threads.reverse().slice(query.offset, query.offset + query.limit);
        return { threads, total: page.total };
      },
    };
    expect(await run(storageDriverConformance({ create: () => reversed }), 'lists threads newest first')).toMatch(/newest first expected/);
  });

  it('flags a storage driver whose getThread ignores the tenant', async () => {
    const leaky = (): StorageDriver => {
      const driver = memoryStorage();
      const tenants = new Set<string>();
      return {
        ...driver,
        createThread: async (scope, thread) => {
          tenants.add(scope.tenant);
          return driver.createThread(scope, thread);
        },
        // Looks in the caller's tenant first, then anywhere: the leak a forgotten `WHERE tenant = ?` makes.
        getThread: async (scope, id) => {
          for (const tenant of [scope.tenant, ...tenants]) {
            const found = await driver.getThread({ tenant }, id);
            if (found) return found;
          }
          return null;
        },
      };
    };
    expect(await run(storageDriverConformance({ create: leaky }), 'isolates tenants on reads')).toMatch(/tenant "globex" can read tenant "acme"'s thread through getThread/);
    // Without the leak the same case passes.
    expect(await run(storageDriverConformance({ create: () => memoryStorage() }), 'isolates tenants on reads')).toBe('passed');
  });

  it('flags a storage driver whose costReport ignores the tenant', async () => {
    const leaky = (): StorageDriver => {
      const driver = memoryStorage();
      return {
        ...driver,
        costReport: async (_scope, query) => {
          const threads: StoredThread[] = [];
          for await (const thread of driver.exportThreads('all')) threads.push(thread);
          return costRowsOf(threads, query.groupBy, query.since, query.until);
        },
      };
    };
    expect(await run(storageDriverConformance({ create: leaky }), 'isolates tenants on reads')).toMatch(/costReport by model must count only its own threads/);
  });

  it('flags a storage driver whose import writes part of a bad batch', async () => {
    const eager = (): StorageDriver => {
      const driver = memoryStorage();
      return {
        ...driver,
        importThreads: async (threads, options) => {
          let written = 0;
          for (const thread of threads) written += (await driver.importThreads([thread], options)).threads;
          return { threads: written };
        },
      };
    };
    expect(await run(storageDriverConformance({ create: eager }), 'import is all or nothing')).toMatch(/must leave the store exactly as it was/);
  });

  it('flags a storage driver that replaces a thread on a duplicate id', async () => {
    const overwriting = (): StorageDriver => {
      const driver = memoryStorage();
      return {
        ...driver,
        createThread: async (scope, thread) => {
          await driver.deleteThread(scope, thread.id);
          return driver.createThread(scope, thread);
        },
      };
    };
    expect(await run(storageDriverConformance({ create: overwriting }), 'rejects a duplicate thread id')).toMatch(/must reject with a StorageError/);
  });
  it('flags a storage driver whose audit appends race (the chain forks under concurrency)', async () => {
    const racy = (): StorageDriver => {
      const driver = memoryStorage();
      const heads = new Map<string, StoredAuditEvent[]>();
      return {
        ...driver,
        // Reads the head, then yields before writing: concurrent appends link to the same head.
        appendAudit: async (scope, entry) => {
          const log = heads.get(scope.tenant) ?? [];
          heads.set(scope.tenant, log);
          const previous = log.at(-1);
          await new Promise((resolve) => setTimeout(resolve, 1));
          const linked = { ...auditEventOf(scope.tenant, auditEventId(), entry), seq: log.length + 1, prevHash: previous?.hash ?? AUDIT_GENESIS_HASH };
          const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(auditCanonicalString(linked)));
          const event = { ...linked, hash: Buffer.from(digest).toString('hex') };
          log.push(event);
          return event;
        },
        listAudit: async (scope, query) => (heads.get(scope.tenant) ?? []).filter((event) => event.seq > (query.afterSeq ?? 0)).slice(0, query.limit),
      };
    };
    expect(await run(storageDriverConformance({ create: racy }), 'audit (when implemented): 20 concurrent appends')).toMatch(/must link to the previous entry's hash|seq 2\.\.21 exactly once/);
    expect(await run(storageDriverConformance({ create: racy }), 'audit (when implemented): appends link into a chain')).toBe('passed');
  });

  it('flags a storage driver whose API key listing or user lookup ignores the tenant', async () => {
    const leakyKeys = (): StorageDriver => {
      const driver = memoryStorage();
      return { ...driver, listApiKeys: async (_scope, query) => [...(await driver.listApiKeys!({ tenant: 'acme' }, query)), ...(await driver.listApiKeys!({ tenant: 'globex' }, query))] };
    };
    expect(await run(storageDriverConformance({ create: leakyKeys }), 'API keys (when implemented): isolate tenants')).toMatch(/can list tenant "acme"'s key/);
    const leakyUsers = (): StorageDriver => {
      const driver = memoryStorage();
      return { ...driver, getUserByEmail: async (_scope, email) => (await driver.getUserByEmail!({ tenant: 'acme' }, email)) };
    };
    expect(await run(storageDriverConformance({ create: leakyUsers }), 'users (when implemented): isolate tenants')).toMatch(/can read tenant "acme"'s user/);
  });

  it('flags a storage driver that lets a second user take an email', async () => {
    const lax = (): StorageDriver => {
      const driver = memoryStorage();
      return {
        ...driver,
        createUser: async (scope, user) => {
          const taken = await driver.getUserByEmail!(scope, user.email);
          return driver.createUser!(scope, taken ? { ...user, email: `${user.email}.dup` } : user);
        },
      };
    };
    expect(await run(storageDriverConformance({ create: lax }), 'users (when implemented): create and read back')).toMatch(/an email another user of the tenant has must reject/);
  });

  it('runs the identity cases as no-ops on a driver without the identity methods', async () => {
    const bare = (): StorageDriver => {
      const { createUser, getUser, getUserByEmail, listUsers, updateUser, createApiKey, findApiKey, listApiKeys, revokeApiKey, touchApiKey, putProviderKey, getProviderKey, listProviderKeys, deleteProviderKey, appendAudit, listAudit, ...rest } = memoryStorage();
      void [createUser, getUser, getUserByEmail, listUsers, updateUser, createApiKey, findApiKey, listApiKeys, revokeApiKey, touchApiKey, putProviderKey, getProviderKey, listProviderKeys, deleteProviderKey, appendAudit, listAudit];
      return rest;
    };
    for (const check of storageDriverConformance({ create: bare })) await check.run();
  });

  it('runs the appendPhase cases as no-ops on a driver without appendPhase, and catches drivers that drop, repeat or half-refuse phases', async () => {
    const withoutPhases = (): StorageDriver => {
      const { appendPhase: _appendPhase, ...rest } = memoryStorage();
      return rest;
    };
    for (const check of storageDriverConformance({ create: withoutPhases }).filter((each) => each.name.startsWith('appendPhase'))) await check.run();

    const altered = (appendPhase: (memory: StorageDriver) => NonNullable<StorageDriver['appendPhase']>) => () => {
      const memory = memoryStorage();
      return { ...memory, appendPhase: appendPhase(memory) };
    };
    // Silently drops REVISE phases.
    const dropping = storageDriverConformance({ create: altered((memory) => async (scope, id, phase) => (phase.state === 'REVISE' ? undefined : memory.appendPhase!(scope, id, phase))) });
    expect(await run(dropping, 'appendPhase (when implemented): PROPOSE, CHALLENGE, REVISE and COMMIT')).toMatch(/after the REVISE phase of round 1, the turn must hold exactly the phases stored so far/);
    // Accepts a phase written twice (swallows the refusal).
    const repeating = storageDriverConformance({ create: altered((memory) => async (scope, id, phase) => memory.appendPhase!(scope, id, phase).catch(() => undefined)) });
    expect(await run(repeating, 'appendPhase (when implemented): rejects a phase out of order')).toMatch(/must reject with a StorageError, but it resolved/);
    // Refuses with a message that names neither the round nor the phase.
    const vague = storageDriverConformance({
      create: altered((memory) => async (scope, id, phase) => memory.appendPhase!(scope, id, phase).catch(() => Promise.reject(new StorageError('vague', 'no')))),
    });
    expect(await run(vague, 'appendPhase (when implemented): rejects a phase out of order')).toMatch(/the error must name the round and the phase/);
    // Writes the turn's new state even when it refuses the phase.
    const halfRefusing = storageDriverConformance({
      create: altered((memory) => async (scope, id, phase) => {
        try {
          await memory.appendPhase!(scope, id, phase);
        } catch (error) {
          if (phase.state === 'PROPOSE' && phase.roundNumber === 1) await memory.finishThread(scope, id, { status: 'failed', error: 'half', at: phase.at });
          throw error;
        }
      }),
    });
    expect(await run(halfRefusing, 'appendPhase (when implemented): rejects a phase out of order')).toMatch(/must write nothing/);
  });

  it('runs the startThread cases as no-ops on a driver without it, and catches drivers that start threads wrongly', async () => {
    const { startThread: _startThread, ...withoutStart } = memoryStorage();
    for (const check of storageDriverConformance({ create: () => withoutStart }).filter((each) => each.name.startsWith('startThread'))) await check.run();

    const altered = (startThread: (memory: StorageDriver) => NonNullable<StorageDriver['startThread']>) => () => {
      const memory = memoryStorage();
      return { ...memory, startThread: startThread(memory) };
    };
    // Two writes, not one: creates the thread, then appends the round (so a refused round leaves a thread behind).
    const twoStep = storageDriverConformance({
      create: altered((memory) => async (scope, thread, first) => {
        await memory.createThread(scope, thread);
        await memory.appendTurn(scope, thread.id, first);
      }),
    });
    expect(await run(twoStep, 'startThread (when implemented): a duplicate id')).toMatch(/must reject with a StorageError, but it resolved|must write nothing/);
    // Forgets to move the thread's updatedAt to the round's time.
    const stale = storageDriverConformance({
      create: altered((memory) => async (scope, thread, first) => {
        await memory.startThread!(scope, thread, first);
        await memory.finishThread(scope, thread.id, { status: 'active' as 'complete', at: thread.createdAt });
      }),
    });
    expect(await run(stale, 'startThread (when implemented): creates a thread with round 1')).toMatch(/must read back exactly as createThread \+ appendTurn|updatedAt/);
    // Swallows a duplicate start.
    const lenient = storageDriverConformance({ create: altered((memory) => async (scope, thread, first) => memory.startThread!(scope, thread, first).catch(() => undefined)) });
    expect(await run(lenient, 'startThread (when implemented): of two concurrent starts')).toMatch(/exactly one of two concurrent startThread calls/);
  });
});

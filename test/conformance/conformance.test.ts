import { describe, expect, it } from 'vitest';
import type { ModelAdapter } from '../../src/adapter.js';
import { ProviderError } from '../../src/errors.js';
import { MockAdapter, type MockReply } from '../../src/testing/mock-adapter.js';
import { modelAdapterConformance, storageDriverConformance } from '../../src/testing/conformance.js';
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
    const reversed = {
      ...driver,
      listThreads: async (query: Parameters<typeof driver.listThreads>[0]) => {
        const page = await driver.listThreads({ ...query, limit: 1000, offset: 0 });
        const threads = page.threads.reverse().slice(query.offset, query.offset + query.limit);
        return { threads, total: page.total };
      },
    };
    expect(await run(storageDriverConformance({ create: () => reversed }), 'lists threads')).toMatch(/newest first expected/);
  });
});

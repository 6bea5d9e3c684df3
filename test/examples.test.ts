// The examples are part of the docs: they must compile (tsc covers examples/) and do what they say.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Consensus } from '../src/consensus.js';
import { modelAdapterConformance, storageDriverConformance } from '../src/testing/conformance.js';
import { MockAdapter } from '../src/testing/mock-adapter.js';
import { main as basic } from '../examples/basic.js';
import { openAICompatible } from '../examples/custom-adapter.js';
import { jsonFileStorage } from '../examples/custom-storage.js';
import { main as streaming } from '../examples/streaming.js';
import { main as testingYourCode } from '../examples/testing-your-code.js';

vi.spyOn(console, 'log').mockImplementation(() => {});
vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

describe('examples', () => {
  it('basic.ts prints a decision with confidence, rigor and cost', async () => {
    expect(await basic('Monolith or microservices?')).toMatch(/confidence 0\.70 · rigor 1\.00 · 2 rounds · \$0\.\d{4}/);
  });

  it('streaming.ts sees both rounds and a commit per round', async () => {
    const events = await streaming({ fast: true });
    expect(events.filter((event) => event.type === 'commit')).toHaveLength(2);
    expect(events.at(-1)?.type).toBe('run-end');
  });

  it('testing-your-code.ts honours Retry-After without waiting', async () => {
    expect(await testingYourCode()).toEqual({ attempts: 2, slept: [3000], decision: 'Shard by tenant.' });
  });
});

describe('examples/custom-adapter.ts against a local OpenAI-compatible server', () => {
  let server: Server;
  let baseURL = '';
  let mode: 'ok' | 'cut' | '429' = 'ok';
  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (mode === '429') {
          response.writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' });
          response.end('{"error":{"message":"Rate limit reached"}}');
          return;
        }
        const { messages } = JSON.parse(body) as { messages: { content: string }[] };
        const words = `Answer to: ${messages.at(-1)!.content.slice(0, 20)}`.split(' ');
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const word of words) response.write(`data: ${JSON.stringify({ choices: [{ delta: { content: `${word} ` }, finish_reason: null }] })}\n\n`);
        if (mode === 'cut') return response.end();
        response.write(`data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }] })}\n\n`);
        response.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 12, completion_tokens: words.length } })}\n\n`);
        response.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const check of modelAdapterConformance({ create: () => openAICompatible('local-model', { baseURL }) })) {
    it(`conformance: ${check.name}`, async () => {
      mode = 'ok';
      await check.run();
    });
  }

  it('drives a whole consensus run', async () => {
    mode = 'ok';
    const duh = new Consensus({
      models: [openAICompatible('big', { baseURL, provider: 'local', prices: { input: 1, output: 3 } }), openAICompatible('small', { baseURL, provider: 'other' })],
      rounds: 1,
    });
    const result = await duh.ask('Which database?');
    expect(result.decision).toMatch(/^Answer to: /);
    expect(result.usage.inputTokens).toBe(12 * 5);
  });

  it('maps 429 with Retry-After and a cut stream to retryable errors', async () => {
    const adapter = openAICompatible('m', { baseURL });
    const request = { messages: [{ role: 'user' as const, content: 'hi' }], maxOutputTokens: 10 };
    mode = '429';
    await expect(adapter.generate(request)).rejects.toMatchObject({ code: 'PROVIDER_RATE_LIMIT', retryAfterMs: 2000, retryable: true });
    mode = 'cut';
    const parts = [];
    for await (const part of adapter.stream(request)) parts.push(part);
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
  });
});

describe('README', () => {
  it('shows examples/readme.ts verbatim as its first example', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const first = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const example = readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8');
    expect(first).toBeDefined();
    expect(example.endsWith(first!)).toBe(true);
  });

  it('names exactly the two set-up commands, and npm test is the command CI runs', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm test ');
    expect(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toMatch(/\nnpm test\n/);
  });
});

describe('examples/real-providers.ts', () => {
  it('builds an engine over the real adapters without touching any SDK or key', async () => {
    const { createEngine } = await import('../examples/real-providers.js');
    const duh = createEngine();
    expect(duh.models.map((model) => model.ref)).toEqual(['openai:gpt-5.2', 'anthropic:claude-opus-4-6', 'google:gemini-3-pro-preview']);
    expect(duh.models[1]).toMatchObject({ inputPricePerMTok: 5, outputPricePerMTok: 25, maxOutputTokens: 128_000 });
  });
});

describe('examples/custom-storage.ts: a JSON-file driver with only the required methods', () => {
  let folder = '';
  let files = 0;
  /** A path in a folder of its own that does not exist yet: a fresh, empty driver per case. */
  const freshPath = () => join(folder, `store-${files++}`, 'duh.json');
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'duh-json-file-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  for (const check of storageDriverConformance({ create: () => jsonFileStorage({ path: freshPath() }) })) it(`conformance: ${check.name}`, check.run);

  it('keeps a Consensus run that a second driver on the file reads, recalls and costs through the core fallbacks', async () => {
    const path = freshPath();
    const models = [
      new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: { outputPricePerMTok: 25 }, reply: (_request, { system }) => (system.includes('independent experts') ? 'Shard the orders table by tenant.' : 'One orders table per region.') }),
      new MockAdapter({ ref: 'openai:gpt-5.2', reply: 'Tenants of very different sizes make shards uneven.' }),
    ];
    const principal = { id: 'alice', tenant: 'acme' };
    const result = await new Consensus({ models, storage: jsonFileStorage({ path }), rounds: 2 }).ask('How should we split the orders table?', { principal });

    const later = new Consensus({ models, storage: jsonFileStorage({ path }) });
    expect(later.storage.search).toBeUndefined();
    expect(later.storage.costReport).toBeUndefined();
    const thread = await later.threads.get(result.threadId.slice(0, 8), { principal });
    expect(thread).toMatchObject({ id: result.threadId, tenant: 'acme', userId: 'alice', status: 'complete', error: null, outcome: null });
    expect(thread.turns.map((turn) => turn.roundNumber)).toEqual(result.rounds.map((round) => round.round));
    expect(thread.turns.at(-1)?.decision?.content).toBe(result.decision);

    const hits = await later.recall('ORDERS TABLE', { principal });
    expect(hits.map((hit) => [hit.threadId, hit.decision])).toEqual([[result.threadId, result.decision]]);
    expect(await later.recall('orders table')).toEqual([]); // the default tenant sees nothing of acme's

    const rows = await later.cost({ principal, groupBy: 'model' });
    expect(rows.reduce((sum, row) => sum + row.costUsd, 0)).toBeCloseTo(result.cost.totalUsd, 12);
    expect(rows.reduce((sum, row) => sum + row.calls, 0)).toBe(result.usage.calls);

    await later.feedback(result.threadId, 'success', { principal, notes: 'shipped' });
    expect((await later.threads.get(result.threadId, { principal })).outcome).toMatchObject({ result: 'success', notes: 'shipped', roundNumber: result.rounds.length });
  });
});

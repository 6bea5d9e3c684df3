// duh/adapters/perplexity against Perplexity chat-completions answers (fixtures in __fixtures__/perplexity), served by msw to the real openai SDK.
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { stripThinking } from '../../adapters/_shared/openai-chat.js';
import { createPerplexity, perplexity, perplexityMetadata } from '../../adapters/perplexity.js';
import type { GenerateRequest } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, serializeError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { bearerKey, chatAnswer, drain, recordedChatApi, rejection, request as standardRequest, TENANT_KEY, textOf, withApiKeyCases } from './_helpers.js';

const API = 'https://api.perplexity.ai/chat/completions';
const KEY = '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'; // the shape of a Perplexity key
const CITATIONS = [
  'https://www.postgresql.org/docs/current/ddl-rowsecurity.html',
  'https://docs.citusdata.com/en/stable/use_cases/multi_tenant.html',
  'https://aws.amazon.com/blogs/database/multi-tenant-data-isolation-with-postgresql-row-level-security/',
];

const { server, replay, answer, failWith, capture, holdUntilAborted, scenarios } = recordedChatApi('perplexity', API);

/** The standard request, with a question a search model can cite sources for. */
const request: GenerateRequest = {
  ...standardRequest,
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'How should a SaaS isolate tenant data in Postgres?' },
  ],
};
const provider = () => createPerplexity({ apiKey: KEY });

describe('perplexity adapter: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: API,
    create: () => provider()('sonar-pro'),
    ownKey: KEY,
    keyOf: bearerKey,
    answer: chatAnswer(replay),
    // Perplexity answers a bad key with an HTML page; a gateway in front of it may echo the key as JSON.
    unauthorized: (key) => HttpResponse.json({ error: { message: `Invalid API key: ${key}`, type: 'invalid_api_key', code: 401 } }, { status: 401 }),
    keyless: { env: ['PERPLEXITY_API_KEY'], create: () => createPerplexity()('sonar-pro') },
  })) {
    it(check.name, check.run);
  }

  it('keeps the per-model settings and the provider settings of the original', async () => {
    const sent = capture();
    const original = createPerplexity({ apiKey: KEY, maxTokensParam: 'max_tokens', headers: { 'x-team': 'research' } })('sonar', { info: { displayName: 'Sonar for tenants' } });
    await original.withApiKey!(TENANT_KEY).generate(request);
    expect(bearerKey(sent[0]!.headers)).toBe(TENANT_KEY);
    expect(sent[0]!.headers.get('x-team')).toBe('research');
    expect(sent[0]!.body['max_tokens']).toBe(64);
    expect(original.withApiKey!(TENANT_KEY).info.displayName).toBe('Sonar for tenants');
  });
});

describe('perplexity adapter: conformance', () => {
  // No contentFilter scenario: Perplexity has no content-filter finish reason (it only sends stop and length).
  // No toolCall scenario: Sonar's chat completions have no tool calling (see 'perplexity adapter: tools').
  for (const check of modelAdapterConformance({
    create: () => provider()('sonar-pro'),
    scenarios,
  })) {
    it(check.name, check.run);
  }
});

describe('perplexity adapter: request mapping', () => {
  it('sends max_completion_tokens, temperature and system messages to api.perplexity.ai', async () => {
    vi.stubEnv('OPENAI_ORG_ID', 'org-must-not-leak');
    vi.stubEnv('OPENAI_BASE_URL', 'https://api.openai.com/v1');
    const sent = capture();
    await drain(provider()('sonar-pro').stream({ ...request, stopSequences: ['\n\n'] }));
    expect(sent[0]!.url).toBe(API);
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
    expect(sent[0]!.headers.get('openai-organization')).toBeNull();
    expect(sent[0]!.body).toEqual({
      model: 'sonar-pro',
      messages: request.messages,
      max_completion_tokens: 64,
      temperature: 0.2,
      stop: ['\n\n'],
      stream: true,
    });
  });

  it('asks for JSON through the prompt only, and merges providerOptions.perplexity', async () => {
    const sent = capture();
    await provider()('sonar').generate({ ...request, responseFormat: 'json', providerOptions: { perplexity: { search_recency_filter: 'month', web_search_options: { search_context_size: 'high' } } } });
    expect(sent[0]!.body).not.toHaveProperty('response_format');
    expect(sent[0]!.body).not.toHaveProperty('stream');
    expect(sent[0]!.body).toMatchObject({ search_recency_filter: 'month', web_search_options: { search_context_size: 'high' }, max_completion_tokens: 64 });
  });

  it('can send max_tokens instead', async () => {
    const sent = capture();
    await createPerplexity({ apiKey: KEY, maxTokensParam: 'max_tokens' })('sonar').generate(request);
    expect(sent[0]!.body['max_tokens']).toBe(64);
    expect(sent[0]!.body).not.toHaveProperty('max_completion_tokens');
  });
});

describe('perplexity adapter: citations and answers', () => {
  it('keeps citations and search results on the stream finish part', async () => {
    const parts = await drain(provider()('sonar-pro').stream(request));
    expect(textOf(parts)).toBe('Use row-level security with a tenant_id column[1][3].');
    const finish = parts.at(-1);
    expect(finish?.type).toBe('finish');
    if (finish?.type !== 'finish') return;
    expect(finish.finishReason).toBe('stop');
    expect(finish.usage).toEqual({ inputTokens: 31, outputTokens: 11 });
    const metadata = finish.providerMetadata?.['perplexity'] as { citations: string[]; searchResults: { url: string; title: string }[]; costUsd: number };
    expect(metadata.citations).toEqual(CITATIONS);
    expect(metadata.searchResults.map((result) => result.url)).toEqual(CITATIONS);
    expect(metadata.searchResults[0]!.title).toBe('PostgreSQL: Documentation: 18: 5.9. Row Security Policies');
    expect(metadata.costUsd).toBe(0.00627);
  });

  it('keeps citations on the generate() result', async () => {
    const result = await provider()('sonar-pro').generate(request);
    expect(result.text).toBe('Use row-level security with a tenant_id column[1][3].');
    expect(result.usage).toEqual({ inputTokens: 31, outputTokens: 11 });
    expect((result.providerMetadata?.['perplexity'] as { citations: string[] }).citations).toEqual(CITATIONS);
  });

  it('takes citations from search_results when `citations` is absent', () => {
    expect(perplexityMetadata({ search_results: [{ url: 'https://a.example', title: 'A' }, { title: 'no url' }] })).toEqual({
      citations: ['https://a.example'],
      searchResults: [{ url: 'https://a.example', title: 'A' }, { title: 'no url' }],
    });
    expect(perplexityMetadata({ choices: [] })).toBeUndefined();
  });

  it('reports length with citations from a citations-only stream', async () => {
    server.use(answer('stream-length', 'complete-length'));
    const parts = await drain(provider()('sonar').stream(request));
    const finish = parts.at(-1);
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'length', usage: { inputTokens: 29, outputTokens: 9 } });
    expect(finish?.type === 'finish' && finish.providerMetadata).toEqual({ perplexity: { citations: CITATIONS, costUsd: 0.00504 } });
  });

  it('drops the <think> block of reasoning models and counts reasoning tokens', async () => {
    server.use(answer('stream-reasoning', 'complete-reasoning'));
    const model = provider()('sonar-reasoning-pro');
    const parts = await drain(model.stream(request));
    expect(textOf(parts)).toBe('Use row-level security[1].');
    expect(parts.at(-1)).toMatchObject({ type: 'finish', usage: { inputTokens: 35, outputTokens: 13, reasoningTokens: 9 } });
    const result = await model.generate(request);
    expect(result.text).toBe('Use row-level security[1].');
    expect(stripThinking('no thinking here')).toBe('no thinking here');
    expect(stripThinking('  <think>a</think>\n\nanswer')).toBe('answer');
    expect(stripThinking('<think>never closed')).toBe('');
    expect(stripThinking('<thin')).toBe('<thin');
  });

  it('never reports a cut stream as an answer', async () => {
    server.use(answer('stream-cut', 'complete-cut'));
    const parts = await drain(provider()('sonar-pro').stream(request));
    expect(parts.some((part) => part.type === 'finish')).toBe(false);
    expect(textOf(parts)).toBe('Use row-level security');
  });
});

describe('perplexity adapter: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' };
  const call = { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' };

  it('refuses tools before sending anything, as a non-retryable bad request', async () => {
    const sent = capture();
    const model = provider()('sonar-pro');
    const asked: GenerateRequest[] = [withTools, { ...withTools, toolChoice: 'required' }, { ...withTools, toolChoice: { name: 'get_weather' } }, { ...request, tools: [CONFORMANCE_TOOL] }];
    for (const toolRequest of asked) {
      for (const run of [() => model.generate(toolRequest), () => drain(model.stream(toolRequest))]) {
        const error = await rejection(run());
        expect(ProviderError.isInstance(error)).toBe(true);
        expect(error).toMatchObject({ kind: 'bad-request', retryable: false, provider: 'perplexity', model: 'sonar-pro' });
        expect((error as Error).message).toContain('Tool calling is not supported');
      }
    }
    expect(sent).toHaveLength(0);
  });

  it('refuses tool calls and tool results in the conversation', async () => {
    const sent = capture();
    const model = provider()('sonar');
    const histories: GenerateRequest['messages'][] = [
      [...request.messages, { role: 'assistant', content: '', toolCalls: [call] }, { role: 'user', content: 'Go on.' }],
      [...request.messages, { role: 'tool', toolCallId: call.id, toolName: call.name, content: '{"temperature_c":18}' }],
    ];
    for (const messages of histories) {
      const error = await rejection(model.generate({ ...request, messages }));
      expect(error).toMatchObject({ kind: 'bad-request', retryable: false });
      expect((error as Error).message).toContain('tool calls or tool results');
    }
    expect(sent).toHaveLength(0);
  });

  it('sends a request whose toolChoice is none without the tools, and plain assistant turns as they are', async () => {
    const sent = capture();
    const messages: GenerateRequest['messages'] = [
      ...request.messages,
      { role: 'assistant', content: 'Row-level security[1].', toolCalls: [] },
      { role: 'user', content: 'And for MySQL?' },
    ];
    const result = await provider()('sonar-pro').generate({ ...withTools, toolChoice: 'none', messages });
    expect(result.finishReason).toBe('stop');
    expect(result).not.toHaveProperty('toolCalls');
    expect(sent[0]!.body).not.toHaveProperty('tools');
    expect(sent[0]!.body).not.toHaveProperty('tool_choice');
    expect(sent[0]!.body['messages']).toEqual([...request.messages, { role: 'assistant', content: 'Row-level security[1].' }, { role: 'user', content: 'And for MySQL?' }]);
  });

  it('maps Perplexity\'s 400 to tools passed through providerOptions as a bad request', async () => {
    server.use(failWith('error-400-tools'));
    const error = await rejection(provider()('sonar').generate({ ...request, providerOptions: { perplexity: { tools: [{ type: 'function', function: CONFORMANCE_TOOL }] } } }));
    expect(error).toMatchObject({ kind: 'bad-request', retryable: false, status: 400 });
    expect((error as Error).message).toContain('Tool calling is not supported for this model');
  });
});

describe('perplexity adapter: errors', () => {
  it('turns the HTML 401 page into a short auth error naming PERPLEXITY_API_KEY', async () => {
    server.use(failWith('error-401'));
    const error = await rejection(provider()('sonar-pro').generate(request));
    expect(error).toMatchObject({ kind: 'auth', retryable: false, status: 401 });
    expect((error as Error).message).toBe('[perplexity:sonar-pro] HTTP 401: 401 Authorization Required The API key was rejected. Check the `apiKey` option or the PERPLEXITY_API_KEY environment variable.');
  });

  it('maps invalid_model to model-not-found', async () => {
    server.use(failWith('error-400-invalid-model'));
    const error = await rejection(drain(provider()('sonar-ultra').stream(request)));
    expect(error).toMatchObject({ kind: 'model-not-found', retryable: false, status: 400 });
    expect((error as Error).message).toContain('sonar, sonar-pro, sonar-deep-research');
  });

  it('maps 429 with Retry-After and 503 as overloaded', async () => {
    server.use(failWith('error-429'));
    const limited = await rejection(provider()('sonar').generate(request));
    expect(ProviderRateLimitError.isInstance(limited)).toBe(true);
    expect(limited).toMatchObject({ retryAfterMs: 2000 });
    server.use(failWith('error-503'));
    const overloaded = await rejection(provider()('sonar').generate(request));
    expect(overloaded).toMatchObject({ kind: 'overloaded', retryable: true, status: 503 });
    expect((overloaded as Error).message).toContain('503 Service Temporarily Unavailable');
  });

  it('never puts the key in an error message, even when the provider echoes it', async () => {
    server.use(http.post(API, () => HttpResponse.json({ error: { message: `Invalid API key: ${KEY}`, type: 'invalid_api_key', code: 401 } }, { status: 401 }), { once: true }));
    const error = await rejection(provider()('sonar').generate(request));
    expect(ProviderError.isInstance(error)).toBe(true);
    expect((error as Error).message).not.toContain(KEY);
    expect((error as Error).message).not.toContain(KEY.slice(5));
    expect(JSON.stringify(serializeError(error))).not.toContain(KEY.slice(5));
  });
});

describe('perplexity adapter: settings and catalog', () => {
  it('reads PERPLEXITY_API_KEY on first use and says where to put it when missing', async () => {
    vi.stubEnv('PERPLEXITY_API_KEY', '');
    const missing = await rejection(createPerplexity()('sonar').generate(request));
    expect(InvalidOptionError.isInstance(missing)).toBe(true);
    expect((missing as Error).message).toMatch(/Perplexity API key is missing.*PERPLEXITY_API_KEY/);
    vi.stubEnv('PERPLEXITY_API_KEY', KEY);
    const sent = capture();
    await perplexity('sonar').generate(request);
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
  });

  it('uses a passed client', async () => {
    const calls: unknown[] = [];
    const client = {
      chat: {
        completions: {
          create: (async (body: unknown) => {
            calls.push(body);
            return { choices: [{ message: { content: 'cited' }, finish_reason: 'stop' }], citations: ['https://x.example'] };
          }) as (...args: never[]) => unknown,
        },
      },
    };
    const result = await createPerplexity({ client })('sonar').generate(request);
    expect(result).toEqual({ text: 'cited', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 }, providerMetadata: { perplexity: { citations: ['https://x.example'] } } });
    expect(calls).toHaveLength(1);
  });

  it('marks every model challenger-only, known or not', () => {
    expect(perplexity.models()).toEqual(['sonar', 'sonar-pro', 'sonar-deep-research']);
    for (const id of [...perplexity.models(), 'sonar-reasoning-pro', 'r1-1776']) expect(perplexity(id).info.proposerEligible).toBe(false);
    expect(perplexity('sonar-pro').info).toMatchObject({ provider: 'perplexity', displayName: 'Sonar Pro', inputPricePerMTok: 3, outputPricePerMTok: 15, maxOutputTokens: 8192 });
    expect(perplexity('sonar-reasoning-pro').info).toMatchObject({ inputPricePerMTok: 0, outputPricePerMTok: 0, contextWindow: 128_000 });
  });

  it('passes the signal to the HTTP request', async () => {
    const held = holdUntilAborted();
    const controller = new AbortController();
    const pending = rejection(drain(provider()('sonar').stream(request, { signal: controller.signal })));
    await held.arrived;
    controller.abort();
    expect(ProviderError.isInstance(await pending)).toBe(false);
    expect(held.signal?.aborted).toBe(true);
  });
});

describe('perplexity adapter: in a consensus run', () => {
  it('challenges with citations that reach the contribution', async () => {
    const proposer = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: { inputPricePerMTok: 5, outputPricePerMTok: 25 }, reply: 'Use Postgres schemas per tenant.' });
    const classifier = new MockAdapter({
      ref: 'google:gemini-2.5-flash',
      info: { inputPricePerMTok: 0.3, outputPricePerMTok: 2.5 },
      reply: (req) => (req.messages.at(-1)!.content.startsWith('Classify') ? '{"intent":"technical","category":"databases","genus":"multi-tenancy"}' : 'Schemas multiply migrations.'),
    });
    const sonar = provider()('sonar-pro');
    const result = await new Consensus({ models: [proposer, sonar, classifier], rounds: 1 }).ask('How should a SaaS isolate tenant data in Postgres?');
    expect(result.rounds[0]!.proposal.model).toBe('anthropic:claude-opus-4-6');
    const challenge = result.rounds[0]!.challenges.find((contribution) => contribution.model === 'perplexity:sonar-pro');
    expect(challenge?.text).toBe('Use row-level security with a tenant_id column[1][3].');
    expect((challenge?.providerMetadata?.['perplexity'] as { citations: string[] }).citations).toEqual(CITATIONS);
    expect(result.cost.byModel['perplexity:sonar-pro']).toBeCloseTo((31 * 3 + 11 * 15) / 1e6, 12);
  });

  it('is rejected as the only model (challenger-only)', () => {
    expect(() => new Consensus({ models: [provider()('sonar-pro')] })).toThrow(InvalidOptionError);
  });
});

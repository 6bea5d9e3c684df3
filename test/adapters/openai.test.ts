// duh/adapters/openai against OpenAI chat-completions answers (fixtures in __fixtures__/openai), served by msw to the real openai SDK.
import { http, HttpResponse } from 'msw';
import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { finishReasonOf, durationMs, ToolCallAccumulator, toolCallsOf, usageOf } from '../../adapters/_shared/openai-chat.js';
import { createOpenAI, isOpenAIReasoningModel, openai, type OpenAIChatClient } from '../../adapters/openai.js';
import type { GenerateRequest, StreamPart } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError, serializeError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { bearerKey, chatAnswer, drain, recordedChatApi, rejection, request, TENANT_KEY, withApiKeyCases } from './_helpers.js';

const API = 'https://api.openai.com/v1/chat/completions';
const KEY = 'sk-proj-Tq8Vb2Xn5Lm9Wc3Rk7Hs1Jd4Fg6Pa0Ye2Uz8Io5Kb7Nc1Mx'; // the shape of an OpenAI project key

const { server, fixture, replay, answer, failWith, capture, holdUntilAborted, scenarios } = recordedChatApi('openai', API);

const provider = () => createOpenAI({ apiKey: KEY });

describe('openai adapter: conformance', () => {
  for (const check of modelAdapterConformance({
    create: () => provider()('gpt-5.2'),
    scenarios: {
      ...scenarios,
      contentFilter: () => server.use(answer('stream-content-filter', 'complete-content-filter', { once: true })),
      toolCall: () => server.use(answer('stream-tool-call', 'complete-tool-call', { once: true })),
    },
  })) {
    it(check.name, check.run);
  }
});

/** OpenAI's 401, which echoes (part of) the key it was given. */
const invalidKey = (key: string) =>
  HttpResponse.json(
    { error: { message: `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
    { status: 401, headers: { 'x-request-id': 'req_401' } },
  );

describe('openai adapter: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: API,
    create: () => provider()('gpt-5.2'),
    ownKey: KEY,
    keyOf: bearerKey,
    answer: chatAnswer(replay),
    unauthorized: invalidKey,
    keyless: { env: ['OPENAI_API_KEY'], create: () => createOpenAI()('gpt-5.2') },
  })) {
    it(check.name, check.run);
  }

  it('keeps the model settings, base URL, headers, organization, project and fetch of the original', async () => {
    const proxy = 'https://llm-gateway.example.com/openai/v1';
    const sent: { headers: Headers; body: Record<string, unknown> }[] = [];
    server.use(
      http.post(`${proxy}/chat/completions`, async ({ request: sentRequest }) => {
        sent.push({ headers: sentRequest.headers, body: (await sentRequest.clone().json()) as Record<string, unknown> });
        return replay('complete-ok');
      }),
    );
    const fetch = vi.fn<typeof globalThis.fetch>((input, init) => globalThis.fetch(input, init));
    const custom = createOpenAI({ apiKey: KEY, baseURL: proxy, headers: { 'x-team': 'research' }, organization: 'org-acme', project: 'proj_duh', fetch, models: { 'my-tune': { outputPricePerMTok: 9 } } });
    const original = custom('my-tune', { reasoning: true, info: { displayName: 'Tuned' } });
    const copy = original.withApiKey!(TENANT_KEY);
    expect(copy.info).toEqual(original.info);
    await copy.generate(request);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(bearerKey(sent[0]!.headers)).toBe(TENANT_KEY);
    expect(sent[0]!.headers.get('x-team')).toBe('research');
    expect(sent[0]!.headers.get('openai-organization')).toBe('org-acme');
    expect(sent[0]!.headers.get('openai-project')).toBe('proj_duh');
    expect(sent[0]!.body).not.toHaveProperty('temperature'); // `reasoning: true` kept
  });

  it('makes a passed SDK client into a copy with client.withOptions({ apiKey }), leaving the original client alone', async () => {
    const proxy = 'https://azure-like.example.com/v1';
    const sent: Headers[] = [];
    server.use(http.post(`${proxy}/chat/completions`, ({ request: sentRequest }) => (sent.push(sentRequest.headers), replay('complete-ok'))));
    const client = new OpenAI({ apiKey: KEY, baseURL: proxy, maxRetries: 0, defaultHeaders: { 'x-deployment': 'eu' }, fetch: (input, init) => globalThis.fetch(input, init) });
    const original = createOpenAI({ client })('gpt-5.2');
    const copy = original.withApiKey!(TENANT_KEY);
    await copy.generate(request);
    await original.generate(request);
    expect(sent.map(bearerKey)).toEqual([TENANT_KEY, KEY]);
    expect(sent[0]!.get('x-deployment')).toBe('eu');
    expect(client.apiKey).toBe(KEY);
  });

  it('refuses a copy of a model made with a client that cannot change its key, saying to pass apiKey instead', () => {
    const fake: OpenAIChatClient = { chat: { completions: { create: (() => ({})) as (...args: never[]) => unknown } } };
    const error = (() => {
      try {
        return createOpenAI({ client: fake })('gpt-5.2').withApiKey!(TENANT_KEY);
      } catch (caught) {
        return caught;
      }
    })();
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ option: 'client' });
    expect((error as Error).message).toMatch(/`client`.*withOptions\(\).*Pass `apiKey`/s);
    expect((error as Error).message).not.toContain(TENANT_KEY);
  });
});

describe('openai adapter: request mapping', () => {
  it('streams with max_completion_tokens, temperature, system messages and include_usage', async () => {
    const sent = capture();
    const parts = await drain(provider()('gpt-5.2').stream(request));
    expect(parts.map((part) => part.type)).toEqual(['text-delta', 'finish']);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe(API);
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
    expect(sent[0]!.headers.get('x-stainless-retry-count')).toBe('0');
    expect(sent[0]!.body).toEqual({
      model: 'gpt-5.2',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Reply with the single word: ok' },
      ],
      max_completion_tokens: 64,
      temperature: 0.2,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('generate() sends a non-streaming request', async () => {
    const sent = capture();
    const result = await provider()('gpt-5.2').generate(request);
    expect(result.text).toBe('ok');
    expect(sent[0]!.body).toEqual({
      model: 'gpt-5.2',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Reply with the single word: ok' },
      ],
      max_completion_tokens: 64,
      temperature: 0.2,
    });
  });

  it('asks for a JSON object and passes stop sequences', async () => {
    const sent = capture();
    await provider()('gpt-5.2').generate({ ...request, responseFormat: 'json', stopSequences: ['\n\n'] });
    expect(sent[0]!.body['response_format']).toEqual({ type: 'json_object' });
    expect(sent[0]!.body['stop']).toEqual(['\n\n']);
    expect(sent[0]!.body).not.toHaveProperty('max_tokens');
  });

  it('omits temperature and stop for reasoning models and sends the system prompt as a developer message', async () => {
    const sent = capture('stream-reasoning-cache', 'complete-reasoning-cache');
    for (const model of ['o3', 'o4-mini', 'gpt-5', 'gpt-5-mini-2025-08-07', 'gpt-5-nano']) {
      await provider()(model).generate({ ...request, stopSequences: ['END'] });
    }
    for (const { body } of sent) {
      expect(body).not.toHaveProperty('temperature');
      expect(body).not.toHaveProperty('stop');
      expect(body['max_completion_tokens']).toBe(64);
      expect((body['messages'] as { role: string }[])[0]!.role).toBe('developer');
    }
    expect(sent.map(({ body }) => body['model'])).toEqual(['o3', 'o4-mini', 'gpt-5', 'gpt-5-mini-2025-08-07', 'gpt-5-nano']);
  });

  it('merges the system prompt into the first user message for o1-mini', async () => {
    const sent = capture();
    await provider()('o1-mini').generate(request);
    expect(sent[0]!.body['messages']).toEqual([{ role: 'user', content: 'You are terse.\n\nReply with the single word: ok' }]);
  });

  it('lets a per-model `reasoning` setting override the id-based guess', async () => {
    const sent = capture();
    await provider()('my-fine-tune', { reasoning: true }).generate(request);
    await provider()('o3', { reasoning: false }).generate(request);
    expect(sent[0]!.body).not.toHaveProperty('temperature');
    expect(sent[1]!.body['temperature']).toBe(0.2);
    expect((sent[1]!.body['messages'] as { role: string }[])[0]!.role).toBe('system');
  });

  it('drops temperature for gpt-5.2 only when a reasoning_effort is passed, and merges providerOptions', async () => {
    const sent = capture();
    const model = provider()('gpt-5.2');
    await model.generate({ ...request, providerOptions: { openai: { reasoning_effort: 'high', service_tier: 'flex', stream: true } } });
    await model.generate({ ...request, providerOptions: { openai: { reasoning_effort: 'none' }, anthropic: { top_k: 3 } } });
    expect(sent[0]!.body).toMatchObject({ reasoning_effort: 'high', service_tier: 'flex' });
    expect(sent[0]!.body).not.toHaveProperty('temperature');
    expect(sent[0]!.body).not.toHaveProperty('stream'); // the escape hatch cannot turn generate() into a stream
    expect(sent[1]!.body['temperature']).toBe(0.2);
    expect(sent[1]!.body).not.toHaveProperty('top_k');
  });

  it('recognises reasoning models by id', () => {
    const reasoning = ['o1', 'o1-2024-12-17', 'o1-mini', 'o3', 'o3-mini', 'o3-pro', 'o4-mini', 'o4-mini-2025-04-16', 'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-5-2025-08-07', 'gpt-5-pro', 'gpt-5.2-pro'];
    const plain = ['gpt-5.2', 'gpt-5.1', 'gpt-5-chat-latest', 'gpt-4.1', 'gpt-4o-mini', 'omni-moderation-latest'];
    expect(reasoning.filter((id) => !isOpenAIReasoningModel(id))).toEqual([]);
    expect(plain.filter((id) => isOpenAIReasoningModel(id))).toEqual([]);
  });
});

describe('openai adapter: answers', () => {
  it('maps usage with cached and reasoning tokens (stream and generate)', async () => {
    server.use(answer('stream-reasoning-cache', 'complete-reasoning-cache'));
    const model = provider()('o3');
    const parts = await drain(model.stream(request));
    const finish = parts.at(-1);
    const expected = { inputTokens: 1536, outputTokens: 214, cacheReadTokens: 1280, reasoningTokens: 192 };
    expect(finish).toEqual({ type: 'finish', finishReason: 'stop', usage: expected, providerMetadata: { openai: { requestId: fixture('stream-reasoning-cache').headers['x-request-id'] } } });
    expect(parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('')).toBe('Shard by tenant.');
    const result = await model.generate(request);
    expect(result).toEqual({ text: 'Shard by tenant.', finishReason: 'stop', usage: expected, providerMetadata: { openai: { requestId: fixture('complete-reasoning-cache').headers['x-request-id'] } } });
  });

  it('maps usage fields and finish reasons', () => {
    expect(usageOf({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })).toEqual({ inputTokens: 10, outputTokens: 5 });
    expect(usageOf(null)).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(usageOf({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 3 } })).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      cacheReadTokens: 8,
      reasoningTokens: 3,
    });
    expect(['stop', 'length', 'tool_calls', 'function_call', 'content_filter', 'eos'].map(finishReasonOf)).toEqual(['stop', 'length', 'tool-calls', 'tool-calls', 'content-filter', 'stop']);
  });

  it('reports finish reason length with the text so far', async () => {
    server.use(answer('stream-length', 'complete-length'));
    const result = await provider()('gpt-5.2').generate(request);
    expect(result.finishReason).toBe('length');
    expect(result.text).toBe('Use Postgres with row-level security and a tenant_id column on');
    expect(result.usage).toEqual({ inputTokens: 22, outputTokens: 64, cacheReadTokens: 0, reasoningTokens: 0 });
  });

  it('treats a stream cut after finish_reason but before the usage chunk as cut', async () => {
    server.use(answer('stream-cut-before-usage', 'complete-ok'));
    const parts = await drain(provider()('gpt-5.2').stream(request));
    expect(parts).toEqual([{ type: 'text-delta', text: 'ok' }]);
  });

  it('yields no finish part when the body breaks mid-stream', async () => {
    const events = fixture('stream-cut').body.split('\n\n').filter(Boolean);
    server.use(
      http.post(API, () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const event of events) controller.enqueue(new TextEncoder().encode(`${event}\n\n`));
            // The socket closes after the headers and some events went out.
            setTimeout(() => controller.error(new TypeError('terminated')), 5);
          },
        });
        return new HttpResponse(body, { status: 200, headers: fixture('stream-cut').headers });
      }),
    );
    const outcome = await drain(provider()('gpt-5.2').stream(request)).catch((error: unknown) => error);
    if (Array.isArray(outcome)) {
      expect(outcome).toEqual([
        { type: 'text-delta', text: 'Use' },
        { type: 'text-delta', text: ' Postgres' },
      ]);
    } else {
      expect(TruncatedStreamError.isInstance(outcome) && outcome.partialText === 'Use Postgres').toBe(true);
    }
  });

  it('generate() on a truncated JSON body throws a TruncatedStreamError', async () => {
    server.use(answer('stream-cut', 'complete-cut'));
    const error = await rejection(provider()('gpt-5.2').generate(request));
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
  });
});

describe('openai adapter: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' };
  const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'The current weather in a city.', parameters: CONFORMANCE_TOOL.parameters } };

  it('sends tools as function tools and maps every toolChoice', async () => {
    const sent = capture('stream-tool-call', 'complete-tool-call');
    const model = provider()('gpt-5.2');
    await drain(model.stream(withTools));
    expect(sent[0]!.body).toEqual({
      model: 'gpt-5.2',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Reply with the single word: ok' },
      ],
      max_completion_tokens: 64,
      temperature: 0.2,
      tools: [weatherTool],
      tool_choice: 'auto',
      stream: true,
      stream_options: { include_usage: true },
    });
    await model.generate({ ...withTools, toolChoice: 'required' });
    await model.generate({ ...withTools, toolChoice: 'none' });
    await model.generate({ ...withTools, toolChoice: { name: 'get_weather' } });
    await model.generate({ ...request, tools: [CONFORMANCE_TOOL] }); // no toolChoice: the API's default (auto)
    await model.generate({ ...request, toolChoice: 'required' }); // a choice without tools sends neither
    await model.generate({ ...withTools, tools: [] });
    expect(sent.slice(1).map(({ body }) => body['tool_choice'])).toEqual(['required', 'none', { type: 'function', function: { name: 'get_weather' } }, undefined, undefined, undefined]);
    expect(sent.slice(1).map(({ body }) => 'tools' in body)).toEqual([true, true, true, true, false, false]);
  });

  it('lets providerOptions.openai add tool settings such as parallel_tool_calls', async () => {
    const sent = capture('stream-tool-call', 'complete-tool-call');
    await provider()('gpt-5.2').generate({ ...withTools, providerOptions: { openai: { parallel_tool_calls: false } } });
    expect(sent[0]!.body).toMatchObject({ tools: [weatherTool], tool_choice: 'auto', parallel_tool_calls: false });
  });

  it('assembles a streamed tool call from its argument fragments and yields it once, before finish', async () => {
    server.use(answer('stream-tool-call', 'complete-tool-call'));
    const parts = await drain(provider()('gpt-5.2').stream(withTools));
    expect(parts).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_Vq3TnR8xLm2Wc7Kb4Hs9Jd1F', name: 'get_weather', arguments: '{"city":"Paris"}' } },
      {
        type: 'finish',
        finishReason: 'tool-calls',
        usage: { inputTokens: 71, outputTokens: 17, cacheReadTokens: 0, reasoningTokens: 0 },
        providerMetadata: { openai: { requestId: fixture('stream-tool-call').headers['x-request-id'] } },
      },
    ]);
  });

  it('returns the tool calls of a non-streamed answer', async () => {
    server.use(answer('stream-tool-call', 'complete-tool-call'));
    const result = await provider()('gpt-5.2').generate(withTools);
    expect(result).toEqual({
      text: '',
      toolCalls: [{ id: 'call_Hd7Pa0Ye2Uz8Io5Kb7Nc1MxQ', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      finishReason: 'tool-calls',
      usage: { inputTokens: 71, outputTokens: 17, cacheReadTokens: 0, reasoningTokens: 0 },
      providerMetadata: { openai: { requestId: fixture('complete-tool-call').headers['x-request-id'] } },
    });
  });

  it('keeps parallel calls apart by index, in order', async () => {
    server.use(answer('stream-tool-calls-parallel', 'complete-tool-call'));
    const parts = await drain(provider()('gpt-5.2').stream(withTools));
    expect(parts.filter((part) => part.type === 'tool-call')).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_Rk5Hd3Jf6Ps0YaXq2Lm7Vb4T', name: 'get_weather', arguments: '{"city": "Paris"}' } },
      { type: 'tool-call', toolCall: { id: 'call_Nc8Wm1Qz4Ty7Uo2Ke5Lg9Bd3S', name: 'get_weather', arguments: '{"city": "Tokyo"}' } },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 79, outputTokens: 46 } });
  });

  it('sends the follow-up turn with the assistant\'s tool_calls and the tool result natively', async () => {
    const sent = capture('stream-tool-call', 'complete-tool-call');
    const call = { id: 'call_Hd7Pa0Ye2Uz8Io5Kb7Nc1MxQ', name: 'get_weather', arguments: '{"city":"Paris"}' };
    const followUp: GenerateRequest = {
      ...withTools,
      messages: [
        ...request.messages,
        { role: 'assistant', content: '', toolCalls: [call] },
        { role: 'tool', toolCallId: call.id, toolName: call.name, content: '{"temperature_c":18}' },
        { role: 'assistant', content: 'Checking Tokyo too.', toolCalls: [{ id: 'call_2', name: 'get_weather', arguments: '{"city":"Tokyo"}' }] },
        { role: 'tool', toolCallId: 'call_2', toolName: 'get_weather', content: '{"temperature_c":9}' },
        { role: 'assistant', content: 'Paris is 18 °C.' },
        { role: 'user', content: 'And tomorrow?' },
      ],
    };
    await provider()('gpt-5.2').generate(followUp);
    expect(sent[0]!.body['messages']).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Reply with the single word: ok' },
      { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: call.id, content: '{"temperature_c":18}' },
      { role: 'assistant', content: 'Checking Tokyo too.', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } }] },
      { role: 'tool', tool_call_id: 'call_2', content: '{"temperature_c":9}' },
      { role: 'assistant', content: 'Paris is 18 °C.' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    // o1-mini's merged system prompt still lands in the first user message.
    await provider()('o1-mini').generate(followUp);
    const merged = sent[1]!.body['messages'] as Record<string, unknown>[];
    expect(merged[0]).toEqual({ role: 'user', content: 'You are terse.\n\nReply with the single word: ok' });
    expect(merged.slice(1, 3)).toEqual((sent[0]!.body['messages'] as unknown[]).slice(2, 4));
  });

  it('yields no tool call from a stream cut before its finish_reason', async () => {
    const events = fixture('stream-tool-call').body.split('\n\n').filter(Boolean).slice(0, 3);
    server.use(http.post(API, () => new HttpResponse(`${events.join('\n\n')}\n\n`, { status: 200, headers: fixture('stream-tool-call').headers }), { once: true }));
    expect(await drain(provider()('gpt-5.2').stream(withTools))).toEqual([]);
  });

  it('reads calls without ids, object arguments and a "stop" finish from lenient servers', async () => {
    const answerWith = (message: unknown, finish: string): OpenAIChatClient => ({
      chat: { completions: { create: (async () => ({ choices: [{ message, finish_reason: finish }], usage: { prompt_tokens: 5, completion_tokens: 6 } })) as (...args: never[]) => unknown } },
    });
    const lenient = await createOpenAI({ client: answerWith({ content: null, tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }, { id: '', function: { name: 'get_time', arguments: '{}' } }, { id: 'x', function: { arguments: '{}' } }] }, 'stop') })('gpt-5.2').generate(withTools);
    expect(lenient).toEqual({
      text: '',
      toolCalls: [
        { id: 'call_0', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_1', name: 'get_time', arguments: '{}' },
      ],
      finishReason: 'tool-calls',
      usage: { inputTokens: 5, outputTokens: 6 },
    });
    const cut = await createOpenAI({ client: answerWith({ content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] }, 'length') })('gpt-5.2').generate(withTools);
    expect(cut.finishReason).toBe('length');
    expect(toolCallsOf({ tool_calls: 'nope' })).toEqual([]);
    expect(toolCallsOf(undefined)).toEqual([]);
  });

  it('assembles fragments without index, with repeated names or ids, and parallel calls at one index', () => {
    const byIndex = new ToolCallAccumulator();
    byIndex.push([{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } }]);
    byIndex.push([{ index: 0, id: 'a', function: { name: 'f', arguments: '{"x"' } }]); // name and id repeated: same call
    byIndex.push([{ index: 0, id: 'a-fresh', function: { arguments: ':1}' } }]); // a fresh id without a name: same call
    byIndex.push([{ index: 0, id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } }]); // another named call at index 0
    byIndex.push([{ index: 3, function: { arguments: 'orphan' } }]); // never named: dropped
    byIndex.push('not a list');
    expect(byIndex.calls()).toEqual([
      { id: 'a', name: 'f', arguments: '{"x":1}' },
      { id: 'b', name: 'g', arguments: '{}' },
    ]);
    const noIndex = new ToolCallAccumulator();
    noIndex.push([{ function: { name: 'f', arguments: '{"a":' } }]);
    noIndex.push([{ function: { arguments: '1}' } }]);
    noIndex.push([{ function: { name: 'g', arguments: { b: 2 } } }]);
    expect(noIndex.calls()).toEqual([
      { id: 'call_0', name: 'f', arguments: '{"a":1}' },
      { id: 'call_1', name: 'g', arguments: '{"b":2}' },
    ]);
  });
});

describe('openai adapter: errors', () => {
  it('prefers retry-after-ms and keeps the request id', async () => {
    server.use(failWith('error-429-ms'));
    const error = await rejection(provider()('gpt-5.2').generate(request));
    expect(ProviderRateLimitError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: 1460, status: 429, requestId: fixture('error-429-ms').headers['x-request-id'] });
    expect((error as Error).message).toContain('tokens per min');
  });

  it('derives the wait from x-ratelimit-reset-* when no Retry-After came', async () => {
    server.use(failWith('error-429-reset-only'));
    const error = await rejection(drain(provider()('gpt-5.2').stream(request)));
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: 60_500 });
    expect(durationMs('6m0s')).toBe(360_000);
    expect(durationMs('20ms')).toBe(20);
    expect(durationMs('soon')).toBeUndefined();
  });

  it('does not retry an exhausted quota', async () => {
    server.use(failWith('error-429-quota'));
    const error = await rejection(provider()('gpt-5.2').generate(request));
    expect(ProviderError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: false, status: 429 });
    expect((error as Error).message).toMatch(/quota.*billing/);
  });

  it('maps 404 to model-not-found and 400 to bad-request with a hint for rejected parameters', async () => {
    server.use(failWith('error-404'));
    const missing = await rejection(provider()('gpt-9-ultra').generate(request));
    expect(missing).toMatchObject({ kind: 'model-not-found', retryable: false, status: 404 });
    server.use(failWith('error-400-temperature'));
    const rejected = await rejection(provider()('ft:o3:acme').generate(request));
    expect(rejected).toMatchObject({ kind: 'bad-request', retryable: false, status: 400 });
    expect((rejected as Error).message).toContain('{ reasoning: true }');
    server.use(failWith('error-400-json-word'));
    const json = await rejection(provider()('gpt-5.2').generate({ ...request, responseFormat: 'json' }));
    expect(json).toMatchObject({ kind: 'bad-request', retryable: false });
  });

  it('maps 401 to a non-retryable auth error naming OPENAI_API_KEY, without the key', async () => {
    server.use(http.post(API, () => HttpResponse.json({ error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }, { status: 401 }), { once: true }));
    const error = await rejection(provider()('gpt-5.2').generate(request));
    expect(error).toMatchObject({ kind: 'auth', retryable: false, status: 401 });
    expect((error as Error).message).toContain('OPENAI_API_KEY');
    expect((error as Error).message).not.toContain(KEY);
    expect(JSON.stringify(serializeError(error))).not.toContain(KEY);
    expect(JSON.stringify(serializeError(error))).not.toContain(KEY.slice(8, 30));
  });

  it('maps an error event inside the stream to a retryable server error', async () => {
    server.use(answer('stream-error-event', 'complete-ok'));
    const error = await rejection(drain(provider()('gpt-5.2').stream(request)));
    expect(error).toMatchObject({ kind: 'server', retryable: true });
  });

  it('maps a refused connection to a retryable network error', async () => {
    server.use(http.post(API, () => HttpResponse.error(), { once: true }));
    const error = await rejection(provider()('gpt-5.2').generate(request));
    expect(error).toMatchObject({ kind: 'network', retryable: true });
  });
});

describe('openai adapter: settings', () => {
  it('reads OPENAI_API_KEY on first use, not at creation', async () => {
    vi.stubEnv('OPENAI_API_KEY', '');
    const created = createOpenAI();
    const model = created('gpt-5.2');
    vi.stubEnv('OPENAI_API_KEY', KEY);
    const sent = capture();
    await model.generate(request);
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
    expect((await openai('gpt-5.2').generate(request)).text).toBe('ok');
  });

  it('says where to put the key when it is missing', async () => {
    vi.stubEnv('OPENAI_API_KEY', '');
    const error = await rejection(createOpenAI()('gpt-5.2').generate(request));
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/OpenAI API key is missing.*`apiKey`.*OPENAI_API_KEY/);
    // A later call succeeds once the key is there (the failed client build is not cached).
    const provider = createOpenAI();
    await rejection(drain(provider('gpt-5.2').stream(request)));
    vi.stubEnv('OPENAI_API_KEY', KEY);
    expect((await provider('gpt-5.2').generate(request)).text).toBe('ok');
  });

  it('sends baseURL, headers, organization and project', async () => {
    const proxy = 'https://llm-gateway.example.com/openai/v1';
    const sent: { url: string; headers: Headers }[] = [];
    server.use(
      http.post(`${proxy}/chat/completions`, ({ request: sentRequest }) => {
        sent.push({ url: sentRequest.url, headers: sentRequest.headers });
        return replay('complete-ok');
      }),
    );
    const custom = createOpenAI({ apiKey: KEY, baseURL: proxy, headers: { 'x-team': 'research' }, organization: 'org-acme', project: 'proj_duh' });
    await custom('gpt-5.2').generate(request);
    expect(sent[0]!.headers.get('x-team')).toBe('research');
    expect(sent[0]!.headers.get('openai-organization')).toBe('org-acme');
    expect(sent[0]!.headers.get('openai-project')).toBe('proj_duh');
  });

  it('uses a passed client (no key needed) and a passed fetch', async () => {
    vi.stubEnv('OPENAI_API_KEY', '');
    const fetches: string[] = [];
    const client = new OpenAI({
      apiKey: KEY,
      maxRetries: 0,
      fetch: (input, init) => {
        fetches.push(String(input instanceof Request ? input.url : input));
        return globalThis.fetch(input, init);
      },
    });
    const result = await createOpenAI({ client })('gpt-5.2').generate(request);
    expect(result.text).toBe('ok');
    expect(fetches).toEqual([API]);

    const calls: unknown[][] = [];
    const fake: OpenAIChatClient = {
      chat: {
        completions: {
          create: (async (...args: unknown[]) => {
            calls.push(args);
            return { choices: [{ message: { content: 'from a fake' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 4 } };
          }) as (...args: never[]) => unknown,
        },
      },
    };
    const controller = new AbortController();
    const faked = await createOpenAI({ client: fake })('gpt-5.2').generate(request, { signal: controller.signal });
    expect(faked).toEqual({ text: 'from a fake', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 4 } });
    expect(calls[0]![1]).toEqual({ signal: controller.signal });
  });

  it('builds one SDK client per provider instance', async () => {
    const sent = capture();
    const shared = provider();
    await Promise.all([shared('gpt-5.2').generate(request), shared('o3').generate(request), drain(shared('gpt-5.2').stream(request))]);
    expect(sent).toHaveLength(3);
  });

  it('takes catalog info with overrides, and lists catalog ids', () => {
    const custom = createOpenAI({ apiKey: KEY, models: { 'gpt-5.2': { outputPricePerMTok: 12, inputPricePerMTok: 1.5 } } });
    expect(custom('gpt-5.2').info).toMatchObject({ provider: 'openai', modelId: 'gpt-5.2', displayName: 'GPT-5.2', outputPricePerMTok: 12, inputPricePerMTok: 1.5, maxOutputTokens: 128_000 });
    expect(custom('gpt-5.2', { info: { outputPricePerMTok: 10 } }).info.outputPricePerMTok).toBe(10);
    expect(custom('gpt-4.1').info).toMatchObject({ displayName: 'gpt-4.1', inputPricePerMTok: 0, outputPricePerMTok: 0, maxOutputTokens: 4096, proposerEligible: true });
    expect(openai.models()).toEqual(['gpt-5.2', 'gpt-5-mini', 'o3']);
    expect(openai('o3').provider).toBe('openai');
  });
});

describe('openai adapter: abort', () => {
  it('passes the signal to the HTTP request and rethrows the abort', async () => {
    const held = holdUntilAborted();
    const controller = new AbortController();
    const pending = rejection(provider()('gpt-5.2').generate(request, { signal: controller.signal }));
    await held.arrived;
    controller.abort();
    const error = await pending;
    expect(held.signal?.aborted).toBe(true);
    expect(ProviderError.isInstance(error)).toBe(false);
  });

  it('stops reading a stream when aborted mid-answer', async () => {
    const events = fixture('stream-length').body.split('\n\n').filter(Boolean);
    let seen: AbortSignal | undefined;
    server.use(
      http.post(API, ({ request: sentRequest }) => {
        seen = sentRequest.signal;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(`${events[0]}\n\n${events[1]}\n\n`)); // then nothing more
          },
        });
        return new HttpResponse(body, { status: 200, headers: fixture('stream-length').headers });
      }),
    );
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    const error = await rejection((async () => {
      for await (const part of provider()('gpt-5.2').stream(request, { signal: controller.signal })) {
        parts.push(part);
        controller.abort();
      }
    })());
    expect(parts).toEqual([{ type: 'text-delta', text: 'Use' }]);
    expect(seen?.aborted).toBe(true);
    expect(ProviderError.isInstance(error)).toBe(false);
  });
});

describe('openai adapter: in a consensus run', () => {
  it('proposes, revises and classifies through msw', async () => {
    server.use(
      http.post(API, async ({ request: sentRequest }) => {
        const body = (await sentRequest.clone().json()) as { messages: { content: string }[] };
        return replay(body.messages.some((message) => message.content.startsWith('Classify the question')) ? 'stream-classify' : 'stream-ok');
      }),
    );
    const challenger = new MockAdapter({ ref: 'anthropic:claude-haiku-4-5-20251001', info: { inputPricePerMTok: 1, outputPricePerMTok: 5 }, reply: 'Consider the failure modes first.' });
    const second = new MockAdapter({ ref: 'google:gemini-2.5-flash', info: { inputPricePerMTok: 0.3, outputPricePerMTok: 2.5 }, reply: 'Agree, with caveats about cost.' });
    const gpt = createOpenAI({ apiKey: KEY, models: { 'gpt-5-mini': { inputPricePerMTok: 0.1 } } });
    const result = await new Consensus({ models: [gpt('gpt-5.2'), challenger, second, gpt('gpt-5-mini')], rounds: 1 }).ask('Should we shard by tenant?');
    expect(result.rounds[0]!.proposal.model).toBe('openai:gpt-5.2');
    expect(result.rounds[0]!.proposal.text).toBe('ok');
    expect(result.rounds[0]!.proposal.usage).toEqual({ inputTokens: 22, outputTokens: 2, cacheReadTokens: 0, reasoningTokens: 0 });
    expect(result.decision).toBe('ok');
    expect(result.taxonomy).toEqual({ intent: 'technical', category: 'databases', genus: 'multi-tenancy' });
    expect(result.cost.totalUsd).toBeGreaterThan(0);
  });
});

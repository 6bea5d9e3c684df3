// duh/adapters/ai-sdk: AI SDK language models (MockLanguageModelV4 from `ai/test`, hand-written V3/V2 models) as duh members.
import { APICallError, type LanguageModelV2, type LanguageModelV2StreamPart, type LanguageModelV4CallOptions, type LanguageModelV4GenerateResult, type LanguageModelV4StreamPart, type LanguageModelV4Usage } from '@ai-sdk/provider';
import { createGateway } from 'ai';
import { convertArrayToReadableStream, MockLanguageModelV4 } from 'ai/test';
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { fromAISDK, type AISDKLanguageModel } from '../../adapters/ai-sdk.js';
import type { GenerateRequest, StreamPart } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { bearerKey, drain, mockServer, rejection, request, TENANT_KEY, withApiKeyCases } from './_helpers.js';

const usage = (input = 17, output = 2, extra: { cacheRead?: number; cacheWrite?: number; reasoning?: number } = {}): LanguageModelV4Usage => ({
  inputTokens: { total: input, noCache: input - (extra.cacheRead ?? 0), cacheRead: extra.cacheRead, cacheWrite: extra.cacheWrite },
  outputTokens: { total: output, text: output - (extra.reasoning ?? 0), reasoning: extra.reasoning },
});

/** The parts an AI SDK provider streams for a short answer. */
const answerParts = (text: string[], finish: LanguageModelV4StreamPart | null = { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage() }): LanguageModelV4StreamPart[] => [
  { type: 'stream-start', warnings: [] },
  { type: 'response-metadata', id: 'resp_1', modelId: 'gpt-5-mini-2025-08-07', timestamp: new Date(0) },
  { type: 'text-start', id: '0' },
  ...text.map((delta): LanguageModelV4StreamPart => ({ type: 'text-delta', id: '0', delta })),
  { type: 'text-end', id: '0' },
  ...(finish ? [finish] : []),
];
/** What an AI SDK provider (here as @ai-sdk/openai does) streams for a call: the input in pieces, then the whole call. */
const toolCallParts = (id = 'call_Pq4cW8mZ1', input = ['{"city":', '"Paris"}']): LanguageModelV4StreamPart[] => [
  { type: 'stream-start', warnings: [] },
  { type: 'response-metadata', id: 'chatcmpl_1', modelId: 'gpt-5-mini-2025-08-07', timestamp: new Date(0) },
  { type: 'tool-input-start', id, toolName: 'get_weather' },
  ...input.map((delta): LanguageModelV4StreamPart => ({ type: 'tool-input-delta', id, delta })),
  { type: 'tool-input-end', id },
  { type: 'tool-call', toolCallId: id, toolName: 'get_weather', input: input.join('') },
  { type: 'finish', finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(96, 18) },
];
const generatedCall = (id = 'call_Pq4cW8mZ1', input = '{"city":"Paris"}'): LanguageModelV4GenerateResult => ({
  content: [{ type: 'tool-call', toolCallId: id, toolName: 'get_weather', input }],
  finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
  usage: usage(96, 18),
  warnings: [],
});
const generated = (text: string, finishReason: LanguageModelV4GenerateResult['finishReason'] = { unified: 'stop', raw: 'stop' }, used = usage()): LanguageModelV4GenerateResult => ({
  content: [{ type: 'reasoning', text: 'thinking…' }, { type: 'text', text }],
  finishReason,
  usage: used,
  warnings: [],
});

/** What the next call to the scripted model does (one-shot), like an msw `once` handler. */
type Behaviour = { throws: unknown } | { parts: LanguageModelV4StreamPart[]; result: LanguageModelV4GenerateResult };
const apiError = (statusCode: number | undefined, extra: Partial<ConstructorParameters<typeof APICallError>[0]> = {}) =>
  new APICallError({ message: `HTTP ${statusCode}`, url: 'https://api.openai.com/v1/chat/completions', requestBodyValues: {}, ...(statusCode === undefined ? {} : { statusCode }), ...extra });

function scriptedModel(options: { provider?: string; modelId?: string } = {}) {
  const queue: Behaviour[] = [];
  const normal: Behaviour = { parts: answerParts(['o', 'k']), result: generated('ok') };
  const next = () => queue.shift() ?? normal;
  const model = new MockLanguageModelV4({
    provider: options.provider ?? 'openai.chat',
    modelId: options.modelId ?? 'gpt-5-mini',
    doStream: async () => {
      const behaviour = next();
      if ('throws' in behaviour) throw behaviour.throws;
      return { stream: convertArrayToReadableStream(behaviour.parts) };
    },
    doGenerate: async () => {
      const behaviour = next();
      if ('throws' in behaviour) throw behaviour.throws;
      return behaviour.result;
    },
  });
  return { model, stage: (behaviour: Behaviour): void => void queue.push(behaviour) };
}

describe('ai-sdk bridge: conformance', () => {
  const { model, stage } = scriptedModel();
  const fail = (error: unknown) => () => stage({ throws: error });
  for (const check of modelAdapterConformance({
    create: () => fromAISDK(model),
    scenarios: {
      rateLimit: fail(apiError(429, { responseHeaders: { 'retry-after': '2' }, isRetryable: true })),
      serverError: fail(apiError(500, { isRetryable: true })),
      overloaded: fail(apiError(503, { isRetryable: true })),
      unauthorized: fail(apiError(401, { isRetryable: false })),
      cutStream: () =>
        stage({ parts: answerParts(['Use Postgres', ' with row-level'], null), result: generated('Use Postgres with row-level', { unified: 'interrupted', raw: undefined }) }),
      length: () => stage({ parts: answerParts(['Coca-Cola is'], { type: 'finish', finishReason: { unified: 'length', raw: 'length' }, usage: usage(17, 64) }), result: generated('Coca-Cola is', { unified: 'length', raw: 'length' }) }),
      contentFilter: () =>
        stage({ parts: answerParts([], { type: 'finish', finishReason: { unified: 'content-filter', raw: 'content_filter' }, usage: usage(17, 0) }), result: generated('', { unified: 'content-filter', raw: 'content_filter' }) }),
      toolCall: () => stage({ parts: toolCallParts(), result: generatedCall() }),
    },
  })) {
    it(check.name, check.run);
  }
});

// A real AI SDK provider on the wire: the Vercel AI Gateway's language model (from `ai`), served by msw.
const GATEWAY_URL = 'https://ai-gateway.vercel.sh/v4/ai/language-model';
const GATEWAY_KEY = 'vck_4Tq8Vb2Xn5Lm9Wc3Rk7Hs1Jd4Fg6Pa0Ye2';
const gatewayModel = (apiKey: string) => createGateway({ apiKey })('openai/gpt-5-mini');
const server = mockServer();

describe('ai-sdk bridge: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: GATEWAY_URL,
    create: () => fromAISDK(gatewayModel(GATEWAY_KEY), { provider: 'openai', withApiKey: gatewayModel }),
    ownKey: GATEWAY_KEY,
    keyOf: bearerKey,
    answer: (sent) =>
      sent.headers.get('ai-language-model-streaming') === 'true'
        ? new HttpResponse(answerParts(['o', 'k']).map((part) => `data: ${JSON.stringify(part)}\n\n`).join(''), { headers: { 'content-type': 'text/event-stream' } })
        : HttpResponse.json(generated('ok')),
    unauthorized: (key) => HttpResponse.json({ error: { message: `Invalid API key ${key}`, type: 'authentication_error' } }, { status: 401 }),
  })) {
    it(check.name, check.run);
  }

  it('has no withApiKey() without the factory option: the AI SDK provider owns the key', () => {
    const adapter = fromAISDK(gatewayModel(GATEWAY_KEY));
    expect(adapter.withApiKey).toBeUndefined();
    expect('withApiKey' in adapter).toBe(false);
  });

  it('rejects a factory that is not a function, or that makes another model, without showing the key', () => {
    expect(() => fromAISDK(gatewayModel(GATEWAY_KEY), { withApiKey: 'sk-not-a-function' as never })).toThrow(InvalidOptionError);
    const other = fromAISDK(gatewayModel(GATEWAY_KEY), { withApiKey: (apiKey) => createGateway({ apiKey })('openai/gpt-5.2') });
    expect(() => other.withApiKey!(TENANT_KEY)).toThrow(/returned gateway openai\/gpt-5\.2, not the wrapped gateway openai\/gpt-5-mini/);
    const failing = fromAISDK(gatewayModel(GATEWAY_KEY), {
      withApiKey: (apiKey) => {
        throw new Error(`no provider for ${apiKey}`);
      },
    });
    const error = (() => {
      try {
        return failing.withApiKey!(TENANT_KEY);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toMatchObject({ code: 'INVALID_OPTION', option: 'withApiKey' });
    expect((error as Error).message).toBe('The `withApiKey` factory of fromAISDK() failed for `gateway:openai/gpt-5-mini`: no provider for [redacted]');
    expect(() => fromAISDK(gatewayModel(GATEWAY_KEY), { withApiKey: () => ({}) as never }).withApiKey!(TENANT_KEY)).toThrow(/must return an AI SDK language model/);
  });

  it('copies keep the info overrides, each gets its own model, and an APICallError echoing the key is scrubbed', async () => {
    const made: { apiKey: string; stage: ReturnType<typeof scriptedModel>['stage'] }[] = [];
    const factory = (apiKey: string) => {
      const { model, stage } = scriptedModel();
      made.push({ apiKey, stage });
      return model;
    };
    const original = fromAISDK(scriptedModel().model, { info: { outputPricePerMTok: 2, displayName: 'Mini' }, withApiKey: factory });
    const copy = original.withApiKey!(TENANT_KEY);
    expect(copy.info).toEqual(original.info);
    expect(copy.info).toMatchObject({ provider: 'openai', modelId: 'gpt-5-mini', displayName: 'Mini', outputPricePerMTok: 2 });
    expect((await copy.generate(request)).text).toBe('ok');
    expect(made.map(({ apiKey }) => apiKey)).toEqual([TENANT_KEY]);
    made[0]!.stage({ throws: apiError(401, { message: `Incorrect API key provided: ${TENANT_KEY}` }) });
    const error = await rejection(copy.generate(request));
    expect(error).toMatchObject({ kind: 'auth', status: 401 });
    expect((error as Error).message).toContain('Incorrect API key provided: [redacted]');
  });
});

describe('ai-sdk bridge: call options', () => {
  it('maps messages to the V4 prompt, and passes max tokens, temperature, stop sequences, JSON mode, signal and provider options', async () => {
    const { model } = scriptedModel();
    const controller = new AbortController();
    await drain(
      fromAISDK(model).stream(
        { ...request, stopSequences: ['\n\n'], responseFormat: 'json', providerOptions: { openai: { reasoningEffort: 'low' } } },
        { signal: controller.signal },
      ),
    );
    const options = model.doStreamCalls[0]!;
    expect(options).toEqual({
      prompt: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Reply with the single word: ok' }] },
      ],
      maxOutputTokens: 64,
      temperature: 0.2,
      stopSequences: ['\n\n'],
      responseFormat: { type: 'json' },
      abortSignal: controller.signal,
      providerOptions: { openai: { reasoningEffort: 'low' } },
    } satisfies LanguageModelV4CallOptions);
  });

  it('omits what the request leaves out, and sends assistant turns as text parts', async () => {
    const { model } = scriptedModel();
    const { temperature: _omitted, ...rest } = request;
    await fromAISDK(model).generate({ ...rest, messages: [...rest.messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'again' }] });
    const options = model.doGenerateCalls[0]!;
    expect(Object.keys(options).sort()).toEqual(['maxOutputTokens', 'prompt']);
    expect(options.prompt[2]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'ok' }] });
  });
});

describe('ai-sdk bridge: answers', () => {
  it('streams text deltas, then one finish with usage, reason and provider metadata; other parts are ignored', async () => {
    const { model, stage } = scriptedModel();
    const parts = answerParts(['o', 'k'], { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(), providerMetadata: { openai: { responseId: 'resp_1' } } });
    parts.splice(2, 0, { type: 'reasoning-start', id: 'r' }, { type: 'reasoning-delta', id: 'r', delta: 'hidden' }, { type: 'reasoning-end', id: 'r' }, { type: 'raw', rawValue: {} });
    stage({ parts, result: generated('ok') });
    expect(await drain(fromAISDK(model).stream(request))).toEqual([
      { type: 'text-delta', text: 'o' },
      { type: 'text-delta', text: 'k' },
      { type: 'finish', usage: { inputTokens: 17, outputTokens: 2 }, finishReason: 'stop', providerMetadata: { openai: { responseId: 'resp_1' } } },
    ]);
  });

  it('maps V4 nested usage: cache reads and writes, reasoning tokens', async () => {
    const { model, stage } = scriptedModel();
    const used = usage(2048, 420, { cacheRead: 1920, cacheWrite: 64, reasoning: 380 });
    stage({ parts: answerParts(['ok'], { type: 'finish', finishReason: { unified: 'stop', raw: 'end_turn' }, usage: used }), result: generated('ok') });
    stage({ parts: [], result: generated('ok', { unified: 'stop', raw: 'end_turn' }, used) });
    const adapter = fromAISDK(model);
    const expected = { inputTokens: 2048, outputTokens: 420, cacheReadTokens: 1920, cacheWriteTokens: 64, reasoningTokens: 380 };
    expect((await drain(adapter.stream(request))).at(-1)).toMatchObject({ type: 'finish', usage: expected });
    const result = await adapter.generate(request);
    expect(result).toEqual({ text: 'ok', usage: expected, finishReason: 'stop' });
  });

  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['content-filter', 'content-filter'],
    ['tool-calls', 'tool-calls'],
    ['error', 'error'],
    ['other', 'stop'],
  ] as const)('maps the unified finish reason %s to %s', async (unified, expected) => {
    const { model, stage } = scriptedModel();
    stage({ parts: answerParts(['x'], { type: 'finish', finishReason: { unified, raw: 'raw' }, usage: usage() }), result: generated('x', { unified, raw: 'raw' }) });
    stage({ parts: [], result: generated('x', { unified, raw: 'raw' }) });
    const adapter = fromAISDK(model);
    expect((await drain(adapter.stream(request))).at(-1)).toMatchObject({ finishReason: expected });
    expect((await adapter.generate(request)).finishReason).toBe(expected);
  });

  it('never reports a stream without a finish part, or an interrupted one, as a success', async () => {
    const { model, stage } = scriptedModel();
    stage({ parts: answerParts(['Use Postgres'], null), result: generated('') });
    stage({ parts: answerParts(['Use Postgres'], { type: 'finish', finishReason: { unified: 'interrupted', raw: undefined }, usage: usage() }), result: generated('') });
    stage({ parts: [], result: generated('Use Postgres', { unified: 'interrupted', raw: undefined }) });
    const adapter = fromAISDK(model);
    expect(await drain(adapter.stream(request))).toEqual([{ type: 'text-delta', text: 'Use Postgres' }]);
    expect(await drain(adapter.stream(request))).toEqual([{ type: 'text-delta', text: 'Use Postgres' }]);
    const error = await rejection(adapter.generate(request));
    expect(TruncatedStreamError.isInstance(error) && error.partialText === 'Use Postgres' && error.retryable).toBe(true);
  });
});

describe('ai-sdk bridge: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' };
  const functionTool = {
    type: 'function',
    name: 'get_weather',
    description: 'The current weather in a city.',
    inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  };
  const paris = { id: 'call_Pq4cW8mZ1', name: 'get_weather', arguments: '{"city":"Paris"}' };

  it('passes the tools as function tools with toolChoice (auto by default, a name as a tool choice), none without tools', async () => {
    const { model } = scriptedModel();
    const adapter = fromAISDK(model);
    await drain(adapter.stream(withTools));
    expect(model.doStreamCalls[0]).toMatchObject({ tools: [functionTool], toolChoice: { type: 'auto' } });
    const { toolChoice: _auto, ...defaulted } = withTools;
    for (const request of [defaulted, { ...withTools, toolChoice: 'required' as const }, { ...withTools, toolChoice: 'none' as const }, { ...withTools, toolChoice: { name: 'get_weather' } }]) {
      await adapter.generate(request);
    }
    expect(model.doGenerateCalls.map((options) => options.toolChoice)).toEqual([{ type: 'auto' }, { type: 'required' }, { type: 'none' }, { type: 'tool', toolName: 'get_weather' }]);
    await adapter.generate(request);
    expect(model.doGenerateCalls[4]).not.toHaveProperty('tools');
    expect(model.doGenerateCalls[4]).not.toHaveProperty('toolChoice');
  });

  it('yields one tool-call part from the streamed input and the whole call, then finish tool-calls', async () => {
    const { model, stage } = scriptedModel();
    stage({ parts: toolCallParts(), result: generatedCall() });
    expect(await drain(fromAISDK(model).stream(withTools))).toEqual([
      { type: 'tool-call', toolCall: paris },
      { type: 'finish', usage: { inputTokens: 96, outputTokens: 18 }, finishReason: 'tool-calls' },
    ]);
  });

  it('generate() returns the tool-call content parts with text, usage and tool-calls', async () => {
    const { model, stage } = scriptedModel();
    const result = generatedCall();
    result.content.unshift({ type: 'text', text: 'Checking.' });
    result.content.push({ type: 'tool-call', toolCallId: 'call_2', toolName: 'get_weather', input: '{"city":"Lyon"}' });
    stage({ parts: [], result });
    expect(await fromAISDK(model).generate(withTools)).toEqual({
      text: 'Checking.',
      toolCalls: [paris, { id: 'call_2', name: 'get_weather', arguments: '{"city":"Lyon"}' }],
      usage: { inputTokens: 96, outputTokens: 18 },
      finishReason: 'tool-calls',
    });
  });

  it('skips provider-executed calls, yields each call once, and recovers a call whose model only streamed its input', async () => {
    const { model, stage } = scriptedModel();
    const parts = toolCallParts('call_1');
    parts.splice(
      -1,
      0,
      { type: 'tool-call', toolCallId: 'call_1', toolName: 'get_weather', input: '{"city":"Paris"}' },
      { type: 'tool-call', toolCallId: 'ws_1', toolName: 'web_search', input: '{"query":"weather"}', providerExecuted: true },
      { type: 'tool-input-start', id: 'call_2', toolName: 'get_weather' },
      { type: 'tool-input-delta', id: 'call_2', delta: '{"city":"Lyon"}' },
      { type: 'tool-input-end', id: 'call_2' },
    );
    stage({ parts, result: generatedCall() });
    expect((await drain(fromAISDK(model).stream(withTools))).map((part) => (part.type === 'tool-call' ? part.toolCall : part.type === 'finish' ? part.finishReason : part.text))).toEqual([
      { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_2', name: 'get_weather', arguments: '{"city":"Lyon"}' },
      'tool-calls',
    ]);
  });

  it('reports tool-calls when a model made calls but finished with stop, and serialises an object input', async () => {
    const { model, stage } = scriptedModel();
    const parts = toolCallParts().slice(0, -1);
    parts.push({ type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: usage() });
    stage({ parts, result: generatedCall() });
    stage({ parts: [], result: { ...generatedCall(), content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'get_weather', input: { city: 'Paris' } as unknown as string }], finishReason: { unified: 'other', raw: undefined } } });
    const adapter = fromAISDK(model);
    expect((await drain(adapter.stream(withTools))).at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });
    expect(await adapter.generate(withTools)).toMatchObject({ toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }], finishReason: 'tool-calls' });
  });

  it('yields no finish after an interrupted tool-call stream', async () => {
    const { model, stage } = scriptedModel();
    const parts = toolCallParts().slice(0, 4); // the input started, never completed
    stage({ parts, result: generatedCall() });
    expect(await drain(fromAISDK(model).stream(withTools))).toEqual([]);
  });

  it('sends the follow-up turn natively: tool-call parts with the parsed input, tool-result parts with a text output', async () => {
    const { model } = scriptedModel();
    const lyon = { id: 'call_2', name: 'get_weather', arguments: '{"city":"Lyon"' }; // cut JSON goes back as the raw text
    await fromAISDK(model).generate({
      ...withTools,
      messages: [
        ...request.messages,
        { role: 'assistant', content: 'Checking both.', toolCalls: [paris, lyon] },
        { role: 'tool', toolCallId: paris.id, toolName: 'get_weather', content: '{"temperature_c":18}' },
        { role: 'tool', toolCallId: lyon.id, toolName: 'get_weather', content: 'error: bad arguments' },
        { role: 'assistant', content: '', toolCalls: [paris] },
        { role: 'tool', toolCallId: paris.id, toolName: 'get_weather', content: '18' },
      ],
    });
    expect(model.doGenerateCalls[0]!.prompt.slice(2)).toEqual([
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool-call', toolCallId: 'call_Pq4cW8mZ1', toolName: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool-call', toolCallId: 'call_2', toolName: 'get_weather', input: '{"city":"Lyon"' },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool-result', toolCallId: 'call_Pq4cW8mZ1', toolName: 'get_weather', output: { type: 'text', value: '{"temperature_c":18}' } },
          { type: 'tool-result', toolCallId: 'call_2', toolName: 'get_weather', output: { type: 'text', value: 'error: bad arguments' } },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'call_Pq4cW8mZ1', toolName: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'call_Pq4cW8mZ1', toolName: 'get_weather', output: { type: 'text', value: '18' } }] },
    ] satisfies LanguageModelV4CallOptions['prompt']);
  });

  it('reads tool calls from a V2 model (AI SDK 5) the same way', async () => {
    const parts: LanguageModelV2StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'tool-input-start', id: 'call_v2', toolName: 'get_weather' },
      { type: 'tool-input-delta', id: 'call_v2', delta: '{"city":"Paris"}' },
      { type: 'tool-input-end', id: 'call_v2' },
      { type: 'tool-call', toolCallId: 'call_v2', toolName: 'get_weather', input: '{"city":"Paris"}' },
      { type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 } },
    ];
    const v2: LanguageModelV2 = {
      specificationVersion: 'v2',
      provider: 'openai.chat',
      modelId: 'gpt-4.1-mini',
      supportedUrls: {},
      doGenerate: async () => ({
        content: [{ type: 'tool-call', toolCallId: 'call_v2', toolName: 'get_weather', input: '{"city":"Paris"}' }],
        finishReason: 'tool-calls',
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
        warnings: [],
      }),
      doStream: async () => ({ stream: convertArrayToReadableStream(parts) }),
    };
    const adapter = fromAISDK(v2);
    const call = { id: 'call_v2', name: 'get_weather', arguments: '{"city":"Paris"}' };
    expect(await drain(adapter.stream(withTools))).toEqual([
      { type: 'tool-call', toolCall: call },
      { type: 'finish', usage: { inputTokens: 10, outputTokens: 5 }, finishReason: 'tool-calls' },
    ]);
    expect(await adapter.generate(withTools)).toEqual({ text: '', toolCalls: [call], usage: { inputTokens: 10, outputTokens: 5 }, finishReason: 'tool-calls' });
  });
});

describe('ai-sdk bridge: errors', () => {
  it('maps an APICallError 429 to a rate-limit error with Retry-After from the response headers', async () => {
    const { model, stage } = scriptedModel();
    stage({ throws: apiError(429, { responseHeaders: { 'retry-after-ms': '1500', 'x-request-id': 'req_42' }, isRetryable: true }) });
    const error = await rejection(fromAISDK(model).generate(request));
    expect(ProviderRateLimitError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ provider: 'openai', model: 'gpt-5-mini', retryAfterMs: 1500, requestId: 'req_42', status: 429 });
  });

  it('maps statuses: 401 auth, 404 model-not-found, 400 bad-request, 529 overloaded', async () => {
    const { model, stage } = scriptedModel();
    const adapter = fromAISDK(model);
    for (const [status, kind, retryable] of [
      [401, 'auth', false],
      [404, 'model-not-found', false],
      [400, 'bad-request', false],
      [529, 'overloaded', true],
    ] as const) {
      stage({ throws: apiError(status) });
      expect(await rejection(drain(adapter.stream(request)))).toMatchObject({ kind, retryable, status });
    }
  });

  it('maps an APICallError without status (connection failure) to a retryable network error', async () => {
    const { model, stage } = scriptedModel();
    stage({ throws: apiError(undefined, { isRetryable: true, cause: new TypeError('fetch failed') }) });
    expect(await rejection(fromAISDK(model).generate(request))).toMatchObject({ kind: 'network', retryable: true });
  });

  it('throws a mapped error for an error part in the stream, after the text before it', async () => {
    const { model, stage } = scriptedModel();
    const parts = answerParts(['partial'], null);
    parts.push({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    stage({ parts, result: generated('') });
    const seen: StreamPart[] = [];
    const error = await rejection(
      (async () => {
        for await (const part of fromAISDK(model).stream(request)) seen.push(part);
      })(),
    );
    expect(seen).toEqual([{ type: 'text-delta', text: 'partial' }]);
    expect(ProviderError.isInstance(error) && error.retryable).toBe(true);
    expect((error as Error).message).toContain('Overloaded');

    const withStatus = answerParts([], null);
    withStatus.push({ type: 'error', error: apiError(429, { responseHeaders: { 'retry-after': '3' } }) });
    stage({ parts: withStatus, result: generated('') });
    expect(await rejection(drain(fromAISDK(model).stream(request)))).toMatchObject({ kind: 'rate-limit', retryAfterMs: 3000 });
  });

  it('maps a missing API key of the AI SDK provider to an auth error, and other failures to a non-retryable error', async () => {
    const { model, stage } = scriptedModel();
    const loadKey = Object.assign(new Error('OpenAI API key is missing. Pass it using the apiKey parameter or the OPENAI_API_KEY environment variable.'), { name: 'AI_LoadAPIKeyError' });
    stage({ throws: loadKey });
    expect(await rejection(fromAISDK(model).generate(request))).toMatchObject({ kind: 'auth', retryable: false });
    stage({ throws: new Error('boom') });
    expect(await rejection(fromAISDK(model).generate(request))).toMatchObject({ retryable: false });
  });
});

describe('ai-sdk bridge: aborts', () => {
  it('rejects with the abort reason and stops reading a stream whose model ignores the signal', async () => {
    let cancelled = false;
    const model = new MockLanguageModelV4({
      doStream: async () => ({
        stream: new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            controller.enqueue({ type: 'text-delta', id: '0', delta: 'partial' });
          },
          cancel() {
            cancelled = true;
          },
        }),
      }),
    });
    const controller = new AbortController();
    const reason = new Error('run aborted');
    const iterator = fromAISDK(model).stream(request, { signal: controller.signal })[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: { type: 'text-delta', text: 'partial' } });
    const waiting = iterator.next(); // now blocked on a read the model will never answer
    controller.abort(reason);
    const outcome = await Promise.race([
      waiting.then(() => 'resolved', (error: unknown) => error),
      new Promise((resolve) => setTimeout(() => resolve('still reading'), 2000).unref()),
    ]);
    expect(outcome).toBe(reason);
    expect(model.doStreamCalls[0]!.abortSignal?.aborted).toBe(true);
    expect(cancelled).toBe(true);
  });

  it('rejects when doStream or doGenerate never settle', async () => {
    const hang = () => new Promise<never>(() => {});
    const model = new MockLanguageModelV4({ doStream: hang, doGenerate: hang });
    const adapter = fromAISDK(model);
    const controller = new AbortController();
    const streaming = rejection(drain(adapter.stream(request, { signal: controller.signal })));
    const generating = rejection(adapter.generate(request, { signal: controller.signal }));
    controller.abort();
    expect(((await streaming) as Error).name).toBe('AbortError');
    expect(((await generating) as Error).name).toBe('AbortError');
  });

  it('cancels a stream that doStream delivers after the abort', async () => {
    let deliver!: () => void;
    let cancelled = false;
    const model = new MockLanguageModelV4({
      doStream: () =>
        new Promise((resolve) => {
          deliver = () => resolve({ stream: new ReadableStream<LanguageModelV4StreamPart>({ cancel: () => void (cancelled = true) }) });
        }),
    });
    const controller = new AbortController();
    const running = rejection(drain(fromAISDK(model).stream(request, { signal: controller.signal })));
    await vi.waitFor(() => expect(deliver).toBeTypeOf('function'));
    controller.abort();
    expect(((await running) as Error).name).toBe('AbortError');
    deliver();
    await vi.waitFor(() => expect(cancelled).toBe(true));
  });

  it('cancels the model stream when the consumer stops early', async () => {
    let cancelled = false;
    const model = new MockLanguageModelV4({
      doStream: async () => ({
        stream: new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            controller.enqueue({ type: 'text-delta', id: '0', delta: 'a' });
            controller.enqueue({ type: 'text-delta', id: '0', delta: 'b' });
          },
          cancel() {
            cancelled = true;
          },
        }),
      }),
    });
    for await (const part of fromAISDK(model).stream(request)) {
      expect(part).toEqual({ type: 'text-delta', text: 'a' });
      break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('ai-sdk bridge: models and info', () => {
  it('names the provider after the AI SDK provider id up to the first dot, or as told', () => {
    expect(fromAISDK(scriptedModel({ provider: 'openai.chat' }).model)).toMatchObject({ provider: 'openai', modelId: 'gpt-5-mini' });
    expect(fromAISDK(scriptedModel({ provider: 'google.generative-ai', modelId: 'gemini-2.5-flash' }).model, { provider: 'gemini-aisdk', modelId: 'flash' })).toMatchObject({
      provider: 'gemini-aisdk',
      modelId: 'flash',
      info: { provider: 'gemini-aisdk', modelId: 'flash' },
    });
  });

  it('defaults to zero prices, 128k context and 16,384 output tokens; info overrides them; known catalog models keep their facts', () => {
    const unknown = fromAISDK(scriptedModel({ provider: 'groq.chat', modelId: 'llama-3.3-70b-versatile' }).model);
    expect(unknown.info).toMatchObject({ displayName: 'llama-3.3-70b-versatile', contextWindow: 128_000, maxOutputTokens: 16_384, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true });
    const priced = fromAISDK(scriptedModel({ provider: 'groq.chat', modelId: 'llama-3.3-70b-versatile' }).model, { info: { inputPricePerMTok: 0.59, outputPricePerMTok: 0.79, contextWindow: 131_072 } });
    expect(priced.info).toMatchObject({ inputPricePerMTok: 0.59, outputPricePerMTok: 0.79, contextWindow: 131_072, maxOutputTokens: 16_384 });
    expect(fromAISDK(scriptedModel({ provider: 'openai.responses', modelId: 'gpt-5.2' }).model).info).toMatchObject({ displayName: 'GPT-5.2', outputPricePerMTok: 14 });
  });

  it('rejects AI SDK 4 models (LanguageModelV1), model id strings and provider names with a colon', () => {
    const v1 = { specificationVersion: 'v1', provider: 'openai.chat', modelId: 'gpt-4o', doGenerate: async () => ({}), doStream: async () => ({}) };
    const tryWrap = (model: unknown, options = {}) => {
      try {
        fromAISDK(model as AISDKLanguageModel, options);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const old = tryWrap(v1);
    expect(InvalidOptionError.isInstance(old) && old.option === 'model').toBe(true);
    expect((old as Error).message).toContain('specificationVersion "v1"');
    expect(InvalidOptionError.isInstance(tryWrap('openai/gpt-5'))).toBe(true);
    expect(InvalidOptionError.isInstance(tryWrap(scriptedModel().model, { provider: 'a:b' }))).toBe(true);
  });

  it('accepts a V2 model (AI SDK 5): flat usage, string finish reasons', async () => {
    const parts: LanguageModelV2StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'text-delta', id: '0', delta: 'ok' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 10, outputTokens: 64, totalTokens: 74, reasoningTokens: 12, cachedInputTokens: 8 } },
    ];
    const v2: LanguageModelV2 = {
      specificationVersion: 'v2',
      provider: 'anthropic.messages',
      modelId: 'claude-haiku-4-5-20251001',
      supportedUrls: {},
      doGenerate: async () => ({ content: [{ type: 'text', text: 'ok' }], finishReason: 'unknown', usage: { inputTokens: 10, outputTokens: 1, totalTokens: 11 }, warnings: [] }),
      doStream: async () => ({ stream: convertArrayToReadableStream(parts) }),
    };
    const adapter = fromAISDK(v2);
    expect(adapter.info).toMatchObject({ provider: 'anthropic', displayName: 'Claude Haiku 4.5', outputPricePerMTok: 5 });
    expect((await drain(adapter.stream(request))).at(-1)).toEqual({
      type: 'finish',
      finishReason: 'length',
      usage: { inputTokens: 10, outputTokens: 64, reasoningTokens: 12, cacheReadTokens: 8 },
    });
    expect(await adapter.generate(request)).toEqual({ text: 'ok', usage: { inputTokens: 10, outputTokens: 1 }, finishReason: 'stop' });
  });
});

describe('ai-sdk bridge in a consensus run', () => {
  it('answers as a member of a full run', async () => {
    const taxonomy = '{"intent":"technical","category":"databases","genus":"multi-tenancy"}';
    const model = new MockLanguageModelV4({
      provider: 'openai.responses',
      modelId: 'gpt-5.2',
      doStream: async (options) => {
        const text = options.responseFormat?.type === 'json' ? taxonomy : 'Use Postgres with row-level security and per-tenant pools.';
        return { stream: convertArrayToReadableStream(answerParts([text.slice(0, 10), text.slice(10)], { type: 'finish', finishReason: { unified: 'stop', raw: 'completed' }, usage: usage(120, 20) })) };
      },
    });
    const challenger = new MockAdapter({ ref: 'mistral:mistral-small-latest', info: { inputPricePerMTok: 0.2, outputPricePerMTok: 0.6 }, reply: 'Per-tenant pools add connection overhead.' });
    const other = new MockAdapter({ ref: 'google:gemini-2.5-flash', info: { inputPricePerMTok: 0.3, outputPricePerMTok: 2.5 }, reply: 'Schema-per-tenant is simpler to migrate.' });
    const result = await new Consensus({ models: [fromAISDK(model), challenger, other], rounds: 1 }).ask('How should a SaaS isolate tenant data in Postgres?');
    expect(result.rounds[0]!.proposal.model).toBe('openai:gpt-5.2');
    expect(result.decision).toBe('Use Postgres with row-level security and per-tenant pools.');
    expect(result.rounds[0]!.proposal.usage).toEqual({ inputTokens: 120, outputTokens: 20 });
    // GPT-5.2's catalog prices apply: 120 × $1.75/M + 20 × $14/M.
    expect(result.rounds[0]!.proposal.costUsd).toBeCloseTo(0.00049, 8);
    expect(model.doStreamCalls.length).toBeGreaterThanOrEqual(2);
  });
});

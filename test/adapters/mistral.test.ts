// duh/adapters/mistral against recorded Mistral API answers, served by msw to the real @mistralai/mistralai SDK.
import { Mistral } from '@mistralai/mistralai';
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createMistral, mistral, type MistralClientLike } from '../../adapters/mistral.js';
import type { GenerateRequest, StreamPart } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { bearerKey, chatAnswer, drain, recordedChatApi, rejection, request, TENANT_KEY, withApiKeyCases } from './_helpers.js';

const API = 'https://api.mistral.ai/v1/chat/completions';
const KEY = 'Zt4kQm8wXr2LpV6nB9cJ3hF7dS1gA5eY'; // the shape of a Mistral key (32 alphanumerics)

const { server, fixture, replay, answer, failWith, capture, scenarios } = recordedChatApi('mistral', API);

const provider = () => createMistral({ apiKey: KEY });

describe('mistral adapter: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: API,
    create: () => provider()('mistral-large-latest'),
    ownKey: KEY,
    keyOf: bearerKey,
    answer: chatAnswer(replay),
    unauthorized: (key) => HttpResponse.json({ message: `Unauthorized: key ${key} is not valid`, request_id: 'req_401' }, { status: 401 }),
    keyless: { env: ['MISTRAL_API_KEY'], create: () => createMistral()('mistral-large-latest') },
  })) {
    it(check.name, check.run);
  }

  it('keeps the server, headers and fetch of the original', async () => {
    const url = 'https://api.eu.mistral.ai/v1/chat/completions';
    const seen: Headers[] = [];
    server.use(http.post(url, ({ request: sent }) => (seen.push(sent.headers), replay('complete-ok'))));
    const fetch = vi.fn<typeof globalThis.fetch>((input, init) => globalThis.fetch(input, init));
    const original = createMistral({ apiKey: KEY, baseURL: 'https://api.eu.mistral.ai', headers: { 'x-team': 'core' }, fetch })('mistral-small-latest');
    await original.withApiKey!(TENANT_KEY).generate(request);
    expect(seen.map(bearerKey)).toEqual([TENANT_KEY]);
    expect(seen[0]!.get('x-team')).toBe('core');
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('refuses a copy of a model made with a ready Mistral client (it cannot change its key), saying to pass apiKey', () => {
    const model = createMistral({ client: new Mistral({ apiKey: KEY }) })('mistral-large-latest');
    const error = (() => {
      try {
        return model.withApiKey!(TENANT_KEY);
      } catch (caught) {
        return caught;
      }
    })();
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ option: 'client' });
    expect((error as Error).message).toContain('Pass `apiKey`');
  });
});

describe('mistral adapter: conformance', () => {
  for (const check of modelAdapterConformance({
    create: () => provider()('mistral-large-latest'),
    scenarios: {
      ...scenarios,
      contentFilter: () => server.use(failWith('error-guardrail')),
      toolCall: () => server.use(answer('stream-tool-call', 'complete-tool-call', { once: true })),
    },
  })) {
    it(check.name, check.run);
  }
});

describe('mistral adapter: request mapping', () => {
  it('sends model, max_tokens, temperature, system message in messages, stop and stream flag', async () => {
    const sent = capture();
    await drain(provider()('mistral-large-latest').stream({ ...request, stopSequences: ['\n\n'] }));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe(API);
    expect(sent[0]!.body).toEqual({
      model: 'mistral-large-latest',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Reply with the single word: ok' },
      ],
      max_tokens: 64,
      temperature: 0.2,
      stop: ['\n\n'],
      stream: true,
    });
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
    expect(sent[0]!.headers.get('accept')).toBe('text/event-stream');
  });

  it('asks for a JSON object with response_format json_object, and omits temperature when the request has none', async () => {
    const sent = capture();
    const { temperature: _omitted, ...withoutTemperature } = request;
    await provider()('mistral-small-latest').generate({ ...withoutTemperature, responseFormat: 'json' });
    expect(sent[0]!.body['response_format']).toEqual({ type: 'json_object' });
    expect(sent[0]!.body).not.toHaveProperty('temperature');
    expect(sent[0]!.body).not.toHaveProperty('stream', true);
    expect(sent[0]!.body['max_tokens']).toBe(64);
  });

  it('merges providerOptions.mistral into the body (snake_case or the SDK camelCase)', async () => {
    const sent = capture();
    await provider()('mistral-large-latest').generate({ ...request, providerOptions: { mistral: { random_seed: 7, safePrompt: true, top_p: 0.9 }, openai: { ignored: true } } });
    expect(sent[0]!.body).toMatchObject({ random_seed: 7, safe_prompt: true, top_p: 0.9 });
    expect(sent[0]!.body).not.toHaveProperty('ignored');
  });

  it('sends the extra headers and talks to a custom server (a trailing /v1 is accepted)', async () => {
    const url = 'https://api.eu.mistral.ai/v1/chat/completions';
    const seen: Headers[] = [];
    server.use(http.post(url, ({ request: sent }) => (seen.push(sent.headers), replay('complete-ok'))));
    await createMistral({ apiKey: KEY, baseURL: 'https://api.eu.mistral.ai/v1', headers: { 'x-team': 'core' } })('mistral-large-latest').generate(request);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.get('x-team')).toBe('core');
  });

  it('uses a custom fetch', async () => {
    const fetch = vi.fn((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
    await createMistral({ apiKey: KEY, fetch })('mistral-large-latest').generate(request);
    expect(fetch).toHaveBeenCalledTimes(1);
  });
});

describe('mistral adapter: answers', () => {
  it('streams the deltas, then one finish with usage, the finish reason and the response id', async () => {
    const parts = await drain(provider()('mistral-large-latest').stream(request));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'o' },
      { type: 'text-delta', text: 'k' },
      { type: 'finish', usage: { inputTokens: 17, outputTokens: 2 }, finishReason: 'stop', providerMetadata: { mistral: { id: '7e1b3f0c9a2d4c65b8e0f41d2a6c9b37', model: 'mistral-large-latest' } } },
    ]);
  });

  it('generate() returns text, usage and finish reason from chat.complete', async () => {
    const result = await provider()('mistral-large-latest').generate(request);
    expect(result).toMatchObject({ text: 'ok', usage: { inputTokens: 17, outputTokens: 2 }, finishReason: 'stop' });
  });

  it('maps cached prompt tokens and reasoning tokens, and keeps thinking chunks out of the text', async () => {
    server.use(answer('stream-reasoning', 'complete-reasoning'));
    const model = provider()('magistral-medium-latest');
    const parts = await drain(model.stream(request));
    expect(parts.filter((part) => part.type === 'text-delta').map((part) => (part as { text: string }).text).join('')).toBe('ok');
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 2048, outputTokens: 42, cacheReadTokens: 1920, reasoningTokens: 38 } });
    const result = await model.generate(request);
    expect(result.text).toBe('ok');
    expect(result.usage).toEqual({ inputTokens: 2048, outputTokens: 42, cacheReadTokens: 1920, reasoningTokens: 38 });
  });

  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['model_length', 'length'],
    ['tool_calls', 'tool-calls'],
    ['error', 'error'],
    ['something_new', 'stop'],
  ] as const)('maps finish_reason %s to %s', async (wire, expected) => {
    const body = fixture('complete-ok').body.replace('"finish_reason":"stop"', `"finish_reason":"${wire}"`);
    server.use(http.post(API, () => new HttpResponse(body, { headers: fixture('complete-ok').headers }), { once: true }));
    expect((await provider()('mistral-large-latest').generate(request)).finishReason).toBe(expected);
  });

  it('ends a stream cut before the final chunk without a finish part, and a stream reset mid-body with a retryable network error', async () => {
    server.use(answer('stream-cut', 'complete-cut'));
    const parts = await drain(provider()('mistral-large-latest').stream(request));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'Use Postgres' },
      { type: 'text-delta', text: ' with row-level' },
    ]);
    const generated = await rejection(provider()('mistral-large-latest').generate(request));
    expect(TruncatedStreamError.isInstance(generated)).toBe(true);

    const { body, headers } = fixture('stream-cut');
    server.use(
      http.post(API, () => {
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(body));
            controller.error(new TypeError('terminated'));
          },
        });
        return new HttpResponse(stream, { headers });
      }),
    );
    const reset = await rejection(drain(provider()('mistral-large-latest').stream(request)));
    expect(ProviderError.isInstance(reset) && reset.kind === 'network' && reset.retryable).toBe(true);
  });
});

describe('mistral adapter: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' };
  const wireTool = {
    type: 'function',
    function: { name: 'get_weather', description: 'The current weather in a city.', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  };
  const paris = { id: 'D681PevKs', name: 'get_weather', arguments: '{"city": "Paris"}' };

  it('sends the tools as functions and tool_choice (auto by default, required as any, a name as a function)', async () => {
    const sent = capture('stream-tool-call', 'complete-tool-call');
    const model = provider()('mistral-large-latest');
    await drain(model.stream(withTools));
    expect(sent[0]!.body).toMatchObject({ tools: [wireTool], tool_choice: 'auto', stream: true });
    const { toolChoice: _auto, ...defaulted } = withTools;
    await model.generate(defaulted);
    await model.generate({ ...withTools, toolChoice: 'required' });
    await model.generate({ ...withTools, toolChoice: 'none' });
    await model.generate({ ...withTools, toolChoice: { name: 'get_weather' } });
    expect(sent.slice(1).map((one) => one.body['tool_choice'])).toEqual(['auto', 'any', 'none', { type: 'function', function: { name: 'get_weather' } }]);
    await model.generate(request);
    expect(sent[5]!.body).not.toHaveProperty('tools');
    expect(sent[5]!.body).not.toHaveProperty('tool_choice');
  });

  it('streams one tool-call part with the exact argument text, then finish tool-calls; generate() returns the calls', async () => {
    server.use(answer('stream-tool-call', 'complete-tool-call'));
    const model = provider()('mistral-large-latest');
    expect(await drain(model.stream(withTools))).toEqual([
      { type: 'tool-call', toolCall: paris },
      { type: 'finish', usage: { inputTokens: 96, outputTokens: 18 }, finishReason: 'tool-calls', providerMetadata: { mistral: { id: '4f0c2a9e7b6d4e1a8c3f5b2d9e0a7c61', model: 'mistral-large-latest' } } },
    ]);
    expect(await model.generate(withTools)).toEqual({
      text: '',
      toolCalls: [paris],
      usage: { inputTokens: 96, outputTokens: 18 },
      finishReason: 'tool-calls',
      providerMetadata: { mistral: { id: '4f0c2a9e7b6d4e1a8c3f5b2d9e0a7c62', model: 'mistral-large-latest' } },
    });
  });

  it('joins a call split over deltas (id and name first, argument fragments after) into one part', async () => {
    server.use(answer('stream-tool-call-split', 'complete-tool-call'));
    const parts = await drain(provider()('mistral-large-latest').stream(withTools));
    expect(parts).toEqual([
      { type: 'tool-call', toolCall: { id: 'Qx7RkP2mZ', name: 'get_weather', arguments: '{"city": "Paris"}' } },
      expect.objectContaining({ type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 96, outputTokens: 14 } }),
    ]);
  });

  it('keeps parallel calls of one delta apart, serialises argument objects, and names calls without an id', async () => {
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({ id: 'c2', object: 'chat.completion.chunk', created: 1763812345, model: 'mistral-large-latest', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const sse =
      chunk({ role: 'assistant', content: 'Checking both.' }, null) +
      chunk(
        {
          content: null,
          tool_calls: [
            { id: 'aB3dE5gH7', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } },
            { id: 'Zy9Xw8Vu7', function: { name: 'get_weather', arguments: { city: 'Lyon' } } },
          ],
        },
        'tool_calls',
      ) +
      'data: [DONE]\n\n';
    server.use(http.post(API, () => new HttpResponse(sse, { headers: fixture('stream-ok').headers }), { once: true }));
    const parts = await drain(provider()('mistral-large-latest').stream(withTools));
    expect(parts.slice(0, 3)).toEqual([
      { type: 'text-delta', text: 'Checking both.' },
      { type: 'tool-call', toolCall: { id: 'aB3dE5gH7', name: 'get_weather', arguments: '{"city": "Paris"}' } },
      { type: 'tool-call', toolCall: { id: 'Zy9Xw8Vu7', name: 'get_weather', arguments: '{"city":"Lyon"}' } },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });

    const body = fixture('complete-tool-call').body.replace('"id":"D681PevKs",', '');
    server.use(http.post(API, () => new HttpResponse(body, { headers: fixture('complete-tool-call').headers }), { once: true }));
    const result = await provider()('mistral-large-latest').generate(withTools);
    expect(result.toolCalls).toEqual([{ id: 'call00000', name: 'get_weather', arguments: '{"city": "Paris"}' }]);
  });

  it('yields no tool call from a stream cut before its final chunk', async () => {
    const cut = fixture('stream-tool-call-split').body.split('\n\n').slice(0, 2).join('\n\n') + '\n\n';
    server.use(http.post(API, () => new HttpResponse(cut, { headers: fixture('stream-tool-call-split').headers }), { once: true }));
    expect(await drain(provider()('mistral-large-latest').stream(withTools))).toEqual([]);
  });

  it('sends the follow-up turn natively: the assistant call in tool_calls, the result as a tool message', async () => {
    const sent = capture();
    await provider()('mistral-large-latest').generate({
      ...withTools,
      messages: [
        ...request.messages,
        { role: 'assistant', content: '', toolCalls: [paris] },
        { role: 'tool', toolCallId: paris.id, toolName: 'get_weather', content: '{"temperature_c":18}' },
      ],
    });
    expect(sent[0]!.body['messages']).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Reply with the single word: ok' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'D681PevKs', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' }, index: 0 }], prefix: false },
      { role: 'tool', tool_call_id: 'D681PevKs', name: 'get_weather', content: '{"temperature_c":18}' },
    ]);
    expect(sent[0]!.body).toMatchObject({ tools: [wireTool], tool_choice: 'auto' });
  });

  it('maps call ids Mistral would reject (not nine letters or digits) to valid ones, the same for the call and its result', async () => {
    const sent = capture();
    const calls = [
      { id: 'call_PTLP8xhu3uwZk4l3nlnrrJha', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"city":"Lyon"}' },
    ];
    await provider()('mistral-large-latest').generate({
      ...withTools,
      messages: [
        ...request.messages,
        { role: 'assistant', content: 'Checking both.', toolCalls: calls },
        { role: 'tool', toolCallId: calls[0]!.id, toolName: 'get_weather', content: '18' },
        { role: 'tool', toolCallId: calls[1]!.id, toolName: 'get_weather', content: '21' },
      ],
    });
    const messages = sent[0]!.body['messages'] as { tool_calls?: { id: string; index: number }[]; tool_call_id?: string }[];
    const ids = messages[2]!.tool_calls!.map((call) => call.id);
    expect(messages[2]!.tool_calls!.map((call) => call.index)).toEqual([0, 1]);
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9]{9}$/);
    expect(new Set(ids).size).toBe(2);
    expect([messages[3]!.tool_call_id, messages[4]!.tool_call_id]).toEqual(ids);
  });
});

describe('mistral adapter: errors', () => {
  it('maps 429 to a ProviderRateLimitError with Retry-After and the request id', async () => {
    server.use(failWith('error-429'));
    const error = await rejection(provider()('mistral-large-latest').generate(request));
    expect(ProviderRateLimitError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: 2000, status: 429, requestId: '019aab12-7c3e-7d41-9b6f-5e2d8c0a4f19' });
    expect((error as Error).message).toContain('Rate limit exceeded');
  });

  it('explains a 429 for exhausted service-tier capacity', async () => {
    server.use(failWith('error-429-capacity'));
    const error = await rejection(drain(provider()('mistral-large-latest').stream(request)));
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: undefined });
    expect((error as Error).message).toMatch(/no spare capacity/);
  });

  it('maps 401 to a non-retryable auth error naming MISTRAL_API_KEY, with the request id from the body', async () => {
    server.use(failWith('error-401'));
    const error = await rejection(provider()('mistral-large-latest').generate(request));
    expect(error).toMatchObject({ kind: 'auth', retryable: false, status: 401, requestId: 'c61f2f15feca71626a990e3740f99245' });
    expect((error as Error).message).toContain('MISTRAL_API_KEY');
  });

  it('maps an invalid model (HTTP 400, type invalid_model) to model-not-found', async () => {
    server.use(failWith('error-invalid-model'));
    const error = await rejection(drain(provider()('mistral-huge-latest').stream(request)));
    expect(error).toMatchObject({ kind: 'model-not-found', retryable: false, status: 400 });
    expect((error as Error).message).toContain('Invalid model: mistral-huge-latest');
  });

  it('maps a 422 validation error to a bad request listing the fields', async () => {
    server.use(failWith('error-422'));
    const error = await rejection(provider()('mistral-large-latest').generate({ ...request, temperature: 7 }));
    expect(error).toMatchObject({ kind: 'bad-request', retryable: false, status: 422 });
    expect((error as Error).message).toContain('temperature: Input should be less than or equal to 1.5');
  });

  it('maps a guardrail block to a content-filter error', async () => {
    server.use(failWith('error-guardrail'));
    const error = await rejection(provider()('mistral-large-latest').generate(request));
    expect(error).toMatchObject({ kind: 'content-filter', retryable: false, status: 403, requestId: '019aab12-7c3e-7d41-9b6f-5e2d8c0a4f1f' });
    expect((error as Error).message).toContain('blocked by a Mistral guardrail');
    expect((error as Error).message).not.toContain('API key');
  });

  it('maps a refused connection to a retryable network error', async () => {
    server.use(http.post(API, () => HttpResponse.error(), { once: true }));
    const error = await rejection(provider()('mistral-large-latest').generate(request));
    expect(error).toMatchObject({ kind: 'network', retryable: true });
  });

  it('never puts the API key in an error message, even when the server echoes it', async () => {
    server.use(http.post(API, () => HttpResponse.json({ message: `Invalid key ${KEY} for this workspace` }, { status: 401 }), { once: true }));
    const error = await rejection(provider()('mistral-large-latest').generate(request));
    expect((error as Error).message).not.toContain(KEY);
    expect(JSON.stringify(error)).not.toContain(KEY);
    expect((error as Error).message).toContain('[redacted]');
  });
});

describe('mistral adapter: keys, clients and aborts', () => {
  it('reads MISTRAL_API_KEY on the first call, not at creation', async () => {
    vi.stubEnv('MISTRAL_API_KEY', '');
    const model = mistral('mistral-large-latest'); // the default instance: nothing read yet
    vi.stubEnv('MISTRAL_API_KEY', 'EnvKey0123456789abcdefghijklmnop');
    const sent = capture();
    await createMistral()('mistral-large-latest').generate(request);
    expect(sent[0]!.headers.get('authorization')).toBe('Bearer EnvKey0123456789abcdefghijklmnop');
    expect(model.info).toMatchObject({ provider: 'mistral', modelId: 'mistral-large-latest', outputPricePerMTok: 6 });
  });

  it('says where to put the key when it is missing, and tries again on the next call', async () => {
    vi.stubEnv('MISTRAL_API_KEY', '');
    const model = createMistral()('mistral-large-latest');
    const error = await rejection(model.generate(request));
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe('Mistral API key is missing. Pass it with the `apiKey` option or set the MISTRAL_API_KEY environment variable.');
    vi.stubEnv('MISTRAL_API_KEY', KEY);
    await expect(model.generate(request)).resolves.toMatchObject({ text: 'ok' });
  });

  it('uses a client passed in settings (no key needed)', async () => {
    vi.stubEnv('MISTRAL_API_KEY', '');
    const complete = vi.fn(async () => ({ id: 'x', model: 'mistral-small-latest', usage: { promptTokens: 3, completionTokens: 1 }, choices: [{ index: 0, message: { content: 'hi' }, finishReason: 'stop' }] }));
    const client: MistralClientLike = { chat: { complete, stream: vi.fn() } };
    const result = await createMistral({ client })('mistral-small-latest').generate(request);
    expect(result).toMatchObject({ text: 'hi', usage: { inputTokens: 3, outputTokens: 1 }, finishReason: 'stop' });
    expect(complete).toHaveBeenCalledWith(expect.objectContaining({ model: 'mistral-small-latest', maxTokens: 64 }), {});
  });

  it('accepts a ready SDK client (e.g. one with its own server URL)', async () => {
    const seen: string[] = [];
    server.use(http.post('https://mistral-proxy.internal/v1/chat/completions', ({ request: sent }) => (seen.push(sent.url), replay('stream-ok'))));
    const client = new Mistral({ apiKey: KEY, serverURL: 'https://mistral-proxy.internal' });
    const parts = await drain(createMistral({ client })('mistral-large-latest').stream(request));
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(seen).toEqual(['https://mistral-proxy.internal/v1/chat/completions']);
  });

  it('passes the abort signal to the HTTP request and rejects with the abort reason', async () => {
    let requestSignal: AbortSignal | undefined;
    let arrived!: () => void;
    const started = new Promise<void>((resolve) => (arrived = resolve));
    server.use(
      http.post(API, async ({ request: sent }) => {
        requestSignal = sent.signal;
        arrived();
        await new Promise((resolve) => sent.signal.addEventListener('abort', resolve, { once: true }));
        return replay('error-500');
      }),
    );
    const controller = new AbortController();
    const reason = new Error('stop now');
    const running = rejection(provider()('mistral-large-latest').generate(request, { signal: controller.signal }));
    await started;
    controller.abort(reason);
    expect(await running).toBe(reason);
    expect(requestSignal?.aborted).toBe(true);
  });

  it('stops reading a stream when aborted mid-answer', async () => {
    const { headers } = fixture('stream-ok');
    let cancelled = false;
    const first = fixture('stream-ok').body.split('\n\n').slice(0, 2).join('\n\n') + '\n\n';
    server.use(
      http.post(API, () => {
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(first));
          },
          cancel() {
            cancelled = true;
          },
        });
        return new HttpResponse(stream, { headers });
      }),
    );
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    const error = await rejection(
      (async () => {
        for await (const part of provider()('mistral-large-latest').stream(request, { signal: controller.signal })) {
          parts.push(part);
          controller.abort();
        }
      })(),
    );
    expect(parts).toEqual([{ type: 'text-delta', text: 'o' }]);
    expect((error as Error).name).toBe('AbortError');
    await vi.waitFor(() => expect(cancelled).toBe(true));
  });
});

describe('mistral adapter: catalog', () => {
  it('takes catalog info, provider overrides and model overrides, in that order', () => {
    const custom = createMistral({ models: { 'mistral-large-latest': { outputPricePerMTok: 7, inputPricePerMTok: 2.5 } } });
    expect(custom('mistral-large-latest').info).toMatchObject({ displayName: 'Mistral Large', contextWindow: 128_000, maxOutputTokens: 32_000, inputPricePerMTok: 2.5, outputPricePerMTok: 7 });
    expect(custom('mistral-large-latest', { info: { outputPricePerMTok: 9 } }).info.outputPricePerMTok).toBe(9);
    expect(custom('open-mistral-nemo').info).toMatchObject({ displayName: 'open-mistral-nemo', contextWindow: 128_000, maxOutputTokens: 4_096, outputPricePerMTok: 0 });
    expect(mistral.models()).toEqual(['mistral-large-latest', 'mistral-medium-latest', 'mistral-small-latest', 'codestral-latest']);
  });
});

describe('mistral adapter in a consensus run', () => {
  it('answers as a member of a full run through the real SDK', async () => {
    const taxonomy = '{"intent":"technical","category":"databases","genus":"multi-tenancy"}';
    const prompts: string[] = [];
    server.use(
      http.post(API, async ({ request: sent }) => {
        const body = (await sent.clone().json()) as { stream?: boolean; response_format?: unknown; messages: { role: string; content: string }[] };
        prompts.push(body.messages.at(-1)!.content);
        const text = body.response_format ? taxonomy : 'Use Postgres with row-level security and per-tenant pools.';
        const chunk = (delta: object, finish: string | null, usage?: object) =>
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1763812345, model: 'mistral-large-latest', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
        const sse = chunk({ role: 'assistant', content: '' }, null) + chunk({ content: text }, null) + chunk({ content: '' }, 'stop', { prompt_tokens: 120, total_tokens: 140, completion_tokens: 20 }) + 'data: [DONE]\n\n';
        return new HttpResponse(sse, { headers: fixture('stream-ok').headers });
      }),
    );
    const challenger = new MockAdapter({ ref: 'openai:gpt-5-mini', info: { inputPricePerMTok: 0.25, outputPricePerMTok: 2 }, reply: 'Per-tenant pools add connection overhead; consider PgBouncer.' });
    const classifier = new MockAdapter({ ref: 'google:gemini-2.5-flash', info: { inputPricePerMTok: 0.3, outputPricePerMTok: 2.5 }, reply: 'Schema-per-tenant is simpler to migrate.' });
    const result = await new Consensus({ models: [provider()('mistral-large-latest'), challenger, classifier], rounds: 1 }).ask('How should a SaaS isolate tenant data in Postgres?');
    // Mistral Large has the highest output price, so it proposes and revises.
    expect(result.rounds[0]!.proposal.model).toBe('mistral:mistral-large-latest');
    expect(result.decision).toBe('Use Postgres with row-level security and per-tenant pools.');
    expect(result.rounds[0]!.proposal.usage).toMatchObject({ inputTokens: 120, outputTokens: 20 });
    expect(prompts.length).toBeGreaterThanOrEqual(2);
  });
});

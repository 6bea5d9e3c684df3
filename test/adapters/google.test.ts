// duh/adapters/google against @google/genai, with the Gemini API replayed by msw from recorded-format fixtures.
import { readFileSync } from 'node:fs';
import { GoogleGenAI, ThinkingLevel } from '@google/genai';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGoogle, google, type GoogleClient } from '../../adapters/google.js';
import type { ChatMessage, GenerateRequest, StreamPart, ToolCall } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError, serializeError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { drain, mockServer, rejection, request as standardRequest, TENANT_KEY, withApiKeyCases } from './_helpers.js';

const KEY = 'AIzaSyD-test-9f8e7d6c5b4a3f2e1d0c9b8a7f6';
const ENDPOINT = 'https://generativelanguage.googleapis.com/:version/models/*';
const MODEL = 'gemini-2.5-flash';
const FIXTURES = new URL('./__fixtures__/google/', import.meta.url);
/** The `thoughtSignature`s of tool-call.sse.txt (Gemini 2.5) and of the first call in tool-calls-parallel.sse.txt (Gemini 3). */
const SIGNATURE_25 = 'CikB0e2Kb9mK3sQ1Yt2Zr7bq0v2i8r0bJmH4vJQ0b1fT0kq7s3nWc6EKYgHR7YpvG0fIu1bX2a3Qn0wq5m1h';
const SIGNATURE_3 = 'EvQDCvEDAdHtim9yVbq0cM2Rk3Xw0aLq8nQyZt4Fv7Jp1sBd6uHc0eKo9gTm2rWx5iNl3yPa8jQf1zUo4vE7bS6kYh0cD2mGn9tR5wL1xA3qJ8';
/** The signature Google documents for replayed calls it did not sign. */
const PLACEHOLDER = 'skip_thought_signature_validator';

/** Headers the Gemini API sends with an error body. */
const ERROR_HEADERS = {
  'content-type': 'application/json; charset=UTF-8',
  vary: 'Origin, X-Origin, Referer',
  date: 'Tue, 24 Nov 2026 09:14:07 GMT',
  server: 'scaffolding on HTTPServer2',
  'x-xss-protection': '0',
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'server-timing': 'gfet4t7; dur=38',
  'alt-svc': 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
};

const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

/** An HTTP response transcript (`status line`, headers, blank line, body exactly as sent) split into its parts. */
function transcript(name: string): { status: number; headers: Headers; body: string } {
  const raw = fixture(name);
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name !== 'transfer-encoding') headers.append(name, line.slice(colon + 1).trim()); // framing, not content
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4) };
}

/** Replay an SSE transcript. */
const replay = (name: string) => {
  const { status, headers, body } = transcript(name);
  return new HttpResponse(body, { status, headers });
};

/** One SSE event body with the real stream headers (for table-driven finish reasons). */
const sseOf = (...events: unknown[]) =>
  new HttpResponse(events.map((event) => `data: ${JSON.stringify(event)}\r\n\r\n`).join(''), { headers: transcript('text.sse.txt').headers });

/** A Gemini API error: the JSON body fixture with the API's headers. */
const apiError = (status: number, name: string, headers: Record<string, string> = {}) =>
  new HttpResponse(fixture(name), { status, headers: { ...ERROR_HEADERS, ...headers } });

interface Seen {
  url: URL;
  headers: Headers;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];
const record = async (request: Request) => {
  seen.push({ url: new URL(request.url), headers: request.headers, body: (await request.clone().json()) as Record<string, unknown> });
};

const server = mockServer(
  http.post(ENDPOINT, async ({ request }) => {
    await record(request);
    return replay('text.sse.txt');
  }),
);
/** The next request gets `answer` (one-shot). */
const next = (answer: (request: Request) => Response | Promise<Response>) =>
  server.use(
    http.post(
      ENDPOINT,
      async ({ request }) => {
        await record(request);
        return answer(request);
      },
      { once: true },
    ),
  );

afterEach(() => {
  seen.length = 0;
});

/** The standard request without a temperature. */
const { temperature: _noTemperature, ...request } = standardRequest;
const adapter = (modelId = MODEL) => createGoogle({ apiKey: KEY })(modelId);

describe('duh/adapters/google: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: ENDPOINT,
    create: () => adapter(),
    ownKey: KEY,
    keyOf: (headers) => headers.get('x-goog-api-key'),
    answer: () => replay('text.sse.txt'),
    unauthorized: (key) =>
      new HttpResponse(JSON.stringify({ error: { code: 401, message: `API key ${key} is not valid for this project.`, status: 'UNAUTHENTICATED' } }), { status: 401, headers: ERROR_HEADERS }),
    keyless: { env: ['GOOGLE_API_KEY', 'GEMINI_API_KEY'], create: () => createGoogle()(MODEL) },
  })) {
    it(check.name, check.run);
  }

  it('keeps the per-model config, API version, base URL and headers of the original', async () => {
    server.use(
      http.post('https://gemini-proxy.example.test/:version/models/*', async ({ request: sent }) => {
        await record(sent);
        return replay('text.sse.txt');
      }),
    );
    const original = createGoogle({ apiKey: KEY, baseURL: 'https://gemini-proxy.example.test', apiVersion: 'v1beta', headers: { 'x-team': 'research' } })(MODEL, {
      config: { thinkingConfig: { thinkingBudget: 0 } },
    });
    await original.withApiKey!(TENANT_KEY).generate(request);
    expect(seen[0]!.headers.get('x-goog-api-key')).toBe(TENANT_KEY);
    expect(seen[0]!.headers.get('x-team')).toBe('research');
    expect(seen[0]!.url.pathname).toBe(`/v1beta/models/${MODEL}:streamGenerateContent`);
    expect(seen[0]!.body['generationConfig']).toMatchObject({ thinkingConfig: { thinkingBudget: 0 } });
  });

  it('refuses a copy of a model made with a ready GoogleGenAI client (it cannot change its key), saying to pass apiKey', () => {
    const model = createGoogle({ client: new GoogleGenAI({ apiKey: KEY }) })(MODEL);
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

describe('duh/adapters/google: conformance', () => {
  const cases = modelAdapterConformance({
    create: () => adapter(),
    scenarios: {
      rateLimit: () => next(() => apiError(429, 'rate-limit.json', { 'retry-after': '2' })),
      serverError: () => next(() => apiError(500, 'server-error.json')),
      overloaded: () => next(() => apiError(503, 'overloaded.json')),
      unauthorized: () => next(() => apiError(401, 'unauthenticated.json')),
      cutStream: () => next(() => replay('cut.sse.txt')),
      length: () => next(() => replay('max-tokens.sse.txt')),
      contentFilter: () => next(() => replay('safety.sse.txt')),
      toolCall: () => next(() => replay('tool-call.sse.txt')),
    },
  });
  for (const check of cases) it(check.name, check.run);
});

describe('duh/adapters/google: requests', () => {
  it('sends the conversation, system instruction and generation config the way the Gemini API expects', async () => {
    await adapter().generate({
      messages: [
        { role: 'system', content: 'You are an expert advisor.' },
        { role: 'system', content: 'Answer in one paragraph.' },
        { role: 'user', content: 'Which database?' },
        { role: 'assistant', content: 'Postgres.' },
        { role: 'user', content: 'Why?' },
        { role: 'user', content: 'Be brief.' },
      ],
      maxOutputTokens: 256,
      temperature: 0.2,
      stopSequences: ['\n\nQ:'],
      responseFormat: 'json',
    });
    expect(seen).toHaveLength(1);
    const { url, headers, body } = seen[0]!;
    expect(url.pathname).toBe(`/v1/models/${MODEL}:streamGenerateContent`);
    expect(url.searchParams.get('alt')).toBe('sse');
    expect(url.searchParams.has('key')).toBe(false); // the key travels in a header, never in a URL
    expect(headers.get('x-goog-api-key')).toBe(KEY);
    expect(body).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Which database?' }] },
        { role: 'model', parts: [{ text: 'Postgres.' }] },
        { role: 'user', parts: [{ text: 'Why?' }, { text: 'Be brief.' }] },
      ],
      systemInstruction: { parts: [{ text: 'You are an expert advisor.\n\nAnswer in one paragraph.' }] },
      generationConfig: { maxOutputTokens: 256, temperature: 0.2, stopSequences: ['\n\nQ:'], responseMimeType: 'application/json' },
    });
  });

  it('omits temperature, stop sequences, JSON mode and the system instruction when the request has none', async () => {
    await adapter().generate({ messages: [{ role: 'user', content: 'Hi' }], maxOutputTokens: 10, responseFormat: 'text', stopSequences: [] });
    expect(seen[0]!.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }], generationConfig: { maxOutputTokens: 10 } });
  });

  it('merges providerOptions.google into the SDK config (thinking budget, safety settings, overrides)', async () => {
    await adapter().generate({
      ...request,
      temperature: 0.7,
      providerOptions: {
        google: {
          temperature: 1,
          thinkingConfig: { thinkingBudget: 0 },
          safetySettings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', threshold: 'BLOCK_ONLY_HIGH' }],
        },
        openai: { reasoning_effort: 'low' },
      },
    });
    const body = seen[0]!.body;
    expect(body['generationConfig']).toEqual({ maxOutputTokens: 64, temperature: 1, thinkingConfig: { thinkingBudget: 0 } });
    expect(body['safetySettings']).toEqual([{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', threshold: 'BLOCK_ONLY_HIGH' }]);
    expect(JSON.stringify(body)).not.toContain('reasoning_effort');
  });

  it('layers provider config, model config and providerOptions.google over the mapped fields', async () => {
    const provider = createGoogle({ apiKey: KEY, config: { temperature: 1, topP: 0.9, thinkingConfig: { thinkingBudget: 1024 } } });
    const model = provider('gemini-3-pro-preview', { config: { thinkingConfig: { thinkingLevel: ThinkingLevel.LOW } } });
    await model.generate({ ...request, temperature: 0.3, providerOptions: { google: { topP: 0.5 } } });
    expect(seen[0]!.body['generationConfig']).toEqual({ maxOutputTokens: 64, temperature: 1, topP: 0.5, thinkingConfig: { thinkingLevel: 'LOW' } });
  });

  it('uses baseURL, apiVersion, headers and a custom fetch from the settings', async () => {
    const calls: string[] = [];
    const provider = createGoogle({
      apiKey: KEY,
      baseURL: 'https://gemini-gateway.example.test/',
      apiVersion: 'v1beta',
      headers: { 'x-team': 'platform' },
      fetch: (input, init) => {
        calls.push(String(input instanceof Request ? input.url : input));
        return globalThis.fetch(input, init);
      },
    });
    server.use(
      http.post('https://gemini-gateway.example.test/:version/models/*', async ({ request: sent }) => {
        await record(sent);
        return replay('text.sse.txt');
      }),
    );
    const result = await provider(MODEL).generate(request);
    expect(result.text).toBe('ok — and nothing else.');
    expect(calls).toEqual([`https://gemini-gateway.example.test/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`]);
    expect(seen[0]!.headers.get('x-team')).toBe('platform');
  });
});

describe('duh/adapters/google: answers', () => {
  it('streams text deltas and one finish part with usage and metadata', async () => {
    const parts = await drain(adapter().stream(request));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'ok' },
      { type: 'text-delta', text: ' — and' },
      { type: 'text-delta', text: ' nothing else.' },
      {
        type: 'finish',
        finishReason: 'stop',
        usage: { inputTokens: 12, outputTokens: 6 },
        providerMetadata: { responseId: 'kFMjaa3xN5WRz7IPhbGx2Qs', modelVersion: MODEL, rawFinishReason: 'STOP' },
      },
    ]);
  });

  it('counts thoughts as output and reasoning, cached prompt tokens as cache reads, and hides thought summaries', async () => {
    next(() => replay('thinking-cached.sse.txt'));
    const result = await adapter('gemini-2.5-pro').generate(request);
    expect(result.text).toBe('Postgres.');
    expect(result.usage).toEqual({ inputTokens: 2087, outputTokens: 3 + 411, cacheReadTokens: 1536, reasoningTokens: 411 });
    expect(result.finishReason).toBe('stop');
  });

  it('reports a prompt blocked outright as a content-filter finish with no text', async () => {
    next(() => replay('prompt-blocked.sse.txt'));
    const result = await adapter().generate(request);
    expect(result).toMatchObject({ text: '', finishReason: 'content-filter', usage: { inputTokens: 9, outputTokens: 0 } });
    expect(result.providerMetadata).toMatchObject({ blockReason: 'PROHIBITED_CONTENT' });
  });

  it.each([
    ['STOP', 'stop'],
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content-filter'],
    ['RECITATION', 'content-filter'],
    ['BLOCKLIST', 'content-filter'],
    ['PROHIBITED_CONTENT', 'content-filter'],
    ['SPII', 'content-filter'],
    ['LANGUAGE', 'content-filter'],
    ['MALFORMED_FUNCTION_CALL', 'error'],
    ['MALFORMED_RESPONSE', 'error'],
    ['OTHER', 'error'],
    ['FINISH_REASON_UNSPECIFIED', 'error'],
    ['SOMETHING_NEW', 'error'],
  ])('maps finishReason %s to %s', async (raw, expected) => {
    next(() => sseOf({ candidates: [{ content: { parts: [{ text: 'x' }], role: 'model' }, finishReason: raw, index: 0 }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 }, modelVersion: MODEL }));
    const result = await adapter().generate(request);
    expect(result.finishReason).toBe(expected);
    expect(result.providerMetadata).toMatchObject({ rawFinishReason: raw });
  });
});

describe('duh/adapters/google: tools', () => {
  const weather = { ...CONFORMANCE_TOOL, parameters: { ...CONFORMANCE_TOOL.parameters, properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] } }, additionalProperties: false } };
  const withTools = (toolChoice?: GenerateRequest['toolChoice']): GenerateRequest => ({ ...request, tools: [weather], ...(toolChoice !== undefined ? { toolChoice } : {}) });

  it.each([
    ['auto', { mode: 'AUTO' }],
    ['none', { mode: 'NONE' }],
    ['required', { mode: 'ANY' }],
    [{ name: 'get_weather' }, { mode: 'ANY', allowedFunctionNames: ['get_weather'] }],
  ] as const)('sends the tools as functionDeclarations with plain JSON Schema, and toolChoice %j as %j', async (toolChoice, functionCallingConfig) => {
    await adapter().generate(withTools(toolChoice));
    const body = seen[0]!.body;
    expect(body['tools']).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'The current weather in a city.',
            // JSON Schema as given (lower-case types, enum, additionalProperties), not rewritten into Google's Schema.
            parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city'], additionalProperties: false },
          },
        ],
      },
    ]);
    expect(body['toolConfig']).toEqual({ functionCallingConfig });
  });

  it('sends no toolConfig without a toolChoice (Gemini defaults to AUTO), and neither field without tools', async () => {
    await adapter().generate(withTools());
    expect(seen[0]!.body['tools']).toHaveLength(1);
    expect(seen[0]!.body).not.toHaveProperty('toolConfig');
    await adapter().generate({ ...request, tools: [], toolChoice: 'none' });
    expect(seen[1]!.body).not.toHaveProperty('tools');
    expect(seen[1]!.body).not.toHaveProperty('toolConfig');
  });

  it('adds the request\'s function declarations to the tools of the config (Google Search, ...)', async () => {
    const model = createGoogle({ apiKey: KEY, config: { tools: [{ googleSearch: {} }] } })(MODEL);
    await model.generate(withTools('auto'));
    expect(seen[0]!.body['tools']).toEqual([{ functionDeclarations: [expect.objectContaining({ name: 'get_weather' })] }, { googleSearch: {} }]);
    await model.generate(request);
    expect(seen[1]!.body['tools']).toEqual([{ googleSearch: {} }]);
  });

  it('streams a complete call with a synthesised id and finishes with tool-calls (Gemini says STOP)', async () => {
    next(() => replay('tool-call.sse.txt'));
    expect(await drain(adapter().stream(withTools('auto')))).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_0', name: 'get_weather', arguments: '{"city":"Paris"}', providerMetadata: { google: { thoughtSignature: SIGNATURE_25 } } } },
      {
        type: 'finish',
        finishReason: 'tool-calls',
        usage: { inputTokens: 58, outputTokens: 15 + 54, reasoningTokens: 54 },
        providerMetadata: { responseId: 'yVkjaZ2tM6-Wz7IPlL6G8AU', modelVersion: MODEL, rawFinishReason: 'STOP' },
      },
    ]);
  });

  it('keeps Gemini\'s own call ids, parallel calls in order and the text before them', async () => {
    // Gemini 3 signs only the first call of the step: the second call gets no providerMetadata at all.
    const calls = [
      { id: '4xq9b2lm', name: 'get_weather', arguments: '{"city":"Paris"}', providerMetadata: { google: { thoughtSignature: SIGNATURE_3 } } },
      { id: 'm7c0w3rt', name: 'get_weather', arguments: '{"city":"Zürich","unit":"celsius"}' },
    ];
    next(() => replay('tool-calls-parallel.sse.txt'));
    expect(await drain(adapter('gemini-3-flash-preview').stream(withTools('required')))).toEqual([
      { type: 'text-delta', text: 'Checking both cities.' },
      { type: 'tool-call', toolCall: calls[0] },
      { type: 'tool-call', toolCall: calls[1] },
      expect.objectContaining({ type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 74, outputTokens: 41 + 148, reasoningTokens: 148 } }),
    ]);
    next(() => replay('tool-calls-parallel.sse.txt'));
    const result = await adapter('gemini-3-flash-preview').generate(withTools('required'));
    expect(result).toMatchObject({ text: 'Checking both cities.', finishReason: 'tool-calls' });
    expect(result.toolCalls).toEqual(calls);
    expect(result.toolCalls![1]).not.toHaveProperty('providerMetadata');
  });

  it('surfaces the thoughtSignature of a generate() call too (Gemini 2.5 with thinking signs its call)', async () => {
    next(() => replay('tool-call.sse.txt'));
    const result = await adapter().generate(withTools('auto'));
    expect(result.toolCalls).toEqual([{ id: 'call_0', name: 'get_weather', arguments: '{"city":"Paris"}', providerMetadata: { google: { thoughtSignature: SIGNATURE_25 } } }]);
  });

  it('returns no toolCalls on a plain answer, and keeps length when the budget ran out mid-call', async () => {
    const plain = await adapter().generate(withTools('auto'));
    expect(plain.finishReason).toBe('stop');
    expect(plain).not.toHaveProperty('toolCalls');
    next(() => sseOf({ candidates: [{ content: { parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }], role: 'model' }, finishReason: 'MAX_TOKENS', index: 0 }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 }, modelVersion: MODEL }));
    expect(await adapter().generate(withTools('auto'))).toMatchObject({ finishReason: 'length', toolCalls: [{ id: 'call_0' }] });
  });

  it('sends the follow-up turn natively: the calls as functionCall parts, the results as functionResponse parts', async () => {
    next(() => replay('tool-calls-parallel.sse.txt'));
    const first = await adapter('gemini-3-flash-preview').generate(withTools('auto'));
    const [paris, zurich] = first.toolCalls!;
    const messages: ChatMessage[] = [
      ...request.messages,
      { role: 'assistant', content: first.text, toolCalls: [paris!, zurich!] },
      { role: 'tool', toolCallId: paris!.id, toolName: paris!.name, content: '{"temperature_c":18}' },
      { role: 'tool', toolCallId: zurich!.id, toolName: zurich!.name, content: 'Sunny, 21 °C' },
      { role: 'user', content: 'And tomorrow?' },
    ];
    const followUp = await adapter('gemini-3-flash-preview').generate({ ...withTools('auto'), messages });
    expect(followUp.text).toBe('ok — and nothing else.');
    expect(seen[1]!.body['contents']).toEqual([
      { role: 'user', parts: [{ text: 'Reply with the single word: ok' }] },
      {
        role: 'model',
        parts: [
          { text: 'Checking both cities.' },
          // The first call takes back Gemini's own signature (from providerMetadata.google), not the placeholder.
          { functionCall: { id: '4xq9b2lm', name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: SIGNATURE_3 },
          { functionCall: { id: 'm7c0w3rt', name: 'get_weather', args: { city: 'Zürich', unit: 'celsius' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: '4xq9b2lm', name: 'get_weather', response: { temperature_c: 18 } } },
          { functionResponse: { id: 'm7c0w3rt', name: 'get_weather', response: { result: 'Sunny, 21 °C' } } },
          { text: 'And tomorrow?' },
        ],
      },
    ]);
    expect(seen[1]!.body['systemInstruction']).toEqual({ parts: [{ text: 'You are terse.' }] });
    expect(JSON.stringify(seen[1]!.body)).not.toContain(PLACEHOLDER);
  });

  it('sends each step\'s own signatures back, and the placeholder only on a first call that has none', async () => {
    const call = (id: string, city: string, providerMetadata?: ToolCall['providerMetadata']): ToolCall => ({
      id,
      name: 'get_weather',
      arguments: JSON.stringify({ city }),
      ...(providerMetadata ? { providerMetadata } : {}),
    });
    await adapter('gemini-3-pro-preview').generate({
      ...withTools('auto'),
      messages: [
        { role: 'user', content: 'Weather in Paris, then Rome, then Oslo and Lima?' },
        // Step 1: a Gemini 3 call with its signature.
        { role: 'assistant', content: '', toolCalls: [call('a1', 'Paris', { google: { thoughtSignature: 'sig-step-1' } })] },
        { role: 'tool', toolCallId: 'a1', toolName: 'get_weather', content: '{"temperature_c":18}' },
        // Step 2: calls made by another provider (its own metadata is not Google's): placeholder on the first only.
        { role: 'assistant', content: '', toolCalls: [call('b1', 'Rome', { anthropic: { cacheControl: 'x' } }), call('b2', 'Madrid')] },
        { role: 'tool', toolCallId: 'b1', toolName: 'get_weather', content: '{"temperature_c":24}' },
        { role: 'tool', toolCallId: 'b2', toolName: 'get_weather', content: '{"temperature_c":27}' },
        // Step 3: a malformed Google entry counts as no signature; a later call's own signature is kept as is.
        { role: 'assistant', content: 'Two more.', toolCalls: [call('c1', 'Oslo', { google: { thoughtSignature: 42 } }), call('c2', 'Lima', { google: { thoughtSignature: 'sig-step-3b' } })] },
        { role: 'tool', toolCallId: 'c1', toolName: 'get_weather', content: '{"temperature_c":3}' },
        { role: 'tool', toolCallId: 'c2', toolName: 'get_weather', content: '{"temperature_c":19}' },
      ],
    });
    const models = (seen[0]!.body['contents'] as { role: string; parts: Record<string, unknown>[] }[]).filter((turn) => turn.role === 'model');
    expect(models.map((turn) => turn.parts.map((part) => part['thoughtSignature']))).toEqual([
      ['sig-step-1'],
      [PLACEHOLDER, undefined],
      [undefined, PLACEHOLDER, 'sig-step-3b'], // the text part first, unsigned
    ]);
    expect(models[1]!.parts[1]).not.toHaveProperty('thoughtSignature');
    expect(models[2]!.parts[0]).toEqual({ text: 'Two more.' });
  });

  it('replays a call without text, with its synthesised id, and wraps non-object results and arguments', async () => {
    await adapter().generate({
      ...withTools('auto'),
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'get_weather', arguments: '{"city":"Par' }] },
        { role: 'tool', toolCallId: 'call_0', toolName: 'get_weather', content: '[18,19]' },
      ],
    });
    expect(seen[0]!.body['contents']).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
      // Arguments that are no JSON object (a cut call from another model) go as an empty object.
      { role: 'model', parts: [{ functionCall: { id: 'call_0', name: 'get_weather', args: {} }, thoughtSignature: 'skip_thought_signature_validator' }] },
      { role: 'user', parts: [{ functionResponse: { id: 'call_0', name: 'get_weather', response: { result: [18, 19] } } }] },
    ]);
  });
});

describe('duh/adapters/google: failures', () => {
  it.each([
    ['API_KEY_INVALID (HTTP 400)', 400, 'api-key-invalid.json', 'auth', false],
    ['PERMISSION_DENIED (HTTP 403)', 403, 'permission-denied.json', 'auth', false],
    ['NOT_FOUND (HTTP 404)', 404, 'model-not-found.json', 'model-not-found', false],
    ['INVALID_ARGUMENT (HTTP 400)', 400, 'bad-request.json', 'bad-request', false],
    ['INTERNAL (HTTP 500)', 500, 'server-error.json', 'server', true],
    ['UNAVAILABLE (HTTP 503)', 503, 'overloaded.json', 'overloaded', true],
  ] as const)('maps %s', async (_name, status, body, kind, retryable) => {
    next(() => apiError(status, body));
    const error = await rejection(adapter().generate(request));
    expect(ProviderError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind, retryable, status, provider: 'google', model: MODEL });
    const { message } = error as ProviderError;
    expect(message).toContain(JSON.parse(fixture(body)).error.status);
    if (kind === 'auth') expect(message).toContain('GOOGLE_API_KEY');
  });

  it('takes retryAfterMs from RetryInfo.retryDelay when there is no Retry-After header', async () => {
    next(() => apiError(429, 'rate-limit.json'));
    const error = await rejection(adapter().generate(request));
    expect(ProviderRateLimitError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: 2582 });
  });

  it('prefers the Retry-After header (seconds or retry-after-ms) to RetryInfo', async () => {
    next(() => apiError(429, 'rate-limit.json', { 'retry-after-ms': '750' }));
    expect(await rejection(adapter().generate(request))).toMatchObject({ retryAfterMs: 750 });
  });

  it('says when a daily quota is exhausted and invents no wait', async () => {
    next(() => apiError(429, 'rate-limit-daily.json'));
    const error = (await rejection(adapter().generate(request))) as ProviderRateLimitError;
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.message).toContain('daily quota');
  });

  it('maps an error event inside the stream by its code', async () => {
    next(() => replay('stream-error.sse.txt'));
    const parts: StreamPart[] = [];
    const error = await rejection(
      (async () => {
        for await (const part of adapter().stream(request)) parts.push(part);
      })(),
    );
    expect(parts).toEqual([{ type: 'text-delta', text: 'Use Postgres' }]);
    expect(error).toMatchObject({ kind: 'overloaded', retryable: true, status: 503 });
  });

  it('ends a stream cut between events without a finish part, and generate() throws a retryable TruncatedStreamError', async () => {
    next(() => replay('cut.sse.txt'));
    expect(await drain(adapter().stream(request))).toEqual([
      { type: 'text-delta', text: 'Use Postgres' },
      { type: 'text-delta', text: ' with row-level' },
    ]);
    next(() => replay('cut.sse.txt'));
    const error = await rejection(adapter().generate(request));
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ retryable: true, partialText: 'Use Postgres with row-level' });
  });

  it('throws a TruncatedStreamError when the stream stops in the middle of an event', async () => {
    next(() => replay('cut-mid-event.sse.txt'));
    const error = await rejection(drain(adapter().stream(request)));
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ retryable: true, partialText: 'Use Postgres' });
  });

  it('throws a TruncatedStreamError when the connection breaks mid-stream', async () => {
    // msw closes a failing response body cleanly, so the SDK's mid-body failure (undici's `TypeError: terminated`)
    // is staged with a client whose stream throws it after the first chunk.
    const client = {
      models: {
        generateContentStream: async () =>
          (async function* () {
            yield { candidates: [{ content: { parts: [{ text: 'Use Postgres' }], role: 'model' }, index: 0 }] };
            throw new TypeError('terminated', { cause: new Error('other side closed') });
          })(),
      },
    } as unknown as GoogleClient;
    const parts: StreamPart[] = [];
    const error = await rejection(
      (async () => {
        for await (const part of createGoogle({ client })(MODEL).stream(request)) parts.push(part);
      })(),
    );
    expect(parts).toEqual([{ type: 'text-delta', text: 'Use Postgres' }]);
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ retryable: true, partialText: 'Use Postgres' });
  });

  it('maps a connection failure to a retryable network error', async () => {
    next(() => HttpResponse.error());
    const error = await rejection(adapter().generate(request));
    expect(error).toMatchObject({ kind: 'network', retryable: true });
  });

  it('does not retry inside the SDK: one failed call is one request', async () => {
    next(() => apiError(503, 'overloaded.json'));
    await rejection(adapter().generate(request));
    expect(seen).toHaveLength(1);
  });

  it('never puts the API key in an error message, even when the provider echoes it', async () => {
    next(() =>
      HttpResponse.json(
        { error: { code: 400, message: `API key not valid: ${KEY}. Please pass a valid API key.`, status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } },
        { status: 400, headers: ERROR_HEADERS },
      ),
    );
    const error = (await rejection(adapter().generate(request))) as ProviderError;
    expect(error.kind).toBe('auth');
    expect(error.message).not.toContain(KEY);
    expect(JSON.stringify(serializeError(error))).not.toContain(KEY);
    next(() => HttpResponse.error());
    const network = (await rejection(adapter().generate(request))) as ProviderError;
    expect(`${network.message} ${JSON.stringify(network)}`).not.toContain(KEY);
  });
});

describe('duh/adapters/google: settings', () => {
  it('reads GOOGLE_API_KEY, then GEMINI_API_KEY, on the first call (the apiKey option wins)', async () => {
    vi.stubEnv('GOOGLE_API_KEY', '');
    vi.stubEnv('GEMINI_API_KEY', 'gemini-env-key');
    const model = createGoogle()(MODEL); // reads nothing yet
    vi.stubEnv('GOOGLE_API_KEY', 'google-env-key');
    await model.generate(request);
    expect(seen[0]!.headers.get('x-goog-api-key')).toBe('google-env-key');

    vi.stubEnv('GOOGLE_API_KEY', '');
    await createGoogle()(MODEL).generate(request);
    expect(seen[1]!.headers.get('x-goog-api-key')).toBe('gemini-env-key');

    await createGoogle({ apiKey: 'explicit-key' })(MODEL).generate(request);
    expect(seen[2]!.headers.get('x-goog-api-key')).toBe('explicit-key');
  });

  it('fails with an InvalidOptionError naming both variables when no key is set, before any request', async () => {
    vi.stubEnv('GOOGLE_API_KEY', '');
    vi.stubEnv('GEMINI_API_KEY', '');
    const model = createGoogle()(MODEL);
    const error = await rejection(model.generate(request));
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as InvalidOptionError).message).toBe(
      'Google API key is missing. Pass it with the `apiKey` option or set the GOOGLE_API_KEY (or GEMINI_API_KEY) environment variable.',
    );
    expect(seen).toHaveLength(0);
    // Setting the key afterwards works: a failed client build is not memoized.
    vi.stubEnv('GEMINI_API_KEY', 'late-key');
    await model.generate(request);
    expect(seen[0]!.headers.get('x-goog-api-key')).toBe('late-key');
  });

  it('uses an injected client as is', async () => {
    const received: unknown[] = [];
    const client = {
      models: {
        generateContentStream: async (params: unknown) => {
          received.push(params);
          return (async function* () {
            yield { candidates: [{ content: { parts: [{ text: 'from the injected client' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 5 } };
          })();
        },
      },
    } as unknown as GoogleClient;
    const result = await createGoogle({ client, apiKey: 'unused' })(MODEL).generate(request);
    expect(result).toMatchObject({ text: 'from the injected client', finishReason: 'stop', usage: { inputTokens: 4, outputTokens: 5 } });
    expect(received).toEqual([expect.objectContaining({ model: MODEL, config: expect.objectContaining({ maxOutputTokens: 64 }) })]);
    expect(seen).toHaveLength(0);
  });

  it('maps errors from an injected GoogleGenAI client too (RetryInfo without our fetch)', async () => {
    const client = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: 'https://vertex-proxy.example.test' } });
    server.use(http.post('https://vertex-proxy.example.test/:version/models/*', () => apiError(429, 'rate-limit.json', { 'retry-after': '9' }), { once: true }));
    const error = await rejection(createGoogle({ client })(MODEL).generate(request));
    // The SDK's own fetch is kept, so response headers are out of reach: the body's RetryInfo still counts.
    expect(error).toMatchObject({ kind: 'rate-limit', retryAfterMs: 2582 });
  });

  it('takes catalog info, with provider-level and model-level overrides, and lists the catalog', () => {
    const provider = createGoogle({ apiKey: KEY, models: { 'gemini-2.5-pro': { outputPricePerMTok: 11, displayName: 'Pro' } } });
    expect(provider('gemini-2.5-pro', { info: { outputPricePerMTok: 12 } }).info).toMatchObject({
      provider: 'google',
      modelId: 'gemini-2.5-pro',
      displayName: 'Pro',
      contextWindow: 1_048_576,
      maxOutputTokens: 65_536,
      inputPricePerMTok: 1.25,
      outputPricePerMTok: 12,
      proposerEligible: true,
    });
    expect(provider('gemini-experimental').info).toMatchObject({ contextWindow: 1_048_576, maxOutputTokens: 8_192, outputPricePerMTok: 0 });
    expect(google.models()).toEqual(['gemini-3-pro-preview', 'gemini-3-flash-preview', 'gemini-2.5-pro', 'gemini-2.5-flash']);
  });
});

describe('duh/adapters/google: aborts', () => {
  /** A stream that sends one event, then stays open until the client goes away. */
  function hangingStream() {
    let closed!: () => void;
    const clientGone = new Promise<void>((resolve) => (closed = resolve));
    next((sent) => {
      sent.signal.addEventListener('abort', () => closed(), { once: true });
      const first = transcript('cut.sse.txt').body.split('\r\n\r\n')[0]!;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`${first}\r\n\r\n`));
        },
        cancel() {
          closed();
        },
      });
      return new HttpResponse(body, { headers: transcript('text.sse.txt').headers });
    });
    return clientGone;
  }

  it('sends no request when the signal is already aborted', async () => {
    const reason = new Error('stop before starting');
    const error = await rejection(adapter().generate(request, { signal: AbortSignal.abort(reason) }));
    expect(error).toBe(reason);
    expect(seen).toHaveLength(0);
  });

  it('aborts the HTTP request mid-stream and rethrows the abort', async () => {
    const clientGone = hangingStream();
    const controller = new AbortController();
    const iterator = adapter().stream(request, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ type: 'text-delta', text: 'Use Postgres' });
    const pending = iterator.next();
    controller.abort();
    const error = await rejection(pending);
    expect((error as Error).name).toBe('AbortError');
    expect(ProviderError.isInstance(error)).toBe(false);
    await clientGone; // the server saw the connection close
  });

  it('closes the HTTP stream when the consumer stops reading early', async () => {
    const clientGone = hangingStream();
    for await (const part of adapter().stream(request)) {
      expect(part).toEqual({ type: 'text-delta', text: 'Use Postgres' });
      break;
    }
    await clientGone;
  });
});

describe('duh/adapters/google: in a consensus run', () => {
  it('takes part as challenger and classifier through msw', async () => {
    server.use(
      http.post(ENDPOINT, async ({ request: sent }) => {
        await record(sent);
        const body = (await sent.clone().json()) as { generationConfig?: { responseMimeType?: string } };
        return replay(body.generationConfig?.responseMimeType === 'application/json' ? 'classify-json.sse.txt' : 'challenge.sse.txt');
      }),
    );
    const proposer = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: { inputPricePerMTok: 5, outputPricePerMTok: 25 },
      reply: (_request, { system }) => (system.includes('independent experts challenged') ? 'Use Postgres with RLS; consider schema-per-tenant for large tenants.' : 'Use Postgres with row-level security.'),
    });
    const critic = new MockAdapter({ ref: 'openai:gpt-5.2', info: { inputPricePerMTok: 1.75, outputPricePerMTok: 14 }, reply: 'The proposal ignores noisy neighbours.' });
    const gemini = createGoogle({ apiKey: KEY })(MODEL);
    const result = await new Consensus({ models: [proposer, critic, gemini], rounds: 1 }).ask('How should a SaaS isolate tenant data in Postgres?');

    expect(result.decision).toBe('Use Postgres with RLS; consider schema-per-tenant for large tenants.');
    expect(result.dissent).toContain('[google:gemini-2.5-flash]: Consider schema-per-tenant instead; migrations differ.');
    expect(result.taxonomy).toEqual({ intent: 'technical', category: 'databases', genus: 'multi-tenancy' });
    expect(result.failures).toEqual([]);
    const challenge = seen.find((call) => !JSON.stringify(call.body).includes('application/json'));
    expect(challenge?.body['systemInstruction']).toBeDefined();
    expect(seen.some((call) => (call.body['generationConfig'] as { responseMimeType?: string }).responseMimeType === 'application/json')).toBe(true);
    expect(result.cost.totalUsd).toBeGreaterThan(0);
  });
});

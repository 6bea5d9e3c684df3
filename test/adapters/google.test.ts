// duh/adapters/google against @google/genai, with the Gemini API replayed by msw from recorded-format fixtures.
import { readFileSync } from 'node:fs';
import { GoogleGenAI, ThinkingLevel } from '@google/genai';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGoogle, google, type GoogleClient } from '../../adapters/google.js';
import type { StreamPart } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError, serializeError } from '../../src/errors.js';
import { modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { drain, mockServer, rejection, request as standardRequest } from './_helpers.js';

const KEY = 'AIzaSyD-test-9f8e7d6c5b4a3f2e1d0c9b8a7f6';
const ENDPOINT = 'https://generativelanguage.googleapis.com/:version/models/*';
const MODEL = 'gemini-2.5-flash';
const FIXTURES = new URL('./__fixtures__/google/', import.meta.url);

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

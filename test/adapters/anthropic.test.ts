// duh/adapters/anthropic against recorded Anthropic Messages API traffic (API version 2026-10-21), served by msw.
import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { http, HttpResponse } from 'msw';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { anthropic, createAnthropic, type AnthropicClient } from '../../adapters/anthropic.js';
import type { ChatMessage, GenerateRequest, ModelAdapter, StreamPart } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, ProviderError, ProviderRateLimitError, serializeError, TruncatedStreamError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { byPhase } from '../helpers.js';
import { bearerKey, drain as drainParts, mockServer, request as standardRequest, TENANT_KEY, textOf, withApiKeyCases } from './_helpers.js';

const API_KEY = 'sk-ant-api03-Tq8vXw2LmN4pR6sT8uV0wX2yZ4aB6cD8eF0gH2iJ4kL6mN8oP0qR2sT4uV6wX8yZ0aB2cD4eF6gH8iJ0kL2mN4oP6qR8sT0uA';
const MESSAGES_URL = 'https://api.anthropic.com/v1/messages';
const FIXTURES = new URL('./__fixtures__/anthropic/', import.meta.url);

// ---- Fixtures: recorded responses, replayed byte for byte with their status and headers. ----

interface Recorded {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `.sse.txt`: an HTTP response transcript (status line, headers, blank line, event stream). `.json`: `{ status, headers, body }`. */
function recorded(name: string): Recorded {
  const raw = readFileSync(new URL(name, FIXTURES), 'utf8');
  if (name.endsWith('.sse.txt')) {
    const split = raw.indexOf('\n\n');
    const [statusLine = '', ...lines] = raw.slice(0, split).split('\n');
    const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
    return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 2) };
  }
  const json = JSON.parse(raw) as { status: number; headers: Record<string, string>; body: unknown };
  return { status: json.status, headers: json.headers, body: JSON.stringify(json.body) };
}

interface ReplayOptions {
  /** Send only this many characters of the body, then close the connection cleanly. */
  cutAt?: number;
  /** After the (possibly cut) body, keep the connection open until the client goes away. */
  hang?: { cancelled: () => void };
  /** Characters per network chunk, so the SDK's SSE parser sees events split across reads. */
  chunk?: number;
}

function replay(name: string, options: ReplayOptions = {}): Response {
  const { status, headers, body } = recorded(name);
  const text = options.cutAt === undefined ? body : body.slice(0, options.cutAt);
  const size = options.chunk ?? 61;
  const bytes = new TextEncoder();
  const chunks: string[] = [];
  for (let at = 0; at < text.length; at += size) chunks.push(text.slice(at, at + size));
  // One chunk per read, as a network would deliver them; the ending (close or hang) comes after the last one.
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next !== undefined) return controller.enqueue(bytes.encode(next));
      if (options.hang) return new Promise<void>(() => {});
      controller.close();
    },
    cancel() {
      options.hang?.cancelled();
    },
  });
  return new HttpResponse(stream, { status, headers });
}

// ---- The fake Anthropic API. ----

interface Seen {
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];

/** A handler for POST /v1/messages that records the request, then answers by `respond` (streamed or not). */
function messages(respond: (body: Record<string, unknown>, request: Request) => Response | Promise<Response>, once = false, url = MESSAGES_URL) {
  return http.post(
    url,
    async ({ request }) => {
      const body = (await request.clone().json()) as Record<string, unknown>;
      seen.push({ url: request.url, headers: request.headers, body });
      return respond(body, request);
    },
    { once },
  );
}

/** Streamed requests get the `.sse.txt` transcript, plain ones the `.json` response. */
const byMode = (stem: string) => (body: Record<string, unknown>) => replay(body['stream'] === true ? `${stem}.sse.txt` : `${stem}.json`);

const server = mockServer(messages(byMode('text')));

beforeEach(() => {
  seen.length = 0;
  // The SDK reads these; keep the developer's shell out of the tests.
  vi.stubEnv('ANTHROPIC_BASE_URL', '');
  vi.stubEnv('ANTHROPIC_API_KEY', '');
  vi.stubEnv('ANTHROPIC_AUTH_TOKEN', '');
});

/** The standard request at temperature 0.7 (the adapter leaves it out unless `sendTemperature` is on). */
const request: GenerateRequest = { ...standardRequest, temperature: 0.7 };

const sonnet = (settings: Parameters<typeof createAnthropic>[0] = {}) => createAnthropic({ apiKey: API_KEY, ...settings })('claude-sonnet-4-6');

async function drain(adapter: ModelAdapter, options: { signal?: AbortSignal } = {}, req: GenerateRequest = request): Promise<StreamPart[]> {
  return drainParts(adapter.stream(req, options));
}

const finishOf = (parts: StreamPart[]) => parts.find((part): part is Extract<StreamPart, { type: 'finish' }> => part.type === 'finish');

// ---- The conformance suite, with every failure scenario staged on the fake API. ----

describe('anthropic adapter: conformance', () => {
  const once = (stem: string) => () => void server.use(messages(byMode(stem), true));
  const status = (fixture: string) => () => void server.use(messages(() => replay(fixture), true));
  const cases = modelAdapterConformance({
    create: () => sonnet(),
    scenarios: {
      rateLimit: status('rate-limit.json'),
      serverError: status('server-error.json'),
      // Anthropic's "overloaded" is HTTP 529 with an overloaded_error body.
      overloaded: status('overloaded.json'),
      unauthorized: status('unauthorized.json'),
      // Streamed: the event stream stops before message_delta and message_stop. Plain: the JSON body stops halfway.
      cutStream: () =>
        void server.use(
          messages((body) => (body['stream'] === true ? replay('cut.sse.txt') : replay('text.json', { cutAt: recorded('text.json').body.length / 2 })), true),
        ),
      length: once('max-tokens'),
      contentFilter: once('refusal'),
      // One get_weather call after a text block; streamed, its arguments arrive as input_json_delta fragments.
      toolCall: once('tool-use'),
    },
  });
  for (const check of cases) it(check.name, check.run);
});

// ---- Request mapping: the JSON the SDK actually sent. ----

describe('anthropic adapter: request mapping', () => {
  it('sends model, max_tokens, the joined system prompt and the other messages, and no temperature', async () => {
    await sonnet().generate({
      messages: [
        { role: 'system', content: 'You are an expert advisor.' },
        { role: 'system', content: 'Answer in one paragraph.' },
        { role: 'user', content: 'Monolith or microservices?' },
        { role: 'assistant', content: 'Monolith.' },
        { role: 'user', content: 'Why?' },
      ],
      maxOutputTokens: 1234,
      temperature: 0.7,
    });
    expect(seen).toHaveLength(1);
    const [sent] = seen;
    expect(sent!.url).toBe(MESSAGES_URL);
    expect(sent!.body).toEqual({
      model: 'claude-sonnet-4-6',
      max_tokens: 1234,
      system: 'You are an expert advisor.\n\nAnswer in one paragraph.',
      messages: [
        { role: 'user', content: 'Monolith or microservices?' },
        { role: 'assistant', content: 'Monolith.' },
        { role: 'user', content: 'Why?' },
      ],
    });
    // API version 2026-10-21 answers 400 to any sampling parameter, even at its default value.
    expect(sent!.body).not.toHaveProperty('temperature');
    expect(sent!.headers.get('anthropic-version')).toBe('2026-10-21');
    expect(sent!.headers.get('authorization')).toBe(`Bearer ${API_KEY}`);
    // The engine owns retries: the SDK must not retry on its own.
    expect(sent!.headers.get('x-stainless-retry-count')).toBe('0');
  });

  it('streams with stream: true and the same body', async () => {
    await drain(sonnet());
    expect(seen[0]!.body).toEqual({
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Reply with the single word: ok' }],
      stream: true,
    });
  });

  it('asks for JSON in the system prompt, sends stop sequences and merges providerOptions.anthropic', async () => {
    await sonnet().generate({
      ...request,
      responseFormat: 'json',
      stopSequences: ['\n\nHuman:', 'END'],
      providerOptions: { anthropic: { metadata: { user_id: 'tenant-42' }, service_tier: 'standard_only' }, openai: { store: true } },
    });
    const body = seen[0]!.body;
    expect(body['system']).toMatch(/^You are terse\.\n\nReply with a single JSON object only/);
    expect(body['stop_sequences']).toEqual(['\n\nHuman:', 'END']);
    expect(body['metadata']).toEqual({ user_id: 'tenant-42' });
    expect(body['service_tier']).toBe('standard_only');
    expect(body).not.toHaveProperty('store');
  });

  it('puts the JSON instruction alone in `system` when the request has no system message', async () => {
    await sonnet().generate({ messages: [{ role: 'user', content: 'Classify this.' }], maxOutputTokens: 16, responseFormat: 'json' });
    expect(seen[0]!.body['system']).toMatch(/^Reply with a single JSON object only/);
    expect(seen[0]!.body['messages']).toEqual([{ role: 'user', content: 'Classify this.' }]);
  });

  it('leaves `system` out when there is no system prompt', async () => {
    await sonnet().generate({ messages: [{ role: 'user', content: 'Hi' }], maxOutputTokens: 16 });
    expect(seen[0]!.body).not.toHaveProperty('system');
    expect(seen[0]!.body).not.toHaveProperty('stop_sequences');
  });

  it('sends temperature, clamped to 0..1, only when sendTemperature is on', async () => {
    await sonnet({ sendTemperature: true, headers: { 'anthropic-version': '2023-06-01' } }).generate({ ...request, temperature: 1.4 });
    await sonnet({ sendTemperature: true }).generate({ ...request, temperature: 0.3 });
    expect(seen[0]!.body['temperature']).toBe(1);
    expect(seen[0]!.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(seen[1]!.body['temperature']).toBe(0.3);
  });

  it('uses baseURL and extra headers', async () => {
    server.use(messages(byMode('text'), true, 'https://gateway.example.com/anthropic/v1/messages'));
    await sonnet({ baseURL: 'https://gateway.example.com/anthropic', headers: { 'x-team': 'research' } }).generate(request);
    expect(seen[0]!.url).toBe('https://gateway.example.com/anthropic/v1/messages');
    expect(seen[0]!.headers.get('x-team')).toBe('research');
  });

  it('uses a custom fetch when given one', async () => {
    const calls: string[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return globalThis.fetch(input, init);
    };
    await sonnet({ fetch }).generate(request);
    expect(calls).toEqual([MESSAGES_URL]);
  });
});

// ---- Response mapping. ----

describe('anthropic adapter: response mapping', () => {
  it('returns the text, usage and finish reason of a plain answer, with the request id', async () => {
    const result = await sonnet().generate(request);
    expect(result).toEqual({
      text: 'ok, done.',
      usage: { inputTokens: 21, outputTokens: 6, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      finishReason: 'stop',
      providerMetadata: { requestId: 'req_011CVRt8aQ3fWn5xKjH7uPzD', messageId: 'msg_011CVRt8b1YzNq6vTgWc2JeF', stopReason: 'end_turn' },
    });
  });

  it('streams the text deltas, then one finish with usage from message_start and message_delta', async () => {
    const parts = await drain(sonnet());
    expect(parts).toEqual([
      { type: 'text-delta', text: 'ok' },
      { type: 'text-delta', text: ', done.' },
      {
        type: 'finish',
        usage: { inputTokens: 21, outputTokens: 6, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
        finishReason: 'stop',
        providerMetadata: { requestId: 'req_011CVRt7mYqXe3Gk2ZpB8sLw', messageId: 'msg_011CVRt7n2KpQw8dLmZx4YhT', stopReason: 'end_turn' },
      },
    ]);
  });

  it('joins every text block (duh kept only the last) and skips thinking blocks', async () => {
    server.use(messages(byMode('thinking-cache')));
    const result = await createAnthropic({ apiKey: API_KEY })('claude-opus-4-6').generate(request);
    expect(result.text).toBe('Use Postgres with row-level security. Add per-tenant pools later.');
    const parts = await drain(createAnthropic({ apiKey: API_KEY })('claude-opus-4-6'));
    expect(textOf(parts)).toBe(result.text);
  });

  it('maps cache reads and writes and thinking tokens; inputTokens is the whole prompt', async () => {
    server.use(messages(byMode('thinking-cache')));
    const expected = { inputTokens: 12 + 2048 + 512, outputTokens: 180, cacheReadTokens: 2048, cacheWriteTokens: 512, reasoningTokens: 120 };
    const adapter = createAnthropic({ apiKey: API_KEY })('claude-opus-4-6');
    expect((await adapter.generate(request)).usage).toEqual(expected);
    expect(finishOf(await drain(adapter))?.usage).toEqual(expected);
  });

  it('maps max_tokens to "length" and refusal to "content-filter" with the refusal details', async () => {
    server.use(messages(byMode('max-tokens'), true));
    const cut = await sonnet().generate(request);
    expect(cut).toMatchObject({ finishReason: 'length', text: 'The short answer is that it depends on how many tenants', usage: { outputTokens: 64 } });

    server.use(messages(byMode('refusal')));
    const refused = await sonnet().generate(request);
    expect(refused.finishReason).toBe('content-filter');
    expect(refused.text).toBe('');
    expect(refused.providerMetadata?.['stopDetails']).toMatchObject({ type: 'refusal', category: 'cyber' });
    const finish = finishOf(await drain(sonnet()));
    expect(finish?.finishReason).toBe('content-filter');
    expect(finish?.providerMetadata?.['stopDetails']).toMatchObject({ type: 'refusal', category: 'cyber' });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool-calls'],
    ['refusal', 'content-filter'],
    ['some_future_reason', 'stop'],
  ] as const)('maps stop_reason %s to finish reason %s (generate and stream)', async (stopReason, finishReason) => {
    const plain = recorded('text.json');
    const streamed = recorded('text.sse.txt');
    server.use(
      messages((body) => {
        if (body['stream'] !== true) {
          const json = JSON.parse(plain.body) as Record<string, unknown>;
          return new HttpResponse(JSON.stringify({ ...json, stop_reason: stopReason }), { status: 200, headers: plain.headers });
        }
        const events = streamed.body.replace('"stop_reason":"end_turn"', `"stop_reason":"${stopReason}"`);
        return new HttpResponse(events, { status: 200, headers: streamed.headers });
      }),
    );
    expect((await sonnet().generate(request)).finishReason).toBe(finishReason);
    expect(finishOf(await drain(sonnet()))?.finishReason).toBe(finishReason);
  });

  it('reports the stop sequence that ended the answer', async () => {
    const plain = recorded('text.json');
    server.use(
      messages(() => {
        const json = JSON.parse(plain.body) as Record<string, unknown>;
        return new HttpResponse(JSON.stringify({ ...json, stop_reason: 'stop_sequence', stop_sequence: 'END' }), { status: 200, headers: plain.headers });
      }, true),
    );
    const result = await sonnet().generate({ ...request, stopSequences: ['END'] });
    expect(result.finishReason).toBe('stop');
    expect(result.providerMetadata?.['stopSequence']).toBe('END');
  });
});

// ---- Tools: definitions and choice out, tool_use blocks back, calls and results in the follow-up turn. ----

describe('anthropic adapter: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' };
  const weatherTool = { name: 'get_weather', description: 'The current weather in a city.', input_schema: CONFORMANCE_TOOL.parameters };

  it('sends tools as { name, description, input_schema } and toolChoice auto as { type: "auto" }', async () => {
    server.use(messages(byMode('tool-use')));
    await sonnet().generate(withTools);
    await drain(sonnet(), {}, withTools);
    const expected = {
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Reply with the single word: ok' }],
      tools: [weatherTool],
      tool_choice: { type: 'auto' },
    };
    expect(seen[0]!.body).toEqual(expected);
    expect(seen[1]!.body).toEqual({ ...expected, stream: true });
  });

  it.each([
    ['required', { type: 'any' }],
    ['none', { type: 'none' }],
    [{ name: 'get_weather' }, { type: 'tool', name: 'get_weather' }],
  ] as const)('maps toolChoice %j to tool_choice %j', async (toolChoice, expected) => {
    await sonnet().generate({ ...withTools, toolChoice });
    expect(seen[0]!.body['tool_choice']).toEqual(expected);
    expect(seen[0]!.body['tools']).toEqual([weatherTool]);
  });

  it('leaves tool_choice to the API default without toolChoice, and sends neither without tools', async () => {
    await sonnet().generate({ ...request, tools: [CONFORMANCE_TOOL] });
    await sonnet().generate({ ...request, toolChoice: 'required' });
    await sonnet().generate({ ...request, tools: [], toolChoice: 'auto' });
    expect(seen[0]!.body['tools']).toEqual([weatherTool]);
    expect(seen[0]!.body).not.toHaveProperty('tool_choice');
    for (const sent of seen.slice(1)) {
      expect(sent.body).not.toHaveProperty('tools');
      expect(sent.body).not.toHaveProperty('tool_choice');
    }
  });

  it('adds type: "object" to a schema that leaves it out', async () => {
    await sonnet().generate({ ...request, tools: [{ name: 'now', description: 'The time.', parameters: { properties: {} } }] });
    expect(seen[0]!.body['tools']).toEqual([{ name: 'now', description: 'The time.', input_schema: { type: 'object', properties: {} } }]);
  });

  it('returns the text and the tool_use block of a plain answer as toolCalls, with finish reason tool-calls', async () => {
    server.use(messages(byMode('tool-use')));
    const result = await sonnet().generate(withTools);
    expect(result).toEqual({
      text: "I'll look up the current weather in Paris.",
      toolCalls: [{ id: 'toolu_011CVS4hQ9sD2fJ6kL4mN7pR', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      usage: { inputTokens: 612, outputTokens: 57, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      finishReason: 'tool-calls',
      providerMetadata: { requestId: 'req_011CVS4hN8bT2vQ6xW9zK3pF', messageId: 'msg_011CVS4hP3kR7wM1yZ5tG8nC', stopReason: 'tool_use' },
    });
  });

  it('assembles a streamed call from its input_json_delta fragments and yields it once, before finish', async () => {
    server.use(messages(byMode('tool-use')));
    const parts = await drain(sonnet(), {}, withTools);
    expect(parts).toEqual([
      { type: 'text-delta', text: "I'll look up the current" },
      { type: 'text-delta', text: ' weather in Paris.' },
      // The JSON text exactly as streamed (with the model's space), not re-serialised.
      { type: 'tool-call', toolCall: { id: 'toolu_011CVS4gG7tL3eS5xP8uA4jV', name: 'get_weather', arguments: '{"city": "Paris"}' } },
      {
        type: 'finish',
        usage: { inputTokens: 612, outputTokens: 57, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
        finishReason: 'tool-calls',
        providerMetadata: { requestId: 'req_011CVS4gE5nX8cV3bM6qW1tY', messageId: 'msg_011CVS4gF2pK9dR4wN7sZ3hU', stopReason: 'tool_use' },
      },
    ]);
  });

  it('yields a call at its content_block_stop, while the stream goes on', async () => {
    const full = recorded('tool-use.sse.txt').body;
    server.use(messages(() => replay('tool-use.sse.txt', { cutAt: full.indexOf('event: message_delta') }), true));
    const parts = await drain(sonnet(), {}, withTools);
    expect(parts.filter((part) => part.type === 'tool-call')).toHaveLength(1);
    expect(finishOf(parts)).toBeUndefined();
  });

  it('yields no half-streamed call when the stream is cut inside it', async () => {
    const full = recorded('tool-use.sse.txt').body;
    server.use(messages(() => replay('tool-use.sse.txt', { cutAt: full.indexOf('is\\"}') }), true));
    const parts = await drain(sonnet(), {}, withTools);
    expect(textOf(parts)).toBe("I'll look up the current weather in Paris.");
    expect(parts.filter((part) => part.type !== 'text-delta')).toEqual([]);
  });

  it('streams parallel calls by block index; a call without deltas gets its start input; an unclosed call still comes before finish', async () => {
    const events = [
      { type: 'message_start', message: { id: 'msg_1', content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} } },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_b', name: 'get_time', input: {} } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '"Oslo"}' } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_c', name: 'get_weather', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":"Rome"}' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 40 } },
      { type: 'message_stop' },
    ];
    const client: AnthropicClient = {
      messages: {
        async create() {
          return (async function* () {
            yield* events;
          })();
        },
      },
    };
    const parts = await drain(createAnthropic({ client })('claude-sonnet-4-6'), {}, withTools);
    expect(parts.map((part) => (part.type === 'tool-call' ? part.toolCall : part.type))).toEqual([
      { id: 'toolu_b', name: 'get_time', arguments: '{}' },
      { id: 'toolu_a', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      { id: 'toolu_c', name: 'get_weather', arguments: '{"city":"Rome"}' },
      'finish',
    ]);
    expect(finishOf(parts)?.finishReason).toBe('tool-calls');
  });

  it('sends the follow-up turn natively: the assistant text and tool_use blocks, then the tool_result in a user turn', async () => {
    server.use(messages(byMode('tool-use'), true));
    const { toolCalls = [] } = await sonnet().generate(withTools);
    const [call] = toolCalls;
    const followUp: ChatMessage[] = [
      ...request.messages,
      { role: 'assistant', content: "I'll look up the current weather in Paris.", toolCalls },
      { role: 'tool', toolCallId: call!.id, toolName: call!.name, content: '{"temperature_c":18}' },
    ];
    const answer = await sonnet().generate({ ...withTools, messages: followUp });
    expect(answer.text).toBe('ok, done.');
    await drain(sonnet(), {}, { ...withTools, messages: followUp });
    const expectedMessages = [
      { role: 'user', content: 'Reply with the single word: ok' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: "I'll look up the current weather in Paris." },
          { type: 'tool_use', id: 'toolu_011CVS4hQ9sD2fJ6kL4mN7pR', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_011CVS4hQ9sD2fJ6kL4mN7pR', content: '{"temperature_c":18}' }] },
    ];
    expect(seen[1]!.body['messages']).toEqual(expectedMessages);
    expect(seen[1]!.body['tools']).toEqual([weatherTool]);
    expect(seen[1]!.body['system']).toBe('You are terse.');
    expect(seen[2]!.body['messages']).toEqual(expectedMessages);
  });

  it('merges consecutive tool results (and a user message right after them) into one user turn; a call-only turn has no text block', async () => {
    await sonnet().generate({
      ...withTools,
      messages: [
        { role: 'user', content: 'Weather in Oslo and Rome?' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [
            { id: 'toolu_a', name: 'get_weather', arguments: '{"city":"Oslo"}' },
            { id: 'toolu_b', name: 'get_weather', arguments: '{"city":"Rome"}' },
          ],
        },
        { role: 'tool', toolCallId: 'toolu_a', toolName: 'get_weather', content: '{"temperature_c":4}' },
        { role: 'tool', toolCallId: 'toolu_b', toolName: 'get_weather', content: '{"temperature_c":17}' },
        { role: 'user', content: 'And in Fahrenheit?' },
        { role: 'assistant', content: 'Oslo 39 °F, Rome 63 °F.' },
        { role: 'user', content: 'Thanks.' },
      ],
    });
    expect(seen[0]!.body['messages']).toEqual([
      { role: 'user', content: 'Weather in Oslo and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_a', content: '{"temperature_c":4}' },
          { type: 'tool_result', tool_use_id: 'toolu_b', content: '{"temperature_c":17}' },
          { type: 'text', text: 'And in Fahrenheit?' },
        ],
      },
      { role: 'assistant', content: 'Oslo 39 °F, Rome 63 °F.' },
      { role: 'user', content: 'Thanks.' },
    ]);
  });

  it.each([['{"city": "Par'], [''], ['["Paris"]'], ['"Paris"'], ['null']])('sends input {} for call arguments %j, which are not a JSON object', async (args) => {
    await sonnet().generate({
      ...withTools,
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_x', name: 'get_weather', arguments: args }] },
        { role: 'tool', toolCallId: 'toolu_x', toolName: 'get_weather', content: 'error: bad arguments' },
      ],
    });
    expect((seen[0]!.body['messages'] as { content: unknown }[])[1]!.content).toEqual([{ type: 'tool_use', id: 'toolu_x', name: 'get_weather', input: {} }]);
  });
});

// ---- Truncation and errors. ----

describe('anthropic adapter: truncation', () => {
  it('ends a stream cut before message_stop without a finish part, keeping the text it had', async () => {
    server.use(messages(() => replay('cut.sse.txt'), true));
    const parts = await drain(sonnet());
    expect(textOf(parts)).toBe('Use Postgres with row-level');
    expect(finishOf(parts)).toBeUndefined();
  });

  it('does not report success when message_delta arrived but message_stop did not', async () => {
    const full = recorded('text.sse.txt').body;
    server.use(messages(() => replay('text.sse.txt', { cutAt: full.indexOf('event: message_stop') }), true));
    expect(finishOf(await drain(sonnet()))).toBeUndefined();
  });

  it('throws a retryable TruncatedStreamError when the connection resets mid-event', async () => {
    // msw ends an erroring body cleanly, so the reset is staged in `fetch`: the body fails as undici's does.
    const full = recorded('text.sse.txt').body;
    const resetting: typeof globalThis.fetch = async (input, init) => {
      const response = await globalThis.fetch(input, init);
      const head = (await response.text()).slice(0, full.indexOf('", done."') - 20);
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(new TypeError('terminated', { cause: new Error('other side closed') }));
          sent = true;
          controller.enqueue(new TextEncoder().encode(head));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    server.use(messages(() => replay('text.sse.txt'), true));
    const error = await drain(sonnet({ fetch: resetting })).catch((caught: unknown) => caught);
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
    expect((error as TruncatedStreamError).retryable).toBe(true);
    expect((error as TruncatedStreamError).partialText).toBe('ok');
  });

  it('throws a retryable TruncatedStreamError when a plain answer body is cut', async () => {
    server.use(messages(() => replay('text.json', { cutAt: 200 }), true));
    const error = await sonnet().generate(request).catch((caught: unknown) => caught);
    expect(TruncatedStreamError.isInstance(error)).toBe(true);
    expect((error as ProviderError).retryable).toBe(true);
  });

  it('maps an overloaded_error event mid-stream to a retryable overloaded error', async () => {
    server.use(messages(() => replay('error-event.sse.txt'), true));
    const parts: StreamPart[] = [];
    const error = await (async () => {
      for await (const part of sonnet().stream(request)) parts.push(part);
    })().catch((caught: unknown) => caught);
    expect(textOf(parts)).toBe('Use Postgres');
    expect(ProviderError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'overloaded', retryable: true, requestId: 'req_011CVRy4JjK6lZ9xC2vB5nMq' });
    expect((error as Error).message).toContain('overloaded_error: Overloaded');
  });
});

describe('anthropic adapter: HTTP errors', () => {
  const failWith = async (fixture: string, adapter: ModelAdapter = sonnet()) => {
    server.use(messages(() => replay(fixture)));
    const generated = await adapter.generate(request).catch((caught: unknown) => caught);
    const streamed = await drain(adapter).catch((caught: unknown) => caught);
    expect(ProviderError.isInstance(generated)).toBe(true);
    expect(ProviderError.isInstance(streamed)).toBe(true);
    expect(serializeError(streamed)).toEqual(serializeError(generated));
    return generated as ProviderError;
  };

  it('429: a ProviderRateLimitError with retryAfterMs, the request id and which limit ran out', async () => {
    const error = await failWith('rate-limit.json');
    expect(ProviderRateLimitError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'rate-limit', retryable: true, retryAfterMs: 2000, status: 429, requestId: 'req_011CVRz7PpQ1wE4rT7yU0iOp' });
    expect(error.message).toContain('rate_limit_error');
    expect(error.message).toContain('input tokens per minute limit is used up until 2026-11-24T09:31:02Z');
  });

  it('529: a retryable overloaded error', async () => {
    expect(await failWith('overloaded.json')).toMatchObject({ kind: 'overloaded', retryable: true, status: 529, requestId: 'req_011CVS1aB2cD3eF4gH5iJ6kL' });
  });

  it('500: a retryable server error', async () => {
    expect(await failWith('server-error.json')).toMatchObject({ kind: 'server', retryable: true, status: 500 });
  });

  it('401: a non-retryable auth error that names ANTHROPIC_API_KEY', async () => {
    const error = await failWith('unauthorized.json');
    expect(error).toMatchObject({ kind: 'auth', retryable: false, status: 401 });
    expect(error.message).toContain('ANTHROPIC_API_KEY');
    expect(error.message).toContain('authentication_error: invalid x-api-key');
  });

  it('404: a non-retryable model-not-found error naming the model', async () => {
    const error = await failWith('not-found.json', createAnthropic({ apiKey: API_KEY })('claude-sonnet-9'));
    expect(error).toMatchObject({ kind: 'model-not-found', retryable: false, status: 404, model: 'claude-sonnet-9' });
    expect(error.message).toContain('`claude-sonnet-9`');
  });

  it('400: a non-retryable bad-request error, with advice when a sampling parameter was rejected', async () => {
    const error = await failWith('bad-request.json');
    expect(error).toMatchObject({ kind: 'bad-request', retryable: false, status: 400 });
    expect(error.message).toContain('temperature: Extra inputs are not permitted');
    expect(error.message).toContain('sendTemperature');
  });

  it('a refused connection: a retryable network error', async () => {
    server.use(http.post(MESSAGES_URL, () => HttpResponse.error()));
    const error = await sonnet().generate(request).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect((error as Error).message).toContain('Network error');
  });

  it('never puts the API key in an error message or its JSON', async () => {
    // Even when a misbehaving proxy echoes the Authorization header back in its error body.
    server.use(
      messages((_body, req) =>
        HttpResponse.json(
          { type: 'error', error: { type: 'authentication_error', message: `bad credentials: ${req.headers.get('authorization')}` } },
          { status: 401, headers: { 'request-id': 'req_011CVS9echo' } },
        ),
      ),
    );
    for (const run of [() => sonnet().generate(request), () => drain(sonnet())]) {
      const error = (await run().catch((caught: unknown) => caught)) as ProviderError;
      expect(ProviderError.isInstance(error)).toBe(true);
      expect(error.message).not.toContain(API_KEY);
      expect(error.message).not.toContain(API_KEY.slice(10, 40));
      expect(JSON.stringify(serializeError(error))).not.toContain(API_KEY.slice(10, 40));
    }
    server.use(messages(() => replay('unauthorized.json')));
    const real = (await sonnet().generate(request).catch((caught: unknown) => caught)) as ProviderError;
    expect(`${real.message} ${String(real.cause)} ${JSON.stringify(real)}`).not.toContain(API_KEY.slice(10, 40));
  });
});

// ---- Keys, clients and signals. ----

/** Every key a request carries: the SDK sends its key as `Authorization: Bearer`; a second one in `x-api-key` would show here. */
const keysOf = (headers: Headers) => [headers.get('x-api-key'), bearerKey(headers)].filter((key) => key !== null).join(' + ') || null;

describe('anthropic adapter: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: MESSAGES_URL,
    create: () => sonnet(),
    ownKey: API_KEY,
    keyOf: keysOf,
    answer: async (sent) => byMode('text')((await sent.clone().json()) as Record<string, unknown>),
    unauthorized: (key) =>
      HttpResponse.json({ type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${key}` }, request_id: 'req_011CVS9tenant' }, { status: 401 }),
    keyless: { env: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'], create: () => createAnthropic()('claude-sonnet-4-6') },
  })) {
    it(check.name, check.run);
  }

  it('keeps sendTemperature, the base URL, headers and fetch of the original', async () => {
    server.use(messages(byMode('text'), false, 'https://claude-proxy.internal/v1/messages'));
    const fetch = vi.fn<typeof globalThis.fetch>((input, init) => globalThis.fetch(input, init));
    const original = createAnthropic({ apiKey: API_KEY, baseURL: 'https://claude-proxy.internal', headers: { 'x-team': 'research' }, sendTemperature: true, fetch })('claude-opus-4-6');
    await original.withApiKey!(TENANT_KEY).generate(request);
    expect(keysOf(seen[0]!.headers)).toBe(TENANT_KEY);
    expect(seen[0]!.headers.get('x-team')).toBe('research');
    expect(seen[0]!.body).toMatchObject({ model: 'claude-opus-4-6', temperature: 0.7 });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('makes a ready @anthropic-ai/sdk client into a copy with client.withOptions({ apiKey }), leaving the original client alone', async () => {
    server.use(messages(byMode('text'), false, 'https://proxy.internal/v1/messages'));
    const client = new Anthropic({ authToken: 'sk-ant-oat01-client-token-0123456789', baseURL: 'https://proxy.internal', maxRetries: 0, defaultHeaders: { 'x-deployment': 'eu' } });
    const original = createAnthropic({ client })('claude-sonnet-4-6');
    await original.withApiKey!(TENANT_KEY).generate(request);
    await original.generate(request);
    expect(seen.map((sent) => keysOf(sent.headers))).toEqual([TENANT_KEY, 'sk-ant-oat01-client-token-0123456789']);
    expect(seen[0]!.headers.get('x-deployment')).toBe('eu');
    expect(client.apiKey).toBeNull();
  });

  it('refuses a copy of a model made with a client that cannot change its key, saying to pass apiKey instead', () => {
    const client: AnthropicClient = { messages: { create: async () => ({}) } };
    const error = (() => {
      try {
        return createAnthropic({ client })('claude-sonnet-4-6').withApiKey!(TENANT_KEY);
      } catch (caught) {
        return caught;
      }
    })();
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ option: 'client' });
    expect((error as Error).message).toContain('Pass `apiKey`');
  });
});

describe('anthropic adapter: keys and clients', () => {
  it('reads ANTHROPIC_API_KEY on the first call, not at import or creation', async () => {
    const adapter = anthropic('claude-haiku-4-5-20251001');
    vi.stubEnv('ANTHROPIC_API_KEY', 'sk-ant-api03-from-the-environment-0123456789');
    await adapter.generate(request);
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer sk-ant-api03-from-the-environment-0123456789');
    expect(seen[0]!.body['model']).toBe('claude-haiku-4-5-20251001');
  });

  it('fails with an InvalidOptionError naming `apiKey` and ANTHROPIC_API_KEY when there is no key, sending nothing', async () => {
    const adapter = createAnthropic()('claude-sonnet-4-6');
    const error = await adapter.generate(request).catch((caught: unknown) => caught);
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe('Anthropic API key is missing. Pass it with the `apiKey` option or set the ANTHROPIC_API_KEY environment variable.');
    await expect(drain(adapter)).rejects.toThrow(/ANTHROPIC_API_KEY/);
    expect(seen).toHaveLength(0);
    // Setting the key afterwards works: the failure is not memoised.
    vi.stubEnv('ANTHROPIC_API_KEY', 'sk-ant-api03-set-later-0123456789');
    expect((await adapter.generate(request)).text).toBe('ok, done.');
  });

  it('uses an injected client and never needs a key', async () => {
    const bodies: unknown[] = [];
    const client: AnthropicClient = {
      messages: {
        async create(body) {
          bodies.push(body);
          return JSON.parse(recorded('thinking-cache.json').body) as unknown;
        },
      },
    };
    const result = await createAnthropic({ client })('claude-opus-4-6').generate(request);
    expect(result.text).toBe('Use Postgres with row-level security. Add per-tenant pools later.');
    expect(bodies).toEqual([{ model: 'claude-opus-4-6', max_tokens: 64, system: 'You are terse.', messages: [{ role: 'user', content: 'Reply with the single word: ok' }] }]);
    expect(seen).toHaveLength(0);
  });

  it('accepts a ready @anthropic-ai/sdk client (and its settings, not ours)', async () => {
    server.use(messages(byMode('text'), true, 'https://proxy.internal/v1/messages'));
    const client = new Anthropic({ apiKey: 'sk-ant-api03-client-key-0123456789', baseURL: 'https://proxy.internal', maxRetries: 0 });
    const result = await createAnthropic({ client, apiKey: 'ignored' })('claude-sonnet-4-6').generate(request);
    expect(result.text).toBe('ok, done.');
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer sk-ant-api03-client-key-0123456789');
  });

  it('builds one SDK client per provider, shared by its models', async () => {
    const fetch = vi.fn<typeof globalThis.fetch>((input, init) => globalThis.fetch(input, init));
    const claude = createAnthropic({ apiKey: API_KEY, fetch });
    await Promise.all([claude('claude-sonnet-4-6').generate(request), claude('claude-opus-4-6').generate(request)]);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(seen.map((sent) => sent.body['model']).sort()).toEqual(['claude-opus-4-6', 'claude-sonnet-4-6']);
  });

  it('takes catalog info, with provider and per-model overrides', () => {
    const claude = createAnthropic({ apiKey: API_KEY, models: { 'claude-opus-4-6': { outputPricePerMTok: 30, displayName: 'Opus' } } });
    expect(claude('claude-opus-4-6').info).toMatchObject({ provider: 'anthropic', modelId: 'claude-opus-4-6', displayName: 'Opus', outputPricePerMTok: 30, maxOutputTokens: 128_000 });
    expect(claude('claude-opus-4-6', { info: { outputPricePerMTok: 40 } }).info.outputPricePerMTok).toBe(40);
    expect(claude('claude-unknown-1').info).toMatchObject({ displayName: 'claude-unknown-1', contextWindow: 200_000, maxOutputTokens: 4096, outputPricePerMTok: 0 });
    expect(claude.models()).toEqual(['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001']);
  });
});

describe('anthropic adapter: abort', () => {
  it('aborts the HTTP request while waiting for the answer', async () => {
    let serverSignal: AbortSignal | undefined;
    let arrived!: () => void;
    const received = new Promise<void>((resolve) => (arrived = resolve));
    server.use(
      messages((_body, req) => {
        serverSignal = req.signal;
        arrived();
        return new Promise<never>(() => {}); // never answers
      }, true),
    );
    const controller = new AbortController();
    const pending = sonnet().generate(request, { signal: controller.signal });
    await received;
    const reason = new Error('stop now');
    controller.abort(reason);
    const error = await pending.catch((caught: unknown) => caught);
    expect(ProviderError.isInstance(error)).toBe(false);
    expect((error as Error).name).toBe('APIUserAbortError');
    expect(serverSignal?.aborted).toBe(true);
  });

  it('aborts mid-stream: the stream rejects with the signal reason and the connection is closed', async () => {
    let cancelled!: () => void;
    const closed = new Promise<void>((resolve) => (cancelled = resolve));
    const full = recorded('text.sse.txt').body;
    server.use(messages(() => replay('text.sse.txt', { cutAt: full.indexOf('event: content_block_delta') + 120, hang: { cancelled } }), true));
    const controller = new AbortController();
    const reason = new Error('run aborted');
    const parts: StreamPart[] = [];
    const outcome = (async () => {
      for await (const part of sonnet().stream(request, { signal: controller.signal })) {
        parts.push(part);
        controller.abort(reason);
      }
    })().catch((caught: unknown) => caught);
    expect(await outcome).toBe(reason);
    expect(parts).toEqual([{ type: 'text-delta', text: 'ok' }]);
    await closed;
  });

  it('rejects at once with the reason of an already-aborted signal, sending nothing', async () => {
    const reason = new Error('already gone');
    await expect(sonnet().generate(request, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(drain(sonnet(), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(seen).toHaveLength(0);
  });
});

// ---- A whole consensus run with Claude as the proposer. ----

describe('anthropic adapter: in a Consensus run', () => {
  it('proposes and revises through the Messages API while mock challengers challenge', async () => {
    const claude = createAnthropic({ apiKey: API_KEY })('claude-opus-4-6');
    const taxonomy = '{"intent":"technical","category":"databases","genus":"multi-tenancy"}';
    const challengers = [
      new MockAdapter({ ref: 'openai:gpt-5.2', info: { inputPricePerMTok: 1.75, outputPricePerMTok: 14 }, reply: byPhase({ challenge: 'Shared pools invite noisy neighbours.', classify: taxonomy }) }),
      new MockAdapter({ ref: 'google:gemini-2.5-flash', info: { inputPricePerMTok: 0.3, outputPricePerMTok: 2.5 }, reply: byPhase({ challenge: 'Schema-per-tenant eases exports.', classify: taxonomy }) }),
    ];
    const result = await new Consensus({ models: [claude, ...challengers], rounds: 1 }).ask('How should a SaaS isolate tenant data in Postgres?');
    const round = result.rounds[0]!;
    expect(round.proposal.model).toBe('anthropic:claude-opus-4-6');
    expect(round.proposal.text).toBe('ok, done.');
    expect(round.revision.text).toBe('ok, done.');
    expect(result.decision).toBe('ok, done.');
    // Propose and revise: two streamed calls, each with the engine's system prompt in `system` and no temperature.
    expect(seen).toHaveLength(2);
    for (const sent of seen) {
      expect(sent.body).toMatchObject({ model: 'claude-opus-4-6', stream: true });
      expect(typeof sent.body['system']).toBe('string');
      expect(sent.body).not.toHaveProperty('temperature');
      expect((sent.body['messages'] as { role: string }[]).every((message) => message.role !== 'system')).toBe(true);
    }
    expect(round.proposal.usage).toMatchObject({ inputTokens: 21, outputTokens: 6 });
  });
});

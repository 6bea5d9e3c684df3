// duh/adapters/openai-compatible against Ollama, vLLM and LiteLLM-proxy answers (fixtures in __fixtures__/openai-compatible),
// served by msw to the real openai SDK.
import { readFileSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createOpenAI } from '../../adapters/openai.js';
import { createOpenAICompatible, isLocalBaseURL } from '../../adapters/openai-compatible.js';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, serializeError } from '../../src/errors.js';
import { CONFORMANCE_TOOL, modelAdapterConformance } from '../../src/testing/conformance.js';
import type { GenerateRequest } from '../../src/adapter.js';
import { bearerKey, chatAnswer, chatCompletions, drain, mockServer, recordedFixtures, rejection, request, TENANT_KEY, withApiKeyCases } from './_helpers.js';

const OLLAMA = 'http://localhost:11434/v1';
const GATEWAY = 'http://localhost:4000/v1'; // a LiteLLM proxy's default address
const GATEWAY_KEY = 'sk-litellm-9Xq2Lm7Vb4Tn1Wc8Rk5Hd3Jf6Ps0Ya';

const { folder: FIXTURES, replay } = recordedFixtures('openai-compatible');
/** The chat-completions handlers of the server at `root` (a base URL ending in /v1). */
const chatAt = (root: string) => chatCompletions(`${root}/chat/completions`, replay);
const answer = (root: string, streamCase: string, completeCase: string, options: { once?: boolean } = {}) => chatAt(root).answer(streamCase, completeCase, options);
const failWith = (root: string, name: string) => chatAt(root).failWith(name);

const server = mockServer(answer(OLLAMA, 'stream-ok', 'complete-ok'), answer(GATEWAY, 'stream-ok', 'complete-ok'), http.get(`${OLLAMA}/models`, () => replay('models')));
const capture = (root: string, streamCase?: string, completeCase?: string) => chatAt(root).capture(server, streamCase, completeCase);

const ollama = () => createOpenAICompatible({ name: 'ollama', baseURL: OLLAMA });
const gateway = () => createOpenAICompatible({ name: 'litellm', baseURL: GATEWAY, apiKey: GATEWAY_KEY });

describe('openai-compatible adapter: withApiKey (tenant keys)', () => {
  for (const check of withApiKeyCases({
    server,
    url: `${GATEWAY}/chat/completions`,
    create: () => gateway()('llama3.1:8b'),
    ownKey: GATEWAY_KEY,
    keyOf: bearerKey,
    answer: chatAnswer(replay),
    unauthorized: (key) => HttpResponse.json({ error: { message: `Authentication Error, Invalid proxy server token passed. Received API Key = ${key}`, type: 'auth_error', param: 'None', code: '401' } }, { status: 401 }),
    keyless: { env: ['ROUTER_API_KEY'], create: () => createOpenAICompatible({ name: 'router', baseURL: GATEWAY, apiKeyEnv: 'ROUTER_API_KEY' })('llama3.1:8b') },
  })) {
    it(check.name, check.run);
  }

  it('gives a keyless local server an Authorization header only on the copy, keeping the provider name and `local`', async () => {
    const sent = capture(OLLAMA);
    const original = ollama()('llama3.1:8b');
    const copy = original.withApiKey!(TENANT_KEY);
    expect(copy.provider).toBe('ollama');
    expect(copy.info.local).toBe(true);
    await original.generate(request);
    await copy.generate(request);
    expect(sent.map((one) => one.headers.get('authorization'))).toEqual([null, `Bearer ${TENANT_KEY}`]);
  });
});

describe('openai-compatible adapter: conformance', () => {
  for (const check of modelAdapterConformance({
    create: () => gateway()('llama3.1:8b'),
    scenarios: {
      ...chatAt(GATEWAY).scenarios(server),
      contentFilter: () => server.use(answer(GATEWAY, 'stream-content-filter', 'complete-content-filter', { once: true })),
      // vLLM's tool-call answers, behind the LiteLLM proxy.
      toolCall: () => server.use(answer(GATEWAY, 'stream-tool-call', 'complete-tool-call', { once: true })),
    },
  })) {
    it(check.name, check.run);
  }
});

describe('openai-compatible adapter: requests', () => {
  it('sends max_tokens, temperature, system messages and include_usage, with no Authorization header without a key', async () => {
    const sent = capture(OLLAMA);
    const parts = await drain(ollama()('llama3.1:8b').stream({ ...request, stopSequences: ['END'], responseFormat: 'json' }));
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 26, outputTokens: 2 } });
    expect(sent[0]!.url).toBe(`${OLLAMA}/chat/completions`);
    expect(sent[0]!.headers.get('authorization')).toBeNull();
    expect(sent[0]!.headers.get('openai-organization')).toBeNull();
    expect(sent[0]!.body).toEqual({
      model: 'llama3.1:8b',
      messages: request.messages,
      max_tokens: 64,
      temperature: 0.2,
      response_format: { type: 'json_object' },
      stop: ['END'],
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('sends the key, headers, max_completion_tokens and providerOptions[name] when configured', async () => {
    const sent = capture(GATEWAY);
    const custom = createOpenAICompatible({
      name: 'litellm',
      baseURL: `${GATEWAY}/`,
      apiKey: GATEWAY_KEY,
      headers: { 'x-litellm-tags': 'duh' },
      maxTokensParam: 'max_completion_tokens',
      jsonMode: 'prompt',
    });
    await custom('llama3.1:8b').generate({ ...request, responseFormat: 'json', providerOptions: { litellm: { metadata: { run: 'r1' } }, ollama: { keep_alive: '5m' } } });
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${GATEWAY_KEY}`);
    expect(sent[0]!.headers.get('x-litellm-tags')).toBe('duh');
    expect(sent[0]!.body).toEqual({ model: 'llama3.1:8b', messages: request.messages, max_completion_tokens: 64, temperature: 0.2, metadata: { run: 'r1' } });
  });

  it('reads the key from apiKeyEnv on first use, and only when asked to', async () => {
    vi.stubEnv('OPENAI_API_KEY', 'sk-not-for-local-servers-000000');
    vi.stubEnv('OPENAI_PROJECT_ID', 'proj_must_not_leak');
    vi.stubEnv('ROUTER_KEY', '');
    const provider = createOpenAICompatible({ name: 'router', baseURL: GATEWAY, apiKeyEnv: 'ROUTER_KEY' });
    const missing = await rejection(provider('llama3.1:8b').generate(request));
    expect(InvalidOptionError.isInstance(missing)).toBe(true);
    expect((missing as Error).message).toMatch(/router API key is missing.*ROUTER_KEY/);
    vi.stubEnv('ROUTER_KEY', GATEWAY_KEY);
    const sent = capture(GATEWAY);
    await provider('llama3.1:8b').generate(request);
    const sentLocal = capture(OLLAMA);
    await ollama()('llama3.1:8b').generate(request);
    sent.push(...sentLocal);
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${GATEWAY_KEY}`);
    expect(sent[1]!.headers.get('authorization')).toBeNull();
    expect(sent.map(({ headers }) => headers.get('openai-project'))).toEqual([null, null]);
  });

  it('accepts a stream without a usage chunk', async () => {
    server.use(answer(OLLAMA, 'stream-no-usage', 'complete-ok'));
    const parts = await drain(ollama()('llama3.1:8b').stream(request));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'ok' },
      { type: 'finish', finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } },
    ]);
  });

  it('uses a passed client', async () => {
    const bodies: unknown[] = [];
    const client = {
      chat: {
        completions: {
          create: (async (body: unknown) => {
            bodies.push(body);
            return { choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } };
          }) as (...args: never[]) => unknown,
        },
      },
    };
    const result = await createOpenAICompatible({ name: 'custom', baseURL: 'https://inference.example.com/v1', client })('m').generate(request);
    expect(result.text).toBe('hi');
    expect(bodies).toHaveLength(1);
    await expect(createOpenAICompatible({ name: 'custom', baseURL: 'https://inference.example.com/v1', client }).listModels()).rejects.toThrow(/models\.list/);
  });
});

describe('openai-compatible adapter: tools', () => {
  const withTools: GenerateRequest = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'required' };

  it('passes tools and tool_choice through in OpenAI\'s format', async () => {
    const sent = capture(OLLAMA, 'stream-tool-call-ollama', 'complete-tool-call-ollama');
    await drain(ollama()('llama3.1:8b').stream(withTools));
    await ollama()('llama3.1:8b').generate({ ...withTools, toolChoice: { name: 'get_weather' } });
    expect(sent[0]!.body).toEqual({
      model: 'llama3.1:8b',
      messages: request.messages,
      max_tokens: 64,
      temperature: 0.2,
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'The current weather in a city.', parameters: CONFORMANCE_TOOL.parameters } }],
      tool_choice: 'required',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(sent[1]!.body['tool_choice']).toEqual({ type: 'function', function: { name: 'get_weather' } });
  });

  it('reads Ollama\'s whole-call deltas and answers', async () => {
    server.use(answer(OLLAMA, 'stream-tool-call-ollama', 'complete-tool-call-ollama'));
    const model = ollama()('llama3.1:8b');
    expect(await drain(model.stream(withTools))).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_k3x9w2mq', name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 171, outputTokens: 18 } },
    ]);
    expect(await model.generate(withTools)).toEqual({
      text: '',
      toolCalls: [{ id: 'call_p7d4n1vz', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      finishReason: 'tool-calls',
      usage: { inputTokens: 171, outputTokens: 18 },
    });
  });

  it('assembles vLLM\'s argument fragments', async () => {
    server.use(answer(GATEWAY, 'stream-tool-call', 'complete-tool-call'));
    const parts = await drain(gateway()('Qwen/Qwen3-8B').stream(withTools));
    expect(parts).toEqual([
      { type: 'tool-call', toolCall: { id: 'chatcmpl-tool-4e7a1c9b2d3f4a5e8b6c0d1e2f3a4b5c', name: 'get_weather', arguments: '{"city": "Paris"}' } },
      { type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 187, outputTokens: 22 } },
    ]);
  });

  it('splits parallel calls an older Ollama sent at one index, and reports them as tool-calls despite "stop"', async () => {
    server.use(answer(OLLAMA, 'stream-tool-calls-same-index', 'complete-tool-call-ollama'));
    const parts = await drain(ollama()('llama3.1:8b').stream(withTools));
    expect(parts).toEqual([
      { type: 'tool-call', toolCall: { id: 'call_a1b2c3d4', name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { type: 'tool-call', toolCall: { id: 'call_e5f6g7h8', name: 'get_weather', arguments: '{"city":"Tokyo"}' } },
      { type: 'finish', finishReason: 'tool-calls', usage: { inputTokens: 176, outputTokens: 35 } },
    ]);
  });

  it('sends the follow-up turn natively, with a string content on tool-calls-only assistant messages', async () => {
    const sent = capture(OLLAMA);
    const call = { id: 'call_p7d4n1vz', name: 'get_weather', arguments: '{"city":"Paris"}' };
    const result = await ollama()('llama3.1:8b').generate({
      ...withTools,
      messages: [
        ...request.messages,
        { role: 'assistant', content: '', toolCalls: [call] },
        { role: 'tool', toolCallId: call.id, toolName: call.name, content: '{"temperature_c":18}' },
      ],
    });
    expect(result.text).toBe('ok');
    expect(sent[0]!.body['messages']).toEqual([
      ...request.messages,
      { role: 'assistant', content: '', tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: call.id, content: '{"temperature_c":18}' },
    ]);
  });
});

describe('openai-compatible adapter: models and info', () => {
  it('discovers models with GET /models and builds members from them', async () => {
    const provider = ollama();
    const infos = await provider.listModels();
    expect(infos.map((info) => info.modelId)).toEqual(['llama3.1:8b', 'qwen3:14b', 'gemma3:4b']);
    for (const info of infos) {
      expect(info).toMatchObject({ provider: 'ollama', inputPricePerMTok: 0, outputPricePerMTok: 0, local: true, proposerEligible: true, maxOutputTokens: 4096 });
    }
    const models = infos.map((info) => provider(info.modelId));
    expect(models.map((model) => `${model.provider}:${model.modelId}`)).toEqual(['ollama:llama3.1:8b', 'ollama:qwen3:14b', 'ollama:gemma3:4b']);
  });

  it('maps a failed discovery like any call', async () => {
    server.use(http.get(`${OLLAMA}/models`, () => HttpResponse.error(), { once: true }));
    const error = await rejection(ollama().listModels());
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect((error as Error).message).toContain(`Is the server running at ${OLLAMA}?`);
  });

  it('is local for loopback hosts or when told so, free unless priced', () => {
    expect(['http://localhost:11434/v1', 'http://127.0.0.1:1234/v1', 'http://[::1]:8000/v1', 'http://ollama.localhost/v1'].every(isLocalBaseURL)).toBe(true);
    expect(['https://api.together.xyz/v1', 'http://10.0.0.5:8000/v1', 'not a url'].some(isLocalBaseURL)).toBe(false);
    expect(ollama()('qwen3:14b').info.local).toBe(true);
    const remote = createOpenAICompatible({ name: 'together', baseURL: 'https://api.together.xyz/v1', models: { 'meta-llama/Llama-3.3-70B-Instruct-Turbo': { inputPricePerMTok: 0.88, outputPricePerMTok: 0.88 } } });
    expect(remote('meta-llama/Llama-3.3-70B-Instruct-Turbo').info).toMatchObject({ provider: 'together', inputPricePerMTok: 0.88, outputPricePerMTok: 0.88 });
    expect(remote('meta-llama/Llama-3.3-70B-Instruct-Turbo').info.local).toBeUndefined();
    expect(createOpenAICompatible({ name: 'lan', baseURL: 'http://10.0.0.5:8000/v1', local: true })('m').info.local).toBe(true);
    expect(ollama()('qwen3:14b', { info: { proposerEligible: false, maxOutputTokens: 8192 } }).info).toMatchObject({ proposerEligible: false, maxOutputTokens: 8192 });
  });

  it('rejects a missing name or baseURL at creation', () => {
    expect(() => createOpenAICompatible({ name: '', baseURL: OLLAMA })).toThrow(InvalidOptionError);
    expect(() => createOpenAICompatible({ name: 'a:b', baseURL: OLLAMA })).toThrow(/without ":"/);
    expect(() => createOpenAICompatible({ name: 'ollama', baseURL: 'localhost:11434' })).toThrow(/baseURL/);
  });
});

describe('openai-compatible adapter: errors', () => {
  it('maps Ollama\'s missing-model 404 to model-not-found', async () => {
    server.use(failWith(OLLAMA, 'error-404'));
    const error = await rejection(ollama()('llama9:70b').generate(request));
    expect(error).toMatchObject({ kind: 'model-not-found', retryable: false, status: 404, provider: 'ollama', model: 'llama9:70b' });
    expect((error as Error).message).toContain('try pulling it first');
  });

  it('maps a refused connection to a retryable network error that names the server', async () => {
    server.use(http.post(`${OLLAMA}/chat/completions`, () => HttpResponse.error(), { once: true }));
    const error = await rejection(drain(ollama()('llama3.1:8b').stream(request)));
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect((error as Error).message).toContain(`Is the server running at ${OLLAMA}?`);
  });

  it('maps a 401 with a plain-string error body and keeps the key out of it', async () => {
    server.use(failWith(GATEWAY, 'error-401'));
    const error = await rejection(gateway()('llama3.1:8b').generate(request));
    expect(error).toMatchObject({ kind: 'auth', retryable: false, status: 401 });
    expect((error as Error).message).toContain('Unauthorized');
    expect((error as Error).message).toContain('`apiKey`');
    expect(JSON.stringify(serializeError(error))).not.toContain(GATEWAY_KEY);
  });
});

describe('openai-compatible adapter: beside cloud OpenAI in one run', () => {
  it('runs a consensus with a local proposer, a cloud challenger and local challengers', async () => {
    const cloud: string[] = [];
    server.use(
      http.post('https://api.openai.com/v1/chat/completions', async ({ request: sentRequest }) => {
        cloud.push(((await sentRequest.clone().json()) as { model: string }).model);
        return new HttpResponse(readFileSync(new URL('../openai/stream-ok.sse.txt', FIXTURES), 'utf8'), { headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
      }),
    );
    const local = ollama();
    const models = (await local.listModels()).map((info) => local(info.modelId, info.modelId === 'qwen3:14b' ? { info: { outputPricePerMTok: 20 } } : {}));
    const openai = createOpenAI({ apiKey: 'sk-proj-Xw3Lq8Vn2Tb5Rk9Hc1Jd7Ms4Pa6Ye0Uz' });
    const result = await new Consensus({ models: [...models, openai('gpt-5-mini')], rounds: 1 }).ask('Should we shard by tenant?');
    expect(result.rounds[0]!.proposal.model).toBe('ollama:qwen3:14b');
    expect(result.rounds[0]!.challenges.map((challenge) => challenge.model)).toContain('openai:gpt-5-mini');
    expect(cloud.length).toBeGreaterThan(0);
    expect(result.decision).toBe('ok');
    expect(result.failures).toEqual([]);
  });
});

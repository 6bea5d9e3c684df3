/**
 * The OpenAI chat-completions wire, shared by `duh/adapters/openai`, `duh/adapters/perplexity` and
 * `duh/adapters/openai-compatible`: building the `openai` SDK client, mapping a {@link GenerateRequest} to a
 * request body (tools, tool calls and tool results included), reading answers and streams (tool calls assembled
 * from their streamed fragments), and mapping SDK failures to the duh error family. The adapters themselves only
 * choose the dialect (max-tokens parameter, temperature, system role, JSON mode) and add their provider's quirks.
 *
 * @module
 */
import type { ChatMessage, FinishReason, GenerateRequest, GenerateResult, ModelAdapter, ModelInfo, StreamPart, ToolCall, Usage } from '../../src/adapter.js';
import { DuhError, ProviderError, ProviderRateLimitError, TruncatedStreamError } from '../../src/errors.js';
import { errorFromStatus, header, networkError, retryAfterMs, type CallFields, type HeadersLike } from './errors.js';
import { lateFetch, type ProviderSettings } from './settings.js';

/**
 * The part of an `openai` SDK client these adapters use: `chat.completions.create` (and `models.list` for model
 * discovery). A `new OpenAI(...)` instance fits, and so does any object with the same methods (a wrapper, a
 * test double, an Azure client).
 */
export interface OpenAIChatClient {
  chat: { completions: { create: (...args: never[]) => unknown } };
  models?: { list: (...args: never[]) => unknown };
}

/** The options duh passes to the SDK's `OpenAI` constructor. */
export interface OpenAIClientOptions {
  apiKey: string;
  baseURL?: string;
  organization?: string | null;
  project?: string | null;
  defaultHeaders?: Record<string, string | null>;
  fetch: typeof globalThis.fetch;
  maxRetries: number;
  timeout: number;
}

/** Loads the `openai` package (through `lazyPeer`, with a literal `import('openai')`). */
export type OpenAIModuleLoader = () => Promise<{ default: new (options: OpenAIClientOptions) => unknown }>;

/** The SDK's own timeout: long, because the engine owns timeouts (and retries). */
const SDK_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** How to build the SDK client of one provider instance. */
export interface ClientSetup {
  settings: ProviderSettings<OpenAIChatClient>;
  load: OpenAIModuleLoader;
  /** The API key, read on first use (may throw the missing-key error); `undefined` sends no `Authorization` header. */
  apiKey: () => string | undefined;
  /** Base URL; `undefined` leaves the SDK's default (`https://api.openai.com/v1`, or `OPENAI_BASE_URL`). */
  baseURL?: string | undefined;
  /** Extra constructor options (`organization`, `project`). */
  extra?: Partial<Pick<OpenAIClientOptions, 'organization' | 'project'>>;
}

/** The client of one provider instance and the secrets it uses (to scrub them from error messages). */
export interface ClientHandle {
  /** The SDK client, built once on first use (a failed build is retried on the next call). */
  get: () => Promise<OpenAIChatClient>;
  /** The API key once resolved, so error messages can be scrubbed of it. */
  secrets: () => readonly string[];
}

/**
 * A memoized SDK client: the passed `client` as is, or a `new OpenAI(...)` built on the first call with the
 * SDK's retries off, a long timeout, and `fetch` looked up at call time (so msw and other interceptors apply).
 */
export function clientHandle(setup: ClientSetup): ClientHandle {
  const { settings } = setup;
  let building: Promise<OpenAIChatClient> | undefined;
  let key: string | undefined;
  const build = async (): Promise<OpenAIChatClient> => {
    if (settings.client) return settings.client;
    key = setup.apiKey();
    const { default: OpenAI } = await setup.load();
    const headers: Record<string, string | null> = { ...settings.headers };
    // The SDK insists on a key; without one, send a placeholder and remove the header it would produce.
    if (key === undefined) headers['Authorization'] = null;
    const options: OpenAIClientOptions = {
      apiKey: key ?? 'not-required',
      ...(setup.baseURL !== undefined ? { baseURL: setup.baseURL } : {}),
      ...setup.extra,
      ...(Object.keys(headers).length > 0 ? { defaultHeaders: headers } : {}),
      fetch: lateFetch(settings.fetch),
      maxRetries: 0,
      timeout: SDK_TIMEOUT_MS,
    };
    return new OpenAI(options) as OpenAIChatClient;
  };
  return {
    get: () =>
      (building ??= build().catch((error: unknown) => {
        building = undefined; // a missing key or package may be fixed before the next call
        throw error;
      })),
    secrets: () => (key ? [key] : settings.apiKey ? [settings.apiKey] : []),
  };
}

/** How one provider speaks the chat-completions dialect, decided per request. */
export interface ChatDialect {
  /** `max_completion_tokens` (OpenAI, Perplexity) or `max_tokens` (most local servers). */
  maxTokensParam: 'max_completion_tokens' | 'max_tokens';
  /** Send `temperature` (false for models that reject it). */
  temperature: boolean;
  /** Send `stop` (false for models that reject it). */
  stop: boolean;
  /** Role of system messages: `system`, `developer` (OpenAI reasoning models), or `user` (merged into the first user message). */
  systemRole: 'system' | 'developer' | 'user';
  /** How to ask for JSON: `response_format: {type: 'json_object'}`, or the prompt alone. */
  jsonMode: 'json_object' | 'prompt';
  /**
   * The `content` of an assistant message that carries tool calls and no text: `null`, as OpenAI itself answers,
   * or `''` for servers that want a string there (some Ollama releases reject `null`).
   * @default 'null'
   */
  toolCallContent?: 'null' | 'empty';
}

/** An SDK `APIError` (or an object shaped like one). */
export interface ApiErrorLike {
  status: number | undefined;
  headers: HeadersLike;
  error: unknown;
  message: string;
  code?: string | number | null | undefined;
  type?: string | null | undefined;
  param?: string | null | undefined;
}

/** What an adapter needs to map one API error. */
export interface ErrorContext {
  fields: CallFields;
  apiKeyHint: string;
  /** The error's detail (the provider's message, scrubbed of secrets and shortened). */
  detail: string;
  /** Headers with a `retry-after-ms` derived from `x-ratelimit-reset-*` when no `Retry-After` came. */
  headers: HeadersLike;
}

/** Everything one model of a chat-completions provider needs. */
export interface ChatModelConfig {
  provider: string;
  modelId: string;
  info: ModelInfo;
  client: ClientHandle;
  /** Key of `providerOptions` merged into the body, and of `providerMetadata` on results. */
  optionsKey: string;
  /** Appended to 401/403 messages (`Check OPENAI_API_KEY.`). */
  apiKeyHint: string;
  /** The dialect for this request. */
  dialect: (request: GenerateRequest) => ChatDialect;
  /** Send `stream_options: {include_usage: true}` on streams. */
  streamUsage: boolean;
  /** Treat a stream without its usage chunk as cut (OpenAI sends usage just before `[DONE]`). */
  requireUsage: boolean;
  /** Drop a leading `<think>…</think>` block from the answer (reasoning models that inline their reasoning). */
  stripThinking?: boolean;
  /** Provider extras of a response or stream chunk, for `providerMetadata[optionsKey]`. */
  metadata?: (payload: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** Provider-specific error mapping; return `undefined` for the default. */
  mapApiError?: (error: ApiErrorLike, context: ErrorContext) => ProviderError | undefined;
  /** Appended to network-error messages (`Is the server running at …?`). */
  networkHint?: string;
  /**
   * False for APIs without tool calling (Perplexity): a request with `tools` (unless `toolChoice` is `'none'`)
   * or with tool calls or tool results in its messages is rejected before it is sent, as a non-retryable
   * `bad-request` error.
   * @default true
   */
  supportsTools?: boolean;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** One provider-neutral message on the chat-completions wire. */
function wireMessage(message: ChatMessage, systemRole: ChatDialect['systemRole'], toolCallContent: ChatDialect['toolCallContent']): Json {
  switch (message.role) {
    case 'system':
      return { role: systemRole, content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant': {
      const calls = message.toolCalls ?? [];
      if (calls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        content: message.content || (toolCallContent === 'empty' ? '' : null),
        tool_calls: calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
      };
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  }
}

/**
 * Map the provider-neutral messages to chat-completions messages: system prompts with the dialect's role,
 * assistant tool calls as `tool_calls` (`{ id, type: 'function', function: { name, arguments } }`), tool results
 * as `{ role: 'tool', tool_call_id, content }`.
 */
export function toChatMessages(messages: GenerateRequest['messages'], systemRole: ChatDialect['systemRole'], toolCallContent: ChatDialect['toolCallContent'] = 'null'): Json[] {
  if (systemRole !== 'user') return messages.map((message) => wireMessage(message, systemRole, toolCallContent));
  const system = messages.flatMap((message) => (message.role === 'system' ? [message.content] : []));
  const rest = messages.filter((message) => message.role !== 'system').map((message) => wireMessage(message, systemRole, toolCallContent));
  if (system.length === 0) return rest;
  const first = rest.findIndex((message) => message['role'] === 'user');
  if (first === -1) return [{ role: 'user', content: system.join('\n\n') }, ...rest];
  rest[first] = { role: 'user', content: `${system.join('\n\n')}\n\n${String(rest[first]!['content'])}` };
  return rest;
}

/** `tools` (as `{ type: 'function', function: { name, description, parameters } }`) and `tool_choice`, when tools are given. */
export function toolFields(request: Pick<GenerateRequest, 'tools' | 'toolChoice'>): Json {
  if (!request.tools?.length) return {};
  const fields: Json = {
    tools: request.tools.map(({ name, description, parameters }) => ({ type: 'function', function: { name, description, parameters } })),
  };
  const choice = request.toolChoice;
  if (choice !== undefined) fields['tool_choice'] = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  return fields;
}

/** For an API without tool calling: reject tools (unless `toolChoice` is `'none'`) and tool history before sending. */
function checkToolSupport(config: Pick<ChatModelConfig, 'provider' | 'modelId' | 'supportsTools'>, request: GenerateRequest): void {
  if (config.supportsTools !== false) return;
  const fields = { provider: config.provider, model: config.modelId, kind: 'bad-request' as const, retryable: false };
  if (request.tools?.length && request.toolChoice !== 'none') {
    throw new ProviderError(fields, "Tool calling is not supported: this provider's chat-completions API rejects `tools`. Leave `tools` out for this model (or pass `toolChoice: 'none'`).");
  }
  if (request.messages.some((message) => message.role === 'tool' || (message.role === 'assistant' && (message.toolCalls?.length ?? 0) > 0))) {
    throw new ProviderError(fields, "The conversation carries tool calls or tool results, which this provider's chat-completions API cannot take. Leave them out of this model's messages.");
  }
}

/**
 * The request body for `chat.completions.create`, with `providerOptions[optionsKey]` merged last (stream fields
 * excepted). Without tool support, `tools` are left out (the caller checked they may be).
 */
export function chatBody(config: Pick<ChatModelConfig, 'modelId' | 'optionsKey' | 'dialect' | 'streamUsage' | 'supportsTools'>, request: GenerateRequest, stream: boolean): Json {
  const dialect = config.dialect(request);
  const body: Json = {
    model: config.modelId,
    messages: toChatMessages(request.messages, dialect.systemRole, dialect.toolCallContent),
    [dialect.maxTokensParam]: request.maxOutputTokens,
  };
  if (config.supportsTools !== false) Object.assign(body, toolFields(request));
  if (request.temperature !== undefined && dialect.temperature) body['temperature'] = request.temperature;
  if (request.responseFormat === 'json' && dialect.jsonMode === 'json_object') body['response_format'] = { type: 'json_object' };
  if (request.stopSequences?.length && dialect.stop) body['stop'] = [...request.stopSequences];
  Object.assign(body, request.providerOptions?.[config.optionsKey]);
  delete body['stream'];
  delete body['stream_options'];
  if (stream) {
    body['stream'] = true;
    const extra = request.providerOptions?.[config.optionsKey]?.['stream_options'];
    if (config.streamUsage || isRecord(extra)) body['stream_options'] = { ...(config.streamUsage ? { include_usage: true } : {}), ...(isRecord(extra) ? extra : {}) };
  }
  return body;
}

const FINISH: Readonly<Record<string, FinishReason>> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool-calls',
  function_call: 'tool-calls',
  content_filter: 'content-filter',
  error: 'error',
};

/** Normalise a chat-completions `finish_reason` (unknown values count as `stop`). */
export function finishReasonOf(reason: string): FinishReason {
  return FINISH[reason] ?? 'stop';
}

/** A model that stopped normally after calling tools stopped to call them (some servers say `stop` there). */
function withToolCalls(reason: FinishReason, calls: readonly ToolCall[]): FinishReason {
  return calls.length > 0 && reason === 'stop' ? 'tool-calls' : reason;
}

/** Arguments as sent: the JSON text itself, or (from servers that send an object) its JSON. */
const argumentsText = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));

/**
 * The tool calls of a chat-completions `message` (`tool_calls: [{ id, type: 'function', function: { name, arguments } }]`).
 * Calls without a name are dropped; a missing id becomes `call_<position>`.
 */
export function toolCallsOf(message: unknown): ToolCall[] {
  const raw = isRecord(message) && Array.isArray(message['tool_calls']) ? message['tool_calls'] : [];
  const calls: ToolCall[] = [];
  for (const item of raw) {
    if (!isRecord(item)) continue;
    const fn = isRecord(item['function']) ? item['function'] : {};
    const name = typeof fn['name'] === 'string' ? fn['name'] : '';
    if (!name) continue;
    const id = typeof item['id'] === 'string' && item['id'] ? item['id'] : `call_${calls.length}`;
    calls.push({ id, name, arguments: argumentsText(fn['arguments']) });
  }
  return calls;
}

/**
 * Assembles streamed `delta.tool_calls` fragments into whole calls. Fragments belong to the call at their
 * `index`: the first carries `id`, `type` and `function.name`, later ones more `function.arguments` text. A
 * fragment that names a function under another id at an index already in use starts a new call (older Ollama
 * releases sent every parallel call at index 0), and so does a named fragment without `index` or `id`.
 */
export class ToolCallAccumulator {
  #calls: { id: string; name: string; arguments: string }[] = [];
  #slotOf = new Map<number, number>();

  /** Add the `tool_calls` of one delta. */
  push(fragments: unknown): void {
    if (!Array.isArray(fragments)) return;
    for (const fragment of fragments) {
      if (!isRecord(fragment)) continue;
      const fn = isRecord(fragment['function']) ? fragment['function'] : {};
      const id = typeof fragment['id'] === 'string' ? fragment['id'] : '';
      const name = typeof fn['name'] === 'string' ? fn['name'] : '';
      const index = typeof fragment['index'] === 'number' ? fragment['index'] : undefined;
      let slot = index !== undefined ? this.#slotOf.get(index) : this.#calls.length > 0 ? this.#calls.length - 1 : undefined;
      const current = slot === undefined ? undefined : this.#calls[slot];
      if (current && name && current.name && (id ? current.id !== '' && current.id !== id : index === undefined)) slot = undefined;
      if (slot === undefined) {
        slot = this.#calls.push({ id: '', name: '', arguments: '' }) - 1;
        if (index !== undefined) this.#slotOf.set(index, slot);
      }
      const call = this.#calls[slot]!;
      if (id && !call.id) call.id = id;
      if (name && !call.name) call.name = name;
      call.arguments += argumentsText(fn['arguments']);
    }
  }

  /** The complete calls, in order (nameless fragments dropped, missing ids as `call_<position>`). */
  calls(): ToolCall[] {
    return this.#calls.filter((call) => call.name).map((call, position) => ({ id: call.id || `call_${position}`, name: call.name, arguments: call.arguments }));
  }
}

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined);

/**
 * Map a chat-completions `usage` object: `prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`
 * (cache reads) and `completion_tokens_details.reasoning_tokens` (or a top-level `reasoning_tokens`, as Perplexity sends).
 */
export function usageOf(usage: unknown): Usage {
  const raw = isRecord(usage) ? usage : {};
  const result: Usage = { inputTokens: count(raw['prompt_tokens']) ?? 0, outputTokens: count(raw['completion_tokens']) ?? 0 };
  const prompt = isRecord(raw['prompt_tokens_details']) ? raw['prompt_tokens_details'] : {};
  const completion = isRecord(raw['completion_tokens_details']) ? raw['completion_tokens_details'] : {};
  const cached = count(prompt['cached_tokens']);
  const reasoning = count(completion['reasoning_tokens']) ?? count(raw['reasoning_tokens']);
  if (cached !== undefined) result.cacheReadTokens = cached;
  if (reasoning !== undefined) result.reasoningTokens = reasoning;
  return result;
}

/** Go-style durations as in `x-ratelimit-reset-tokens: 6m0s` or `20ms`, in milliseconds. */
export function durationMs(text: string | undefined): number | undefined {
  if (!text || !/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(text.trim())) return undefined;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, value, , unit] of text.trim().matchAll(/(\d+(\.\d+)?)(ms|h|m|s)/g)) total += Number(value) * units[unit!]!;
  return Math.ceil(total);
}

/**
 * Headers with a wait hint: when a 429 carries no `retry-after-ms`/`retry-after`, derive one from OpenAI's
 * `x-ratelimit-reset-requests`/`-tokens` for whichever limit is exhausted (`x-ratelimit-remaining-* = 0`).
 */
export function withRateLimitHint(headers: HeadersLike): HeadersLike {
  if (!headers || retryAfterMs(headers) !== undefined) return headers;
  const waits = (['requests', 'tokens'] as const)
    .filter((limit) => header(headers, `x-ratelimit-remaining-${limit}`)?.trim() === '0')
    .map((limit) => durationMs(header(headers, `x-ratelimit-reset-${limit}`)))
    .filter((wait): wait is number => wait !== undefined);
  if (waits.length === 0) return headers;
  const copy = new Headers();
  const entries: Iterable<[string, string]> =
    typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function'
      ? [...(headers as Headers).entries()]
      : Object.entries(headers as Record<string, string | readonly string[] | undefined>).flatMap(([name, value]) =>
          value === undefined ? [] : [[name, Array.isArray(value) ? String(value[0]) : String(value)] as [string, string]],
        );
  for (const [name, value] of entries) copy.set(name, value);
  copy.set('retry-after-ms', String(Math.max(...waits)));
  return copy;
}

/** True for an SDK `APIError` (any copy of the SDK): it carries `status`, `headers` and `error`. */
function isApiError(error: unknown): error is Error & ApiErrorLike {
  return error instanceof Error && 'status' in error && 'headers' in error && 'error' in error;
}

/** True for the SDK's abort error (its `name` is plain `Error`, so look at the class). */
function isSdkAbort(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'AbortError' || error.constructor?.name === 'APIUserAbortError' || error.name === 'APIUserAbortError';
}

/** Shorten a provider message: HTML error pages (Perplexity's 401) become their title, whitespace collapses, 300 chars at most. */
function cleanDetail(text: string, secrets: readonly string[]): string {
  let out = text;
  const title = /<title>([^<]*)<\/title>/i.exec(out)?.[1];
  if (title !== undefined && /<html/i.test(out)) out = title;
  out = out.replace(/<script[\s\S]*?<\/script>/gi, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out.length > 300 ? `${out.slice(0, 297)}...` : out;
}

/** The provider's own message from an `APIError`. */
function detailOf(error: ApiErrorLike, secrets: readonly string[]): string {
  const body = error.error;
  let text: string;
  if (isRecord(body) && typeof body['message'] === 'string' && body['message']) text = body['message'];
  else if (typeof body === 'string' && body) text = body;
  else text = error.message.replace(/^\d{3}\s+/, '');
  return cleanDetail(text || 'no details', secrets);
}

/** Describe a connection failure with its causes (`Connection error. (fetch failed: connect ECONNREFUSED …)`). */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.message && !parts.includes(current.message)) parts.push(current.message);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}

/**
 * Map anything the SDK threw to what the adapter throws: aborts and duh errors unchanged, HTTP errors through
 * `errorFromStatus` (or the provider's own mapping), stream error events as retryable server errors, connection
 * failures as retryable network errors, and a body that broke while being read as a `TruncatedStreamError`.
 */
export function mapFailure(config: ChatModelConfig, error: unknown, signal: AbortSignal | undefined, partialText: string): unknown {
  if (signal?.aborted || isSdkAbort(error) || DuhError.isInstance(error)) return error;
  const fields = { provider: config.provider, model: config.modelId };
  const secrets = config.client.secrets();
  if (isApiError(error)) {
    const detail = detailOf(error, secrets);
    if (error.status !== undefined) {
      const context: ErrorContext = { fields, apiKeyHint: config.apiKeyHint, detail, headers: withRateLimitHint(error.headers) };
      return (
        config.mapApiError?.(error, context) ??
        errorFromStatus(fields, error.status, detail, { headers: context.headers, cause: error, apiKeyHint: config.apiKeyHint })
      );
    }
    if (error.headers) {
      // An error event inside a 200 stream (`data: {"error": {...}}`).
      const code = `${error.code ?? ''} ${error.type ?? ''}`;
      const requestId = header(error.headers, 'x-request-id');
      if (/rate_limit/.test(code)) return new ProviderRateLimitError({ ...fields, ...(requestId ? { requestId } : {}) }, `Rate limited by the provider mid-stream: ${detail}`, { cause: error });
      return new ProviderError({ ...fields, kind: 'server', retryable: true, ...(requestId ? { requestId } : {}) }, `The provider reported an error mid-stream: ${detail}`, { cause: error });
    }
    const wrapped = new Error(`${cleanDetail(describeChain(error), secrets)}${config.networkHint ? ` ${config.networkHint}` : ''}`, { cause: error });
    return networkError(fields, wrapped);
  }
  // Not an API error: the response body broke or was not what it claimed (a cut connection, truncated JSON).
  return new TruncatedStreamError(fields, partialText, { cause: error });
}

/** Removes a leading `<think>…</think>` block (and the blank lines after it) from streamed text. */
class ThinkingFilter {
  #state: 'start' | 'thinking' | 'answer' = 'start';
  #buffer = '';
  #thought = false;
  push(text: string): string {
    if (this.#state === 'answer') return text;
    this.#buffer += text;
    if (this.#state === 'start') {
      const trimmed = this.#buffer.trimStart();
      if ('<think>'.startsWith(trimmed)) return ''; // not decided yet
      if (!trimmed.startsWith('<think>')) return this.#release();
      this.#state = 'thinking';
    }
    const end = this.#buffer.indexOf('</think>');
    if (end === -1) return '';
    this.#buffer = this.#buffer.slice(end + '</think>'.length);
    this.#thought = true;
    this.#state = 'start';
    return this.push('');
  }
  /** Whatever is held back when the stream ends (an unfinished `<think>` block is dropped). */
  flush(): string {
    return this.#state === 'start' ? this.#release() : '';
  }
  #release(): string {
    this.#state = 'answer';
    const out = this.#thought ? this.#buffer.trimStart() : this.#buffer;
    this.#buffer = '';
    return out;
  }
}

/** The whole answer with a leading `<think>…</think>` block removed. */
export function stripThinking(text: string): string {
  const filter = new ThinkingFilter();
  return filter.push(text) + filter.flush();
}

type CreateCall = (body: Json, options: { signal?: AbortSignal }) => PromiseLike<unknown> & {
  withResponse?: () => Promise<{ data: unknown; response: { headers: HeadersLike } }>;
};

/** Call `chat.completions.create`, keeping the response headers (for the request id) when the SDK offers them. */
async function createCompletion(client: OpenAIChatClient, body: Json, signal: AbortSignal | undefined): Promise<{ data: unknown; requestId: string | undefined }> {
  const create = client.chat.completions.create as unknown as CreateCall;
  const pending = create.call(client.chat.completions, body, signal ? { signal } : {});
  if (typeof pending.withResponse === 'function') {
    const { data, response } = await pending.withResponse();
    return { data, requestId: header(response.headers, 'x-request-id') };
  }
  return { data: await pending, requestId: undefined };
}

function metadataOf(config: ChatModelConfig, requestId: string | undefined, extras: Json | undefined): Json | undefined {
  const own = { ...(requestId ? { requestId } : {}), ...extras };
  return Object.keys(own).length > 0 ? { [config.optionsKey]: own } : undefined;
}

/**
 * A {@link ModelAdapter} over `chat.completions.create`: non-streaming for `generate()`, SSE for `stream()`.
 * Tool calls come back as `toolCalls` (and `tool-call` parts, each once, complete, just before `finish`).
 */
export function chatCompletionsModel(config: ChatModelConfig): ModelAdapter {
  const { provider, modelId, info } = config;
  const fields = { provider, model: modelId };

  async function generate(request: GenerateRequest, options: { signal?: AbortSignal } = {}): Promise<GenerateResult> {
    const { signal } = options;
    checkToolSupport(config, request);
    const client = await config.client.get();
    let data: unknown;
    let requestId: string | undefined;
    try {
      ({ data, requestId } = await createCompletion(client, chatBody(config, request, false), signal));
    } catch (error) {
      throw mapFailure(config, error, signal, '');
    }
    if (signal?.aborted) throw signal.reason;
    const completion = isRecord(data) ? data : undefined;
    const choice = Array.isArray(completion?.['choices']) && isRecord(completion['choices'][0]) ? completion['choices'][0] : undefined;
    if (!completion || !choice) {
      throw new ProviderError({ ...fields, kind: 'unknown', retryable: false, ...(requestId ? { requestId } : {}) }, 'The provider answered without a chat completion (no `choices`). Check the `baseURL`.');
    }
    const message = isRecord(choice['message']) ? choice['message'] : {};
    let text = typeof message['content'] === 'string' ? message['content'] : typeof message['refusal'] === 'string' ? message['refusal'] : '';
    if (config.stripThinking) text = stripThinking(text);
    const toolCalls = toolCallsOf(message);
    const reason = withToolCalls(typeof choice['finish_reason'] === 'string' ? finishReasonOf(choice['finish_reason']) : 'stop', toolCalls);
    const providerMetadata = metadataOf(config, requestId, config.metadata?.(completion));
    return {
      text,
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
      usage: usageOf(completion['usage']),
      finishReason: reason,
      ...(providerMetadata ? { providerMetadata } : {}),
    };
  }

  async function* stream(request: GenerateRequest, options: { signal?: AbortSignal } = {}): AsyncGenerator<StreamPart> {
    const { signal } = options;
    checkToolSupport(config, request);
    const client = await config.client.get();
    let chunks: AsyncIterable<unknown>;
    let requestId: string | undefined;
    try {
      const created = await createCompletion(client, chatBody(config, request, true), signal);
      requestId = created.requestId;
      if (!created.data || typeof (created.data as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
        throw new ProviderError({ ...fields, kind: 'unknown', retryable: false }, 'The provider did not answer with an event stream. Check the `baseURL`.');
      }
      chunks = created.data as AsyncIterable<unknown>;
    } catch (error) {
      throw mapFailure(config, error, signal, '');
    }
    const filter = config.stripThinking ? new ThinkingFilter() : undefined;
    const tools = new ToolCallAccumulator();
    let text = '';
    let finishReason: FinishReason | undefined;
    let usage: Usage | undefined;
    let extras: Json | undefined;
    try {
      for await (const chunk of chunks) {
        if (signal?.aborted) break;
        if (!isRecord(chunk)) continue;
        if (isRecord(chunk['usage'])) usage = usageOf(chunk['usage']);
        const found = config.metadata?.(chunk);
        if (found) extras = { ...extras, ...found };
        const choice = Array.isArray(chunk['choices']) && isRecord(chunk['choices'][0]) ? chunk['choices'][0] : undefined;
        const delta = choice && isRecord(choice['delta']) ? choice['delta'] : undefined;
        const piece = typeof delta?.['content'] === 'string' ? delta['content'] : typeof delta?.['refusal'] === 'string' ? delta['refusal'] : '';
        const visible = filter ? filter.push(piece) : piece;
        if (visible) {
          text += visible;
          yield { type: 'text-delta', text: visible };
        }
        tools.push(delta?.['tool_calls']);
        if (typeof choice?.['finish_reason'] === 'string') finishReason = finishReasonOf(choice['finish_reason']);
      }
    } catch (error) {
      throw mapFailure(config, error, signal, text);
    }
    // The SDK ends the iteration quietly when the signal aborts: never turn that into an answer.
    if (signal?.aborted) throw signal.reason;
    const rest = filter?.flush();
    if (rest) yield { type: 'text-delta', text: rest };
    // No finish_reason (or no usage chunk where the provider always sends one): the stream was cut. Yield no
    // finish part (and no tool call, whose arguments may be incomplete), so the engine reports a retryable
    // truncation with the text received so far.
    if (finishReason === undefined || (config.requireUsage && usage === undefined)) return;
    // Each call once, complete, once the stream has ended well, then the finish part.
    const toolCalls = tools.calls();
    for (const toolCall of toolCalls) yield { type: 'tool-call', toolCall };
    const providerMetadata = metadataOf(config, requestId, extras);
    yield { type: 'finish', usage: usage ?? { inputTokens: 0, outputTokens: 0 }, finishReason: withToolCalls(finishReason, toolCalls), ...(providerMetadata ? { providerMetadata } : {}) };
  }

  return { specificationVersion: 'v1', provider, modelId, info, generate, stream };
}

/**
 * Mistral models through the official `@mistralai/mistralai` SDK (an optional peer dependency, loaded on the
 * first call: it is heavy to import).
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { mistral } from 'duh/adapters/mistral';
 *
 * // Reads MISTRAL_API_KEY on the first call.
 * const duh = new Consensus({ models: [mistral('mistral-large-latest'), mistral('mistral-small-latest')] });
 * ```
 *
 * @module
 */
import type { CallOptions, ChatMessage, FinishReason, GenerateRequest, GenerateResult, ModelAdapter, ModelInfo, StreamPart, ToolCall, Usage } from '../src/adapter.js';
import { DuhError, ProviderError, TruncatedStreamError, type ProviderErrorKind } from '../src/errors.js';
import { CATALOG, catalogInfo } from './_shared/catalog.js';
import { errorFromStatus, networkError, type CallFields } from './_shared/errors.js';
import { lazyPeer } from './_shared/lazy.js';
import { lateFetch, resolveApiKey, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

const PROVIDER = 'mistral';
const ENV_VARIABLE = 'MISTRAL_API_KEY';
const API_KEY_HINT = `Check the \`apiKey\` option or the ${ENV_VARIABLE} environment variable (keys are created at https://console.mistral.ai/api-keys).`;
/** The longest timeout a timer accepts; the engine owns timeouts, so the SDK's own one must never fire first. */
const NO_SDK_TIMEOUT_MS = 2_147_483_647;

/** A tool call of an assistant message, as the Mistral SDK takes it. */
export interface MistralToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  index: number;
}

/** A chat message as the Mistral SDK takes it: an assistant turn may carry tool calls, a `tool` turn answers one. */
export type MistralMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: MistralToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string };

/** A function tool as the Mistral SDK takes it. */
export interface MistralTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** Mistral's tool choice: a mode (`any` forces a call), or one named function. */
export type MistralToolChoice = 'auto' | 'none' | 'any' | 'required' | { type: 'function'; function: { name: string } };

/** The chat request duh sends (SDK field names, camelCase); `providerOptions.mistral` is merged on top. */
export interface MistralChatRequest {
  model: string;
  messages: MistralMessage[];
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  responseFormat?: { type: 'json_object' };
  tools?: MistralTool[];
  toolChoice?: MistralToolChoice;
  [option: string]: unknown;
}

/** Per-call options duh passes to the SDK. */
export interface MistralRequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Token usage as the SDK returns it (extra wire fields such as `prompt_tokens_details` keep their snake_case names). */
export interface MistralUsage {
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  [field: string]: unknown;
}

/**
 * A tool call in an answer, as the SDK parses it. The SDK fills a missing `id` with the string `"null"` and a
 * missing `index` with 0; `arguments` is usually a JSON text, sometimes an object.
 */
export interface MistralAnswerToolCall {
  id?: string | undefined;
  function: { name: string; arguments: unknown };
  index?: number | undefined;
}

/** One choice of a (streamed) chat completion, as far as duh reads it. */
export interface MistralChoice {
  index: number;
  message?: { content?: unknown; toolCalls?: MistralAnswerToolCall[] | null | undefined } | undefined;
  delta?: { content?: unknown; toolCalls?: MistralAnswerToolCall[] | null | undefined } | undefined;
  finishReason: string | null;
}

/** A chat completion, or one chunk of a streamed one, as far as duh reads it. */
export interface MistralCompletion {
  id: string;
  model: string;
  usage?: MistralUsage | undefined;
  choices: MistralChoice[];
}

/**
 * The part of the Mistral SDK client duh uses. A `new Mistral({...})` from `@mistralai/mistralai` fits; so does any
 * object with the same two methods (a proxy, a test double).
 */
export interface MistralClientLike {
  chat: {
    complete(request: MistralChatRequest, options?: MistralRequestOptions): Promise<MistralCompletion>;
    stream(request: MistralChatRequest & { stream?: true }, options?: MistralRequestOptions): Promise<AsyncIterable<{ data?: MistralCompletion | undefined }>>;
  };
}

/** Settings of {@link createMistral}. */
export interface MistralProviderSettings extends ProviderSettings<MistralClientLike> {
  /**
   * Server root of the API, without `/v1` (a trailing `/v1` is removed). For the EU or US endpoints use
   * `https://api.eu.mistral.ai` or `https://api.us.mistral.ai`.
   * @default 'https://api.mistral.ai'
   */
  baseURL?: string;
}

/** Model ids in duh's catalog; any other Mistral model id works too (with the unknown-model defaults). */
export type MistralModelId = 'mistral-large-latest' | 'mistral-medium-latest' | 'mistral-small-latest' | 'codestral-latest' | (string & {});

/** A Mistral provider: call it with a model id to get a {@link ModelAdapter}. */
export interface MistralProvider {
  (modelId: MistralModelId, settings?: ModelSettings): ModelAdapter;
  /** The model ids duh's catalog knows for Mistral (prices, limits). */
  models(): string[];
}

const loadSdk = /*@__PURE__*/ lazyPeer('@mistralai/mistralai', 'duh/adapters/mistral', () => import('@mistralai/mistralai'));

/**
 * Create a Mistral provider with its own settings (key, server, headers, fetch, ready client, catalog overrides).
 * Nothing is read or loaded until a model is first called: then the API key is resolved (the `apiKey` setting,
 * else `MISTRAL_API_KEY`) and the SDK is imported and its client built, once per provider.
 *
 * The SDK's own retries are off and its timeout is out of the way: duh retries and times out calls itself.
 *
 * @example
 * ```ts
 * const eu = createMistral({ baseURL: 'https://api.eu.mistral.ai', models: { 'mistral-large-latest': { outputPricePerMTok: 6 } } });
 * const large = eu('mistral-large-latest');
 * ```
 * @throws InvalidOptionError on the first call when no API key is set (and no `client` was passed).
 * @throws MissingDependencyError on the first call when `@mistralai/mistralai` is not installed (and no `client` was passed).
 */
export function createMistral(settings: MistralProviderSettings = {}): MistralProvider {
  let clientPromise: Promise<{ client: MistralClientLike; apiKey: string | undefined }> | undefined;
  const getClient = () => {
    clientPromise ??= (async () => {
      if (settings.client) return { client: settings.client, apiKey: undefined };
      const apiKey = resolveApiKey(settings.apiKey, ENV_VARIABLE, 'Mistral');
      const sdk = await loadSdk();
      const httpClient = new sdk.HTTPClient({ fetcher: lateFetch(settings.fetch) });
      const serverURL = settings.baseURL?.replace(/\/+$/, '').replace(/\/v1$/, '');
      const client = new sdk.Mistral({
        apiKey,
        httpClient,
        retryConfig: { strategy: 'none' },
        timeoutMs: NO_SDK_TIMEOUT_MS,
        ...(serverURL ? { serverURL } : {}),
      });
      const typed: MistralClientLike = client;
      return { client: typed, apiKey };
    })().catch((error: unknown) => {
      clientPromise = undefined; // a later call may succeed (key set, package installed)
      throw error;
    });
    return clientPromise;
  };
  const headers = settings.client ? undefined : settings.headers;

  const provider = (modelId: MistralModelId, modelSettings: ModelSettings = {}): ModelAdapter =>
    withKeyCopies(
      new MistralModel(modelId, catalogInfo(PROVIDER, modelId, { ...settings.models?.[modelId], ...modelSettings.info }), getClient, headers),
      settings,
      (keyed) => createMistral(keyed)(modelId, modelSettings),
    );
  return Object.assign(provider, { models: () => Object.keys(CATALOG[PROVIDER] ?? {}) });
}

/**
 * The default Mistral provider: API key from `MISTRAL_API_KEY`, the global server, the global `fetch`.
 *
 * @example
 * ```ts
 * const model = mistral('mistral-small-latest', { info: { proposerEligible: false } });
 * ```
 */
export const mistral: MistralProvider = /*@__PURE__*/ createMistral();

type ClientGetter = () => Promise<{ client: MistralClientLike; apiKey: string | undefined }>;

class MistralModel implements ModelAdapter {
  readonly specificationVersion = 'v1' as const;
  readonly provider = PROVIDER;
  readonly modelId: string;
  readonly info: ModelInfo;
  readonly #getClient: ClientGetter;
  readonly #headers: Readonly<Record<string, string>> | undefined;

  constructor(modelId: string, info: ModelInfo, getClient: ClientGetter, headers: Readonly<Record<string, string>> | undefined) {
    this.modelId = modelId;
    this.info = info;
    this.#getClient = getClient;
    this.#headers = headers;
  }

  get #fields(): CallFields {
    return { provider: PROVIDER, model: this.modelId };
  }

  async generate(request: GenerateRequest, options: CallOptions = {}): Promise<GenerateResult> {
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    const { client, apiKey } = await this.#getClient();
    if (signal?.aborted) throw signal.reason;
    let response: MistralCompletion;
    try {
      response = await client.chat.complete(this.#body(request), this.#options(signal));
    } catch (error) {
      throw this.#error(error, signal, apiKey, 'request');
    }
    const choice = response.choices.find((candidate) => candidate.index === 0) ?? response.choices[0];
    const text = contentText(choice?.message?.content);
    if (!choice?.finishReason) throw new TruncatedStreamError(this.#fields, text);
    const calls = new ToolCallAssembler();
    calls.add(choice.message?.toolCalls);
    const toolCalls = calls.done();
    return {
      text,
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
      usage: usageOf(response.usage),
      finishReason: finishReasonOf(choice.finishReason, toolCalls.length > 0),
      providerMetadata: { mistral: { id: response.id, model: response.model } },
    };
  }

  async *stream(request: GenerateRequest, options: CallOptions = {}): AsyncGenerator<StreamPart> {
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    const { client, apiKey } = await this.#getClient();
    if (signal?.aborted) throw signal.reason;
    let events: AsyncIterable<{ data?: MistralCompletion | undefined }>;
    try {
      events = await client.chat.stream({ ...this.#body(request), stream: true }, this.#options(signal));
    } catch (error) {
      throw this.#error(error, signal, apiKey, 'request');
    }
    let finishReason: string | undefined;
    let usage: MistralUsage | undefined;
    let id = '';
    let model = '';
    // Mistral usually sends each call whole in one delta, but may split it (id and name first, arguments after).
    const calls = new ToolCallAssembler();
    try {
      for await (const event of events) {
        const chunk = event.data;
        if (!chunk) continue;
        id ||= chunk.id;
        model ||= chunk.model;
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          if (choice.index !== 0) continue;
          const text = contentText(choice.delta?.content);
          if (text) yield { type: 'text-delta', text };
          calls.add(choice.delta?.toolCalls);
          if (choice.finishReason) finishReason = choice.finishReason;
        }
      }
    } catch (error) {
      throw this.#error(error, signal, apiKey, 'stream');
    }
    if (signal?.aborted) throw signal.reason;
    // No finish_reason: the connection was cut before Mistral's final chunk. End without a finish part (the engine
    // reports a retryable TruncatedStreamError); never fake a successful ending.
    if (finishReason === undefined) return;
    const toolCalls = calls.done();
    for (const toolCall of toolCalls) yield { type: 'tool-call', toolCall };
    yield { type: 'finish', usage: usageOf(usage), finishReason: finishReasonOf(finishReason, toolCalls.length > 0), providerMetadata: { mistral: { id, model } } };
  }

  #body(request: GenerateRequest): MistralChatRequest {
    const body: MistralChatRequest = {
      model: this.modelId,
      messages: request.messages.map(messageOf),
      maxTokens: request.maxOutputTokens,
    };
    if (request.tools?.length) {
      body.tools = request.tools.map((tool) => ({ type: 'function', function: { name: tool.name, description: tool.description, parameters: { ...tool.parameters } } }));
      body.toolChoice = toolChoiceOf(request.toolChoice ?? 'auto');
    }
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.stopSequences?.length) body.stop = [...request.stopSequences];
    if (request.responseFormat === 'json') body.responseFormat = { type: 'json_object' };
    const extra = request.providerOptions?.[PROVIDER];
    // The SDK takes its own camelCase field names and drops unknown ones; accept the wire's snake_case too.
    if (extra) for (const [key, value] of Object.entries(extra)) body[camelCase(key)] = value;
    return body;
  }

  #options(signal: AbortSignal | undefined): MistralRequestOptions {
    return { ...(signal ? { signal } : {}), ...(this.#headers ? { headers: { ...this.#headers } } : {}) };
  }

  /** Map anything the SDK threw to the duh error family; aborts are rethrown untouched. */
  #error(error: unknown, signal: AbortSignal | undefined, apiKey: string | undefined, phase: 'request' | 'stream'): unknown {
    if (signal?.aborted) {
      // The SDK wraps what fetch threw (an AbortError, or the signal's own reason) in its client errors: unwrap it.
      const cause = (error as { cause?: unknown } | null)?.cause;
      return HTTP_CLIENT_ERRORS.has(nameOf(error) ?? '') && cause !== undefined ? cause : error;
    }
    if (DuhError.isInstance(error)) return error;
    const fields = this.#fields;
    const scrub = (text: string) => (apiKey ? text.split(apiKey).join('[redacted]') : text);
    const name = nameOf(error);
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number') {
      const { body, headers } = error as { body?: unknown; headers?: Headers };
      const parsed = parseErrorBody(typeof body === 'string' ? body : '');
      const withId = new Headers(headers instanceof Headers ? headers : undefined);
      const requestId = withId.get('x-request-id') ?? withId.get('mistral-correlation-id') ?? parsed.requestId;
      if (requestId) withId.set('x-request-id', requestId);
      let kind: ProviderErrorKind | undefined;
      let detail = scrub(parsed.detail || `${name ?? 'Error'} from the Mistral API`);
      if (status !== 429 && parsed.type === 'invalid_model') {
        kind = 'model-not-found';
        detail += ` Unknown model \`${this.modelId}\`: check the model id (list them with GET /v1/models), or the \`baseURL\`.`;
      } else if (status >= 400 && status < 500 && status !== 429 && /guardrail|moderation/i.test(`${parsed.type} ${parsed.detail}`)) {
        // A guardrail (moderation) block: not an auth or request problem, and retrying the same prompt will not help.
        return new ProviderError(
          { ...fields, status, kind: 'content-filter', retryable: false, ...(requestId ? { requestId } : {}) },
          `HTTP ${status}: ${detail} The request was blocked by a Mistral guardrail.`,
          { cause: error },
        );
      } else if (status === 429 && parsed.type === 'service_tier_capacity_exceeded') {
        detail += ' Mistral has no spare capacity for this model right now: retry later or use another model.';
      } else if (status === 429) {
        detail += ' Mistral limits requests per second and tokens per minute per workspace (see https://admin.mistral.ai/plateforme/limits).';
      }
      return errorFromStatus(fields, status, detail, { headers: withId, cause: error, apiKeyHint: API_KEY_HINT, ...(kind ? { kind } : {}) });
    }
    const message = scrub(error instanceof Error ? error.message : String(error));
    switch (name) {
      case 'ConnectionError':
      case 'UnexpectedClientError':
        return networkError(fields, (error as { cause?: unknown }).cause ?? error);
      case 'RequestTimeoutError':
        return new ProviderError({ ...fields, kind: 'timeout', retryable: true }, `The request timed out: ${message}`, { cause: error });
      case 'SDKValidationError':
      case 'InvalidRequestError':
        return new ProviderError(
          { ...fields, kind: 'bad-request', retryable: false },
          `The Mistral SDK rejected the request: ${message}. Check \`providerOptions.mistral\`.`,
          { cause: error },
        );
      case 'ResponseValidationError':
        return new ProviderError({ ...fields, kind: 'unknown', retryable: false }, `Unexpected response from the Mistral API: ${message}`, { cause: error });
    }
    // A JSON body cut mid-way (generate), or a stream event the SDK could not parse (often an in-stream error).
    if (error instanceof SyntaxError) return new TruncatedStreamError(fields, '', { cause: error });
    if (phase === 'stream' && name === 'ZodError') {
      return new ProviderError({ ...fields, kind: 'server', retryable: true }, `The answer stream carried an event the Mistral SDK could not read: ${message.slice(0, 300)}`, { cause: error });
    }
    // Body read failures (connection reset, `terminated`) and other fetch errors.
    if (error instanceof TypeError || phase === 'stream') return networkError(fields, error);
    return new ProviderError({ ...fields, retryable: false }, `The Mistral SDK failed: ${message}`, { cause: error });
  }
}

/** The SDK's wrappers around a failed `fetch` (`cause` holds what fetch threw). */
const HTTP_CLIENT_ERRORS = new Set(['RequestAbortedError', 'RequestTimeoutError', 'ConnectionError', 'UnexpectedClientError']);

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** The text of a message or delta: a string, or an array of chunks of which only `text` chunks count (not `thinking`). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const chunk of content as unknown[]) {
    const { type, text: part } = (chunk ?? {}) as { type?: unknown; text?: unknown };
    if ((type === 'text' || type === undefined) && typeof part === 'string') text += part;
  }
  return text;
}

/** A duh message in Mistral's shape: tool calls and tool results natively, with Mistral-valid call ids. */
function messageOf(message: ChatMessage): MistralMessage {
  switch (message.role) {
    case 'assistant':
      if (!message.toolCalls?.length) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        content: message.content,
        toolCalls: message.toolCalls.map((call, index) => ({ id: mistralCallId(call.id), type: 'function', function: { name: call.name, arguments: call.arguments }, index })),
      };
    case 'tool':
      return { role: 'tool', toolCallId: mistralCallId(message.toolCallId), name: message.toolName, content: message.content };
    default:
      return { role: message.role, content: message.content };
  }
}

function toolChoiceOf(choice: NonNullable<GenerateRequest['toolChoice']>): MistralToolChoice {
  if (typeof choice === 'object') return { type: 'function', function: { name: choice.name } };
  // Mistral's own word for "must call a tool" is `any` (`required` is a later alias).
  return choice === 'required' ? 'any' : choice;
}

const MISTRAL_CALL_ID = /^[a-zA-Z0-9]{9}$/;
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Mistral rejects a conversation whose tool call ids are not exactly nine letters or digits ("Tool call id was … but
 * must be a-z, A-Z, 0-9, with a length of 9"). Its own ids pass through unchanged; any other id (another provider's
 * `call_…`, a synthesised one) is hashed to nine alphanumerics, the same way for the call and for its result.
 */
function mistralCallId(id: string): string {
  if (MISTRAL_CALL_ID.test(id)) return id;
  let first = 0x811c9dc5; // two FNV-1a hashes with different offsets: 64 bits for 9 base-62 characters
  let second = 0x050c5d1f;
  for (let index = 0; index < id.length; index++) {
    const code = id.charCodeAt(index);
    first = Math.imul(first ^ code, 0x01000193);
    second = Math.imul(second ^ code, 0x01000193);
  }
  let out = '';
  for (let [value, digits] of [[first >>> 0, 5], [second >>> 0, 4]] as const) {
    for (let digit = 0; digit < digits; digit++) {
      out += ALPHANUMERIC[value % 62];
      value = Math.floor(value / 62);
    }
  }
  return out;
}

/**
 * Collects the tool calls of one answer from the (streamed) deltas: a delta with a new id starts a call, one without
 * an id continues the latest call at its index; argument texts are joined, argument objects are serialised.
 */
class ToolCallAssembler {
  readonly #calls: { id: string | undefined; index: number; name: string; arguments: string }[] = [];

  add(deltas: readonly MistralAnswerToolCall[] | null | undefined): void {
    for (const [position, delta] of (deltas ?? []).entries()) {
      // The SDK turns a missing id into the string "null".
      const id = typeof delta.id === 'string' && delta.id !== '' && delta.id !== 'null' ? delta.id : undefined;
      const index = typeof delta.index === 'number' ? delta.index : position;
      let call = id ? this.#calls.find((candidate) => candidate.id === id) : this.#calls.findLast((candidate) => candidate.index === index);
      if (!call) {
        call = { id, index, name: '', arguments: '' };
        this.#calls.push(call);
      }
      const { name, arguments: args } = delta.function ?? {};
      if (typeof name === 'string' && name && !call.name) call.name = name;
      if (typeof args === 'string') call.arguments += args;
      else if (args !== undefined && args !== null) call.arguments = JSON.stringify(args);
    }
  }

  /** The complete calls; a call Mistral gave no id gets `call<n>` (nine alphanumerics, as Mistral requires). */
  done(): ToolCall[] {
    return this.#calls.map((call, position) => ({ id: call.id ?? `call${String(position).padStart(5, '0')}`, name: call.name, arguments: call.arguments }));
  }
}

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  stop: 'stop',
  length: 'length',
  model_length: 'length',
  tool_calls: 'tool-calls',
  error: 'error',
  content_filter: 'content-filter',
};

/** Mistral's finish reason → duh's; an answer that made tool calls but says `stop` stopped to call them. */
function finishReasonOf(reason: string, calledTools = false): FinishReason {
  const mapped = FINISH_REASONS[reason] ?? (/filter|moderat|guardrail|safety/i.test(reason) ? 'content-filter' : 'stop');
  return calledTools && mapped === 'stop' ? 'tool-calls' : mapped;
}

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined);
const field = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined);

function usageOf(usage: MistralUsage | undefined): Usage {
  const result: Usage = { inputTokens: count(usage?.promptTokens) ?? 0, outputTokens: count(usage?.completionTokens) ?? 0 };
  const cached =
    count(field(usage?.['prompt_tokens_details'], 'cached_tokens')) ??
    count(field(usage?.['prompt_token_details'], 'cached_tokens')) ??
    count(usage?.['num_cached_tokens']);
  if (cached !== undefined) result.cacheReadTokens = cached;
  const reasoning = count(field(usage?.['completion_tokens_details'], 'reasoning_tokens'));
  if (reasoning !== undefined) result.reasoningTokens = reasoning;
  return result;
}

/** Mistral error bodies: `{"object":"error","message":...,"type":...,"code":...}`, `{"message":...,"request_id":...}`, or 422 `{"detail":[...]}`. */
function parseErrorBody(body: string): { detail: string; type: string; requestId: string | undefined } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { detail: body.trim().slice(0, 500), type: '', requestId: undefined };
  }
  const message = field(json, 'message');
  const detail = field(json, 'detail');
  let text: string;
  if (typeof message === 'string') text = message;
  else if (Array.isArray(detail)) {
    text = detail
      .map((item) => {
        const location = field(item, 'loc');
        const where = Array.isArray(location) ? location.filter((part) => part !== 'body').join('.') : '';
        return `${where ? `${where}: ` : ''}${String(field(item, 'msg') ?? JSON.stringify(item))}`;
      })
      .join('; ');
  } else if (typeof detail === 'string') text = detail;
  else text = JSON.stringify(message ?? json).slice(0, 500);
  const type = field(json, 'type');
  const requestId = field(json, 'request_id');
  return { detail: text, type: typeof type === 'string' ? type : '', requestId: typeof requestId === 'string' ? requestId : undefined };
}

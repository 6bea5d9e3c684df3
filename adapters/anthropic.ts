/**
 * `duh/adapters/anthropic`: Claude models through the official `@anthropic-ai/sdk` (an optional peer
 * dependency, loaded on the first call).
 *
 * - `stream()` sends `messages.create({ stream: true })` and maps the server-sent events; `generate()` sends a
 *   plain `messages.create()`.
 * - System messages go to the separate `system` parameter, joined with a blank line.
 * - `max_tokens` is always sent (the Messages API requires it).
 * - `temperature` is left out by default: API version 2026-10-21, which `@anthropic-ai/sdk` 1.x sends, answers
 *   HTTP 400 to any sampling parameter. See {@link AnthropicProviderSettings.sendTemperature}.
 * - `responseFormat: 'json'` appends a one-line instruction to the system prompt, since Anthropic has no JSON flag.
 * - Tools go out as `tools` / `tool_choice`; an assistant's calls become `tool_use` blocks (arguments parsed into
 *   `input`) and tool results `tool_result` blocks of a user turn. `tool_use` answer blocks come back as tool calls
 *   (streamed ones assembled from their `input_json_delta` fragments).
 * - The answer is every text block joined, usage includes cache and thinking tokens, and every failure maps to
 *   the duh error family. A stream cut before `message_stop` never ends with a `finish` part.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { anthropic } from 'duh/adapters/anthropic';
 * const duh = new Consensus({ models: [anthropic('claude-opus-4-6'), anthropic('claude-haiku-4-5-20251001')] });
 * ```
 *
 * @module
 */
import type { ChatMessage, FinishReason, GenerateRequest, GenerateResult, ModelAdapter, StreamPart, ToolCall, Usage } from '../src/adapter.js';
import { DuhError, ProviderError, ProviderRateLimitError, TruncatedStreamError, type ProviderErrorKind } from '../src/errors.js';
import { CATALOG, catalogInfo } from './_shared/catalog.js';
import { errorFromStatus, header, isAbortError, networkError, scrubKeys, type CallFields, type HeadersLike } from './_shared/errors.js';
import { lazyPeer } from './_shared/lazy.js';
import { lateFetch, resolveApiKey, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

const PROVIDER = 'anthropic';
const API_KEY_ENV = 'ANTHROPIC_API_KEY';
const API_KEY_HINT = `Check the \`apiKey\` option or the ${API_KEY_ENV} environment variable.`;
/** The SDK's own timeout: long, because the engine owns timeouts (`timeoutMs`). */
const SDK_TIMEOUT_MS = 60 * 60 * 1000;

/** Appended to the system prompt for `responseFormat: 'json'`. */
const JSON_INSTRUCTION = 'Reply with a single JSON object only: no text before or after it and no Markdown code fences.';

/** A content block of a message this adapter sends. */
export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string };

/** A message this adapter sends: plain text, or content blocks when tool calls or results are involved. */
export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | AnthropicContentBlock[];
}

/** A tool definition as the Messages API takes it. */
export interface AnthropicTool {
  name: string;
  description: string;
  /** The tool's JSON Schema; `type: 'object'` is added when the schema leaves it out (the API requires it). */
  input_schema: { type: 'object'; [keyword: string]: unknown };
}

/** How the model may use the tools. */
export type AnthropicToolChoice = { type: 'auto' } | { type: 'any' } | { type: 'none' } | { type: 'tool'; name: string };

/** The request body this adapter sends to `POST /v1/messages` (plus anything in `providerOptions.anthropic`). */
export interface AnthropicMessagesBody {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  system?: string;
  temperature?: number;
  stop_sequences?: string[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  stream?: boolean;
  [option: string]: unknown;
}

/**
 * The part of an `@anthropic-ai/sdk` client this adapter uses. A `new Anthropic(...)` instance fits it, and so
 * does a test double: `create()` resolves to a `Message` (or, with `stream: true`, to an async iterable of
 * stream events), optionally with the SDK's `withResponse()` to expose the `request-id` header.
 */
export interface AnthropicClient {
  readonly messages: {
    create(body: AnthropicMessagesBody, options?: { signal?: AbortSignal | undefined }): PromiseLike<unknown>;
  };
}

/** Settings of {@link createAnthropic}. */
export interface AnthropicProviderSettings extends ProviderSettings<AnthropicClient> {
  /**
   * Send `temperature` (clamped to Anthropic's range 0–1). Off by default: API version 2026-10-21, which
   * `@anthropic-ai/sdk` 1.x sends, rejects `temperature` with HTTP 400 ("Extra inputs are not permitted") even at
   * its default value. Turn it on only together with `headers: { 'anthropic-version': '2023-06-01' }` or for a
   * gateway that accepts it.
   * @default false
   */
  sendTemperature?: boolean;
}

/** A provider: call it with a model id to get a {@link ModelAdapter}. */
export interface AnthropicProvider {
  (modelId: string, settings?: ModelSettings): ModelAdapter;
  /** The Anthropic model ids in duh's catalog (any other id works too, with the unknown-model defaults). */
  models(): string[];
}

// ---- The wire format, as far as this adapter reads it (API version 2026-10-21). ----

interface WireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

interface WireBlock {
  type: string;
  text?: string;
  /** `tool_use` blocks: the call id, the tool's name and its arguments object (`{}` at `content_block_start`). */
  id?: string;
  name?: string;
  input?: unknown;
}

interface WireMessage {
  id?: string;
  type?: string;
  model?: string;
  content?: WireBlock[];
  stop_reason?: string | null;
  stop_sequence?: string | null;
  stop_details?: unknown;
  usage?: WireUsage;
}

type WireEvent =
  | { type: 'message_start'; message: WireMessage }
  | { type: 'content_block_start'; index: number; content_block: WireBlock }
  | { type: 'content_block_delta'; index: number; delta: { type: string; text?: string; partial_json?: string } }
  | { type: 'content_block_stop'; index: number }
  | { type: 'message_delta'; delta: { stop_reason?: string | null; stop_sequence?: string | null; stop_details?: unknown }; usage?: WireUsage }
  | { type: 'message_stop' }
  | { type: string };

/** `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_..."}` */
interface WireErrorBody {
  type?: string;
  error?: { type?: string; message?: string };
  request_id?: string;
}

/** What an `@anthropic-ai/sdk` `APIError` carries (read structurally: the SDK may not be loaded by us). */
interface SdkErrorLike {
  name?: string;
  message?: string;
  status?: number;
  headers?: HeadersLike;
  error?: unknown;
  cause?: unknown;
}

const loadSdk = /*@__PURE__*/ lazyPeer('@anthropic-ai/sdk', 'duh/adapters/anthropic', () => import('@anthropic-ai/sdk'));

/** Anthropic `stop_reason` → duh finish reason. Unknown future values count as a normal stop. */
const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool-calls',
  refusal: 'content-filter',
};

/** Map an Anthropic `stop_reason` to a duh finish reason. */
function finishReasonOf(stopReason: string | null | undefined): FinishReason {
  return (stopReason ? FINISH_REASONS[stopReason] : undefined) ?? 'stop';
}

/**
 * Map Anthropic usage to duh usage. `inputTokens` is the whole prompt: Anthropic's `input_tokens` counts only the
 * uncached part, so cache reads and writes are added back (and also reported as `cacheReadTokens` and
 * `cacheWriteTokens`). `reasoningTokens` comes from `output_tokens_details.thinking_tokens`.
 */
function usageOf(usage: WireUsage | undefined): Usage {
  const read = usage?.cache_read_input_tokens;
  const write = usage?.cache_creation_input_tokens;
  const thinking = usage?.output_tokens_details?.thinking_tokens;
  const result: Usage = {
    inputTokens: (usage?.input_tokens ?? 0) + (read ?? 0) + (write ?? 0),
    outputTokens: usage?.output_tokens ?? 0,
  };
  if (typeof read === 'number') result.cacheReadTokens = read;
  if (typeof write === 'number') result.cacheWriteTokens = write;
  if (typeof thinking === 'number') result.reasoningTokens = thinking;
  return result;
}

/**
 * A call's arguments as the `input` object Anthropic requires. The model's JSON text is parsed; text that is not
 * a JSON object (invalid JSON, an array, a string) is sent as `{}`, since the API rejects anything but an object.
 */
function inputOf(call: ToolCall): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(call.arguments);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: fall through
  }
  return {};
}

/** A user turn made only of `tool_result` blocks (where the next tool result, or a user's text, joins in). */
function isToolResultTurn(message: AnthropicMessageParam | undefined): message is AnthropicMessageParam & { content: AnthropicContentBlock[] } {
  return message?.role === 'user' && Array.isArray(message.content) && message.content.every((block) => block.type === 'tool_result');
}

/**
 * The conversation without its system messages, in Anthropic's shape. An assistant message with tool calls
 * becomes a text block (when it has text) and one `tool_use` block per call. Tool results become `tool_result`
 * blocks of a user turn: consecutive results share one turn, and a user message right after them joins that turn
 * as a text block (the API wants the results first and alternating roles).
 */
function messagesOf(messages: readonly ChatMessage[]): AnthropicMessageParam[] {
  const out: AnthropicMessageParam[] = [];
  for (const message of messages) {
    const last = out.at(-1);
    switch (message.role) {
      case 'system':
        break;
      case 'tool': {
        const block: AnthropicContentBlock = { type: 'tool_result', tool_use_id: message.toolCallId, content: message.content };
        if (isToolResultTurn(last)) last.content.push(block);
        else out.push({ role: 'user', content: [block] });
        break;
      }
      case 'user':
        if (isToolResultTurn(last) && message.content !== '') last.content.push({ type: 'text', text: message.content });
        else out.push({ role: 'user', content: message.content });
        break;
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        if (calls.length === 0) {
          out.push({ role: 'assistant', content: message.content });
          break;
        }
        // The API rejects empty text blocks: a call-only turn has just its tool_use blocks.
        const content: AnthropicContentBlock[] = message.content === '' ? [] : [{ type: 'text', text: message.content }];
        for (const call of calls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: inputOf(call) });
        out.push({ role: 'assistant', content });
        break;
      }
    }
  }
  return out;
}

/** duh `toolChoice` → Anthropic `tool_choice`. */
function toolChoiceOf(choice: NonNullable<GenerateRequest['toolChoice']>): AnthropicToolChoice {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  return choice === 'required' ? { type: 'any' } : { type: choice };
}

/** Build the Messages API body for a duh request (without `stream`). */
function messagesBody(modelId: string, request: GenerateRequest, options: { sendTemperature?: boolean } = {}): AnthropicMessagesBody {
  const system: string[] = [];
  for (const message of request.messages) if (message.role === 'system' && message.content.trim() !== '') system.push(message.content);
  if (request.responseFormat === 'json') system.push(JSON_INSTRUCTION);
  const body: AnthropicMessagesBody = {
    model: modelId,
    max_tokens: request.maxOutputTokens,
    messages: messagesOf(request.messages),
  };
  if (system.length > 0) body.system = system.join('\n\n');
  if (options.sendTemperature && request.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, request.temperature));
  if (request.stopSequences && request.stopSequences.length > 0) body.stop_sequences = [...request.stopSequences];
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: { type: 'object', ...tool.parameters } }));
    // Without `toolChoice` the API's default (auto) applies; the API rejects `tool_choice` without `tools`.
    if (request.toolChoice !== undefined) body.tool_choice = toolChoiceOf(request.toolChoice);
  }
  return { ...body, ...request.providerOptions?.[PROVIDER] };
}

/** A complete `tool_use` block as a duh tool call; `arguments` is its `input` as JSON text. */
function toolCallOf(block: WireBlock, index: number): ToolCall {
  return { id: block.id || `call_${index}`, name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) };
}

/** Anthropic error `type` → what it means for duh, for errors that arrive without an HTTP status (mid-stream). */
const STREAM_ERROR_KINDS: Readonly<Record<string, { kind: ProviderErrorKind; retryable: boolean }>> = {
  overloaded_error: { kind: 'overloaded', retryable: true },
  api_error: { kind: 'server', retryable: true },
  timeout_error: { kind: 'timeout', retryable: true },
  invalid_request_error: { kind: 'bad-request', retryable: false },
  request_too_large: { kind: 'bad-request', retryable: false },
  authentication_error: { kind: 'auth', retryable: false },
  permission_error: { kind: 'auth', retryable: false },
  billing_error: { kind: 'auth', retryable: false },
  not_found_error: { kind: 'model-not-found', retryable: false },
};

const RATE_LIMITS: readonly [string, string][] = [
  ['requests', 'requests per minute'],
  ['input-tokens', 'input tokens per minute'],
  ['output-tokens', 'output tokens per minute'],
  ['tokens', 'tokens per minute'],
];

/** Which `anthropic-ratelimit-*` budget ran out, and when it resets, for the 429 message. */
function rateLimitHint(headers: HeadersLike): string {
  for (const [name, description] of RATE_LIMITS) {
    if (header(headers, `anthropic-ratelimit-${name}-remaining`)?.trim() === '0') {
      const reset = header(headers, `anthropic-ratelimit-${name}-reset`);
      return ` The ${description} limit is used up${reset ? ` until ${reset}` : ''}.`;
    }
  }
  return '';
}

function errorBodyOf(value: unknown): WireErrorBody | undefined {
  return typeof value === 'object' && value !== null && 'error' in value ? (value as WireErrorBody) : undefined;
}

/** `type: message.` from an error body, as one sentence (hints follow it). */
function describe(body: WireErrorBody | undefined, fallback: string | undefined): string {
  const type = body?.error?.type;
  const message = body?.error?.message?.trim();
  const text = type && message ? `${type}: ${message}` : (message ?? type ?? fallback ?? 'unknown error');
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** Extra advice for a few errors whose fix is not obvious from Anthropic's message. */
function adviceFor(body: WireErrorBody | undefined): string {
  const message = body?.error?.message ?? '';
  if (/\b(temperature|top_p|top_k)\b/.test(message)) {
    return ' API version 2026-10-21 rejects sampling parameters: leave `sendTemperature` off and remove them from `providerOptions.anthropic`.';
  }
  if (body?.error?.type === 'billing_error') return ' Check the billing of the Anthropic account.';
  return '';
}

/**
 * Map anything the SDK (or an injected client) threw to the duh error family. Abort errors and duh errors are
 * returned unchanged.
 */
function anthropicError(fields: CallFields, error: unknown): unknown {
  if (DuhError.isInstance(error) || isAbortError(error)) return error;
  if (typeof error !== 'object' || error === null) return networkError(fields, error);
  const sdk = error as SdkErrorLike;
  if (sdk.name === 'APIConnectionTimeoutError') {
    return new ProviderError({ ...fields, kind: 'timeout', retryable: true }, 'The request to Anthropic timed out.', { cause: error });
  }
  if (sdk.name === 'APIConnectionError') return networkError(fields, connectionFailure(sdk));
  const body = errorBodyOf(sdk.error);
  // Anthropic sends the id in the `request-id` header and, in newer error bodies, as `request_id`.
  const headers: HeadersLike =
    body?.request_id && !header(sdk.headers, 'request-id') ? { ...plainHeaders(sdk.headers), 'request-id': body.request_id } : sdk.headers;
  if (typeof sdk.status === 'number') {
    const status = sdk.status;
    const detail = describe(body, sdk.message) + (status === 429 ? rateLimitHint(headers) : '') + adviceFor(body);
    const type = body?.error?.type;
    // 529 is `overloaded` by status already; the type also catches an overloaded_error under another 5xx.
    const kind: ProviderErrorKind | undefined = type === 'overloaded_error' && status >= 500 ? 'overloaded' : type === 'billing_error' ? 'auth' : undefined;
    return errorFromStatus(fields, status, detail, { headers, cause: error, apiKeyHint: API_KEY_HINT, ...(kind ? { kind } : {}) });
  }
  if (body?.error?.type) {
    // An `event: error` inside a 200 stream: no HTTP status, the kind comes from the error type.
    const type = body.error.type;
    const requestId = body.request_id ?? header(headers, 'request-id');
    const base = { ...fields, ...(requestId ? { requestId } : {}) };
    const message = `Error event in the answer stream: ${describe(body, sdk.message)}`;
    if (type === 'rate_limit_error') return new ProviderRateLimitError(base, `Rate limited by the provider: ${message}`, { cause: error });
    const known = STREAM_ERROR_KINDS[type] ?? { kind: 'unknown' as const, retryable: false };
    return new ProviderError({ ...base, ...known }, message + adviceFor(body), { cause: error });
  }
  return undefined;
}

/** The SDK's "Connection error." hides why: name the innermost cause and its code (`ECONNREFUSED`, `ENOTFOUND`). */
function connectionFailure(error: SdkErrorLike): Error {
  let cause: unknown = error.cause;
  let code: string | undefined;
  let message = error.message ?? 'Connection error.';
  for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    message = cause.message || message;
    code = (cause as { code?: unknown }).code === undefined ? code : String((cause as { code?: unknown }).code);
  }
  return new Error(code && !message.includes(code) ? `${message} (${code})` : message, { cause: error });
}

/** Headers as a plain record (to add the body's `request_id` for {@link errorFromStatus}). */
function plainHeaders(headers: HeadersLike): Record<string, string> {
  if (!headers) return {};
  if (typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function') {
    const out: Record<string, string> = {};
    (headers as Headers).forEach((value, key) => (out[key] = value));
    return out;
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (typeof value === 'string') out[key] = value;
    else if (Array.isArray(value) && typeof value[0] === 'string') out[key] = value[0];
  }
  return out;
}

/** The error to throw once the caller's signal has aborted: the SDK's own abort error, else the signal's reason. */
function abortError(signal: AbortSignal, caught?: unknown): unknown {
  return caught !== undefined && isAbortError(caught) ? caught : (signal.reason ?? caught);
}

interface Sent {
  data: unknown;
  requestId: string | undefined;
}

/** Call `messages.create`, reading the `request-id` header through the SDK's `withResponse()` when it has one. */
async function send(client: AnthropicClient, body: AnthropicMessagesBody, signal: AbortSignal | undefined): Promise<Sent> {
  const pending = client.messages.create(body, signal ? { signal } : {});
  const withResponse = (pending as { withResponse?: () => Promise<{ data: unknown; response?: Response; request_id?: string | null }> }).withResponse;
  if (typeof withResponse === 'function') {
    const { data, response, request_id: requestId } = await withResponse.call(pending);
    return { data, requestId: requestId ?? response?.headers.get('request-id') ?? undefined };
  }
  const data = await pending;
  const requestId = (data as { _request_id?: string | null } | null)?._request_id;
  return { data, requestId: requestId ?? undefined };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<WireEvent> {
  return typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function metadataOf(requestId: string | undefined, message: WireMessage, stopReason: string | null | undefined): Record<string, unknown> {
  return {
    ...(requestId ? { requestId } : {}),
    ...(message.id ? { messageId: message.id } : {}),
    ...(stopReason ? { stopReason } : {}),
    ...(message.stop_sequence ? { stopSequence: message.stop_sequence } : {}),
    ...(message.stop_details ? { stopDetails: message.stop_details } : {}),
  };
}

/**
 * Create an Anthropic provider. The API key (`apiKey`, else `ANTHROPIC_API_KEY`) is read and the SDK imported on
 * the first call of any of its models, not here.
 *
 * @example
 * ```ts
 * const claude = createAnthropic({ apiKey: process.env.MY_KEY, models: { 'claude-opus-4-6': { outputPricePerMTok: 25 } } });
 * const opus = claude('claude-opus-4-6');
 * ```
 */
export function createAnthropic(settings: AnthropicProviderSettings = {}): AnthropicProvider {
  let client: Promise<AnthropicClient> | undefined;
  /** The key in use once resolved (`apiKey` or ANTHROPIC_API_KEY), scrubbed from error messages. */
  let resolvedKey: string | undefined;
  const keys = () => [settings.apiKey, resolvedKey];
  const getClient = (): Promise<AnthropicClient> => {
    client ??= (async (): Promise<AnthropicClient> => {
      if (settings.client) return settings.client;
      const apiKey = resolveApiKey(settings.apiKey, API_KEY_ENV, 'Anthropic');
      resolvedKey = apiKey;
      const { default: Anthropic } = await loadSdk();
      return new Anthropic({
        apiKey,
        ...(settings.baseURL !== undefined ? { baseURL: settings.baseURL } : {}),
        ...(settings.headers ? { defaultHeaders: settings.headers } : {}),
        fetch: lateFetch(settings.fetch),
        maxRetries: 0,
        timeout: SDK_TIMEOUT_MS,
      }) as unknown as AnthropicClient;
    })().catch((error: unknown) => {
      client = undefined; // a missing key or SDK may be fixed before the next call
      throw error;
    });
    return client;
  };

  const provider = (modelId: string, modelSettings?: ModelSettings): ModelAdapter => {
    const fields: CallFields = { provider: PROVIDER, model: modelId };
    const info = catalogInfo(PROVIDER, modelId, { ...settings.models?.[modelId], ...modelSettings?.info });
    const bodyOf = (request: GenerateRequest) => messagesBody(modelId, request, { sendTemperature: settings.sendTemperature ?? false });

    /** Send one request; failures come back as duh errors (aborts as they are). */
    const call = async (body: AnthropicMessagesBody, signal: AbortSignal | undefined): Promise<Sent> => {
      try {
        return await send(await getClient(), body, signal);
      } catch (error) {
        if (signal?.aborted) throw abortError(signal, error);
        const mapped = anthropicError(fields, error);
        if (mapped !== undefined) throw scrubKeys(mapped, keys());
        // Not an SDK error: the response body broke off or was not JSON (a cut connection).
        if (error instanceof SyntaxError) throw new TruncatedStreamError(fields, '', { cause: error });
        throw scrubKeys(networkError(fields, error), keys());
      }
    };

    const adapter: ModelAdapter = {
      specificationVersion: 'v1',
      provider: PROVIDER,
      modelId,
      info,

      async generate(request, options = {}): Promise<GenerateResult> {
        const { signal } = options;
        if (signal?.aborted) throw signal.reason;
        const { data, requestId } = await call(bodyOf(request), signal);
        const message = (data ?? {}) as WireMessage;
        if (!Array.isArray(message.content) || !message.stop_reason) {
          // An answer without its stop reason was cut off (or is not a Message at all): never a success.
          throw new TruncatedStreamError(fields, '', {});
        }
        // Every text block, in order (duh took only the last one); thinking and server-tool blocks are skipped.
        const text = message.content.flatMap((block) => (block.type === 'text' && typeof block.text === 'string' ? [block.text] : [])).join('');
        const toolCalls = message.content.flatMap((block, index) => (block.type === 'tool_use' ? [toolCallOf(block, index)] : []));
        return {
          text,
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
          usage: usageOf(message.usage),
          finishReason: finishReasonOf(message.stop_reason),
          providerMetadata: metadataOf(requestId, message, message.stop_reason),
        };
      },

      async *stream(request, options = {}): AsyncGenerator<StreamPart> {
        const { signal } = options;
        if (signal?.aborted) throw signal.reason;
        const { data, requestId } = await call({ ...bodyOf(request), stream: true }, signal);
        if (!isAsyncIterable(data)) throw new TruncatedStreamError(fields, '', {});
        let text = '';
        let stopped = false;
        let message: WireMessage = {};
        let usage: WireUsage = {};
        let stopReason: string | null | undefined;
        /** `tool_use` blocks still streaming, by block index: their start block and the `partial_json` so far. */
        const pendingCalls = new Map<number, { block: WireBlock; json: string }>();
        /** The finished call of a pending block: the streamed JSON text, or the start block's `input` if none came. */
        const completeCall = (index: number): ToolCall => {
          const { block, json } = pendingCalls.get(index)!;
          pendingCalls.delete(index);
          const call = toolCallOf(block, index);
          return json === '' ? call : { ...call, arguments: json };
        };
        try {
          for await (const event of data) {
            switch (event.type) {
              case 'message_start': {
                message = (event as Extract<WireEvent, { type: 'message_start' }>).message ?? {};
                usage = { ...message.usage };
                stopReason = message.stop_reason;
                // The API may start a message with content already in it; pass its text and tool calls on.
                for (const [index, block] of (message.content ?? []).entries()) {
                  if (block.type === 'text' && block.text) {
                    text += block.text;
                    yield { type: 'text-delta', text: block.text };
                  } else if (block.type === 'tool_use') {
                    yield { type: 'tool-call', toolCall: toolCallOf(block, index) };
                  }
                }
                break;
              }
              case 'content_block_start': {
                const { index, content_block: block } = event as Extract<WireEvent, { type: 'content_block_start' }>;
                if (block?.type === 'text' && block.text) {
                  text += block.text;
                  yield { type: 'text-delta', text: block.text };
                } else if (block?.type === 'tool_use') {
                  // `input` is `{}` here; the arguments follow as input_json_delta fragments until content_block_stop.
                  pendingCalls.set(index, { block, json: '' });
                }
                break;
              }
              case 'content_block_delta': {
                const { index, delta } = event as Extract<WireEvent, { type: 'content_block_delta' }>;
                if (delta?.type === 'text_delta' && delta.text) {
                  text += delta.text;
                  yield { type: 'text-delta', text: delta.text };
                } else if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
                  const pending = pendingCalls.get(index);
                  if (pending) pending.json += delta.partial_json;
                }
                break;
              }
              case 'content_block_stop': {
                const { index } = event as Extract<WireEvent, { type: 'content_block_stop' }>;
                if (pendingCalls.has(index)) yield { type: 'tool-call', toolCall: completeCall(index) };
                break;
              }
              case 'message_delta': {
                const { delta, usage: deltaUsage } = event as Extract<WireEvent, { type: 'message_delta' }>;
                if (delta?.stop_reason) stopReason = delta.stop_reason;
                message = {
                  ...message,
                  ...(delta?.stop_sequence ? { stop_sequence: delta.stop_sequence } : {}),
                  ...(delta?.stop_details ? { stop_details: delta.stop_details } : {}),
                };
                // message_delta usage is cumulative; fields it reports as null keep their message_start value.
                for (const [key, value] of Object.entries(deltaUsage ?? {})) {
                  if (value !== null && value !== undefined) (usage as Record<string, unknown>)[key] = value;
                }
                break;
              }
              case 'message_stop':
                stopped = true;
                break;
              default:
                // ping, thinking and signature deltas, future events: nothing to pass on.
                break;
            }
          }
        } catch (error) {
          if (signal?.aborted) throw abortError(signal, error);
          const mapped = anthropicError(fields, error);
          if (mapped !== undefined) throw scrubKeys(mapped, keys());
          // The body broke off mid-event (connection reset, half a JSON line): a truncation, worth retrying.
          throw new TruncatedStreamError(fields, text, { cause: error });
        }
        // The SDK ends its iteration quietly when the signal aborts mid-body: that is still an abort.
        if (signal?.aborted) throw abortError(signal);
        // No message_stop: the connection was cut. End without a finish part; the engine retries.
        if (!stopped) return;
        // A tool_use block the stream never closed is still complete once the message is: pass it on before finish.
        for (const index of [...pendingCalls.keys()]) yield { type: 'tool-call', toolCall: completeCall(index) };
        yield { type: 'finish', usage: usageOf(usage), finishReason: finishReasonOf(stopReason), providerMetadata: metadataOf(requestId, message, stopReason) };
      },
    };
    return withKeyCopies(adapter, settings, (keyed) => createAnthropic(keyed)(modelId, modelSettings));
  };

  return Object.assign(provider, { models: () => Object.keys(CATALOG[PROVIDER] ?? {}) });
}

/**
 * The default Anthropic provider: `ANTHROPIC_API_KEY` from the environment, default base URL.
 *
 * @example
 * ```ts
 * import { anthropic } from 'duh/adapters/anthropic';
 * const sonnet = anthropic('claude-sonnet-4-6');
 * ```
 */
export const anthropic: AnthropicProvider = /*@__PURE__*/ createAnthropic();

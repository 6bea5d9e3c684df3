/**
 * Google Gemini models through the official `@google/genai` SDK (an optional peer dependency, loaded on a
 * member's first call).
 *
 * ```ts
 * import { Consensus } from 'duh';
 * import { google } from 'duh/adapters/google';
 * import { openai } from 'duh/adapters/openai';
 *
 * const duh = new Consensus({ models: [google('gemini-2.5-pro'), openai('gpt-5.2')] });
 * ```
 *
 * What it maps (details in `docs/adapters/google.md`):
 * - requests: system messages → `systemInstruction`, `assistant` → role `model`, `maxOutputTokens`,
 *   `temperature`, `stopSequences`, JSON mode → `responseMimeType: 'application/json'`; then the provider's
 *   and the model's `config` and the request's `providerOptions.google`, merged into the SDK's
 *   `GenerateContentConfig` in that order;
 * - tools: `tools` → one `functionDeclarations` tool (`parametersJsonSchema`), `toolChoice` →
 *   `toolConfig.functionCallingConfig.mode` (`AUTO`, `NONE`, `ANY`, `ANY` + `allowedFunctionNames`); an
 *   assistant's tool calls → `functionCall` parts of its `model` turn, `tool` messages → `functionResponse`
 *   parts of a `user` turn; `functionCall` parts of the answer → tool calls (`call_<n>` when Gemini gives no id),
 *   a part's `thoughtSignature` → the call's `providerMetadata.google.thoughtSignature`, sent back on replay
 *   (Google's placeholder signature on a step's first call when it has none);
 * - finish reasons: `STOP` → `stop` (`tool-calls` when the answer holds function calls), `MAX_TOKENS` →
 *   `length`, safety/recitation/blocklist/... and a prompt blocked outright (`promptFeedback.blockReason`) →
 *   `content-filter`, malformed calls → `error`;
 * - usage: `promptTokenCount` in, `candidatesTokenCount + thoughtsTokenCount` out (Google bills thoughts as
 *   output), `cachedContentTokenCount` → `cacheReadTokens`, `thoughtsTokenCount` → `reasoningTokens`;
 * - errors: HTTP status and the `google.rpc` error body (`RetryInfo.retryDelay`, `ErrorInfo` reason
 *   `API_KEY_INVALID`) → the duh error family; a stream that ends without a finish reason → truncation.
 *
 * @module
 */
import type {
  Content,
  FunctionCallingConfig,
  FunctionCallingConfigMode,
  GenerateContentConfig,
  GenerateContentParameters,
  GenerateContentResponse,
  GenerateContentResponseUsageMetadata,
  GoogleGenAI,
  HttpOptions,
  Part,
  Tool,
} from '@google/genai';
import type { CallOptions, FinishReason, GenerateRequest, GenerateResult, ModelAdapter, StreamPart, ToolCall, Usage } from '../src/adapter.js';
import { DuhError, InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError } from '../src/errors.js';
import { CATALOG, catalogInfo } from './_shared/catalog.js';
import { errorFromStatus, isAbortError, networkError, retryAfterMs, scrubKeys, type CallFields, type HeadersLike } from './_shared/errors.js';
import { lazyPeer } from './_shared/lazy.js';
import { env, lateFetch, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

const PROVIDER = 'google';
const ENV_KEYS = ['GOOGLE_API_KEY', 'GEMINI_API_KEY'] as const;
const API_KEY_HINT = 'Check the `apiKey` option, or the GOOGLE_API_KEY (or GEMINI_API_KEY) environment variable.';

/** The slice of a `GoogleGenAI` client this adapter uses: `models.generateContentStream`. */
export type GoogleClient = Pick<GoogleGenAI, 'models'>;

/** Settings of {@link createGoogle}. */
export interface GoogleProviderSettings extends ProviderSettings<GoogleClient> {
  /**
   * API version path segment (`v1`, `v1beta`). Defaults to the SDK's default (`v1` in `@google/genai` 3), or the
   * `GOOGLE_GENAI_API_VERSION` environment variable the SDK reads. Use `v1beta` for preview-only request fields.
   */
  apiVersion?: string;
  /**
   * Defaults for every request of this provider, as `@google/genai` `GenerateContentConfig` fields
   * (`thinkingConfig`, `safetySettings`, `temperature`, ...). They override duh's mapped fields; a model's
   * `config` and a request's `providerOptions.google` override them in turn.
   */
  config?: GenerateContentConfig;
}

/** Per-model settings of a Google provider. */
export interface GoogleModelSettings extends ModelSettings {
  /** Request defaults for this model (`GenerateContentConfig` fields), over the provider's `config`. */
  config?: GenerateContentConfig;
}

/** A Google provider: call it with a model id to get a {@link ModelAdapter}. */
export interface GoogleProvider {
  (modelId: string, settings?: GoogleModelSettings): ModelAdapter;
  /** The Gemini model ids in duh's catalog (`gemini-3-pro-preview`, ...). Any other id works too. */
  models(): string[];
}

type Sdk = typeof import('@google/genai');

const loadSdk = /*@__PURE__*/ lazyPeer<Sdk>('@google/genai', 'duh/adapters/google', () => import('@google/genai'));

/**
 * Create a Google (Gemini API) provider.
 *
 * The API key comes from `apiKey`, else `GOOGLE_API_KEY`, else `GEMINI_API_KEY`, read on the first call. The SDK
 * client is built once per provider on first use, with no SDK retries or timeout (duh owns both) and a `fetch`
 * looked up at call time (`settings.fetch`, else `globalThis.fetch`). Pass `client` to use a ready
 * `GoogleGenAI` (Vertex AI, proxies, tests): then nothing is imported and `apiKey`, `baseURL`, `headers`,
 * `fetch` and `apiVersion` are ignored.
 *
 * @example
 * ```ts
 * const google = createGoogle({ apiKey: process.env.MY_GEMINI_KEY, models: { 'gemini-2.5-flash': { outputPricePerMTok: 3 } } });
 * const flash = google('gemini-2.5-flash');
 * ```
 */
export function createGoogle(settings: GoogleProviderSettings = {}): GoogleProvider {
  let building: Promise<GoogleClient> | undefined;
  /** The key in use once resolved (`apiKey`, GOOGLE_API_KEY or GEMINI_API_KEY), scrubbed from error messages. */
  let resolvedKey: string | undefined;
  const keys = () => [settings.apiKey, resolvedKey];
  const ownsClient = settings.client === undefined;
  const baseFetch = lateFetch(settings.fetch);

  const getClient = (): Promise<GoogleClient> => {
    if (settings.client) return Promise.resolve(settings.client);
    building ??= (async () => {
      const apiKey = resolveGoogleApiKey(settings.apiKey);
      resolvedKey = apiKey;
      const { GoogleGenAI } = await loadSdk();
      const httpOptions: HttpOptions = {
        fetch: baseFetch,
        ...(settings.baseURL !== undefined ? { baseUrl: settings.baseURL } : {}),
        ...(settings.headers !== undefined ? { headers: { ...settings.headers } } : {}),
        ...(settings.apiVersion !== undefined ? { apiVersion: settings.apiVersion } : {}),
        // No `timeout` and no `retryOptions`: @google/genai then neither times out nor retries; duh does both.
      };
      return new GoogleGenAI({ apiKey, vertexai: false, httpOptions });
    })().catch((error: unknown) => {
      building = undefined; // a missing key or SDK may be fixed before the next call
      throw error;
    });
    return building;
  };

  const provider = (modelId: string, modelSettings: GoogleModelSettings = {}): ModelAdapter => {
    if (typeof modelId !== 'string' || modelId.trim() === '') {
      throw new InvalidOptionError('modelId', modelId, `google(modelId) needs a Gemini model id such as \`gemini-2.5-flash\`, received ${JSON.stringify(modelId)}.`);
    }
    const info = catalogInfo(PROVIDER, modelId, { ...settings.models?.[modelId], ...modelSettings.info });
    const fields: CallFields = { provider: PROVIDER, model: modelId };
    const defaults: GenerateContentConfig = { ...settings.config, ...modelSettings.config };

    async function* stream(request: GenerateRequest, options: CallOptions = {}): AsyncGenerator<StreamPart> {
      const { signal } = options;
      signal?.throwIfAborted();
      const client = await getClient();
      signal?.throwIfAborted();

      // Our own controller, so leaving the loop early (break, an engine timeout) also closes the HTTP stream.
      const controller = new AbortController();
      const forwardAbort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', forwardAbort, { once: true });
      // Error responses keep their headers (Retry-After) here: ApiError carries only status and body.
      const failed: { headers?: Headers } = {};
      const capture = ownsClient
        ? async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
            const response = await baseFetch(input, init);
            if (!response.ok) failed.headers = response.headers;
            return response;
          }
        : undefined;

      let text = '';
      let phase: 'connect' | 'read' = 'connect';
      let finished = false;
      try {
        const params: GenerateContentParameters = {
          model: modelId,
          contents: toContents(request),
          config: toConfig(request, defaults, controller.signal, capture),
        };
        let chunks: AsyncGenerator<GenerateContentResponse>;
        try {
          chunks = await client.models.generateContentStream(params);
        } catch (error) {
          throw scrubKeys(toProviderError(fields, error, { signal, headers: failed.headers, phase, text }), keys());
        }
        phase = 'read';
        let finishReason: FinishReason | undefined;
        let usage: GenerateContentResponseUsageMetadata | undefined;
        let calls = 0;
        const metadata: Record<string, unknown> = {};
        try {
          for await (const chunk of chunks) {
            const candidate = chunk.candidates?.[0];
            for (const part of candidate?.content?.parts ?? []) {
              if (part.functionCall) {
                // Gemini sends each call whole in one part (args as an object); older models give it no id.
                const { id, name, args } = part.functionCall;
                const toolCall: ToolCall = {
                  id: id || `call_${calls}`,
                  name: name ?? '',
                  arguments: JSON.stringify(args ?? {}),
                  // Gemini 3 signs each step's first call; the signature must come back with it in the follow-up.
                  ...(typeof part.thoughtSignature === 'string' && part.thoughtSignature !== ''
                    ? { providerMetadata: { [PROVIDER]: { thoughtSignature: part.thoughtSignature } } }
                    : {}),
                };
                calls += 1;
                yield { type: 'tool-call', toolCall };
                continue;
              }
              // Thought summaries (`thought: true`) are the model's hidden reasoning, not its answer.
              if (typeof part.text === 'string' && part.text !== '' && part.thought !== true) {
                text += part.text;
                yield { type: 'text-delta', text: part.text };
              }
            }
            if (chunk.usageMetadata) usage = chunk.usageMetadata; // cumulative: the last one wins
            if (chunk.responseId) metadata['responseId'] ??= chunk.responseId;
            if (chunk.modelVersion) metadata['modelVersion'] ??= chunk.modelVersion;
            if (candidate?.finishReason) {
              finishReason = mapFinishReason(candidate.finishReason);
              metadata['rawFinishReason'] = candidate.finishReason;
            }
            const blockReason = chunk.promptFeedback?.blockReason;
            if (blockReason && !candidate) {
              // The prompt itself was blocked: no candidate, no text. A content-filter finish, not an error.
              finishReason = 'content-filter';
              metadata['blockReason'] = blockReason;
            }
          }
        } catch (error) {
          throw scrubKeys(toProviderError(fields, error, { signal, headers: failed.headers, phase, text }), keys());
        }
        finished = true;
        // No finish reason: the connection was cut. End without a finish part (duh reports a truncation).
        if (finishReason === undefined) return;
        // Gemini says STOP when it stops to call functions too.
        if (finishReason === 'stop' && calls > 0) finishReason = 'tool-calls';
        yield { type: 'finish', usage: mapUsage(usage), finishReason, providerMetadata: metadata };
      } finally {
        signal?.removeEventListener('abort', forwardAbort);
        if (!finished && !controller.signal.aborted) controller.abort();
      }
    }

    const adapter: ModelAdapter = {
      specificationVersion: 'v1',
      provider: PROVIDER,
      modelId,
      info,
      stream,
      async generate(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
        let text = '';
        const toolCalls: ToolCall[] = [];
        let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
        for await (const part of stream(request, options)) {
          if (part.type === 'text-delta') text += part.text;
          else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
          else finish = part;
        }
        if (!finish) throw new TruncatedStreamError(fields, text);
        return {
          text,
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
          usage: finish.usage,
          finishReason: finish.finishReason,
          ...(finish.providerMetadata ? { providerMetadata: finish.providerMetadata } : {}),
        };
      },
    };
    return withKeyCopies(adapter, settings, (keyed) => createGoogle(keyed)(modelId, modelSettings));
  };

  return Object.assign(provider, { models: () => Object.keys(CATALOG[PROVIDER] ?? {}) });
}

/**
 * The default Google provider: key from `GOOGLE_API_KEY` (or `GEMINI_API_KEY`), read on the first call.
 *
 * @example
 * ```ts
 * const model = google('gemini-3-pro-preview');
 * ```
 */
export const google: GoogleProvider = /*@__PURE__*/ createGoogle();

function resolveGoogleApiKey(apiKey: string | undefined): string {
  const key = apiKey ?? env(ENV_KEYS[0]) ?? env(ENV_KEYS[1]);
  if (!key) {
    throw new InvalidOptionError(
      'apiKey',
      undefined,
      'Google API key is missing. Pass it with the `apiKey` option or set the GOOGLE_API_KEY (or GEMINI_API_KEY) environment variable.',
    );
  }
  return key;
}

/**
 * The placeholder `thoughtSignature` Google documents for function calls it did not just produce. Gemini 3 rejects
 * (HTTP 400) a replayed step whose first `functionCall` part has no signature, so a step whose first call carries
 * no signature of its own (a call from another provider, or from a model that signs nothing) gets this one.
 */
const REPLAYED_CALL_SIGNATURE = 'skip_thought_signature_validator';

/** The signature Gemini gave a call, as the adapter stored it: `providerMetadata.google.thoughtSignature`. */
function thoughtSignatureOf(call: ToolCall): string | undefined {
  const google = call.providerMetadata?.[PROVIDER];
  if (typeof google !== 'object' || google === null) return undefined;
  const signature = (google as { thoughtSignature?: unknown }).thoughtSignature;
  return typeof signature === 'string' && signature !== '' ? signature : undefined;
}

/**
 * Conversation turns: system messages leave (they become `systemInstruction`), `assistant` becomes `model` (its
 * tool calls `functionCall` parts), a `tool` result becomes a `functionResponse` part of a `user` turn.
 */
function toContents(request: GenerateRequest): Content[] {
  const contents: Content[] = [];
  const push = (role: 'user' | 'model', parts: Part[]) => {
    const last = contents.at(-1);
    // Gemini wants alternating turns: fold consecutive messages of one role into one turn (parallel calls'
    // results so share one `user` turn, as Gemini expects).
    if (last?.role === role) last.parts = [...(last.parts ?? []), ...parts];
    else contents.push({ role, parts });
  };
  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
        break;
      case 'user':
        push('user', [{ text: message.content }]);
        break;
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        const parts: Part[] = message.content !== '' || calls.length === 0 ? [{ text: message.content }] : [];
        calls.forEach((call, index) => {
          // Each call takes back its own signature. Parallel calls: Gemini signs only the first of a step, so only
          // a first call without one gets the placeholder.
          const thoughtSignature = thoughtSignatureOf(call) ?? (index === 0 ? REPLAYED_CALL_SIGNATURE : undefined);
          parts.push({
            functionCall: { ...(call.id ? { id: call.id } : {}), name: call.name, args: argsObject(call.arguments) },
            ...(thoughtSignature !== undefined ? { thoughtSignature } : {}),
          });
        });
        push('model', parts);
        break;
      }
      case 'tool':
        push('user', [{ functionResponse: { ...(message.toolCallId ? { id: message.toolCallId } : {}), name: message.toolName, response: responseObject(message.content) } }]);
        break;
    }
  }
  return contents;
}

/** A call's JSON arguments as the object `functionCall.args` wants; `{}` when they are not a JSON object. */
function argsObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A tool's result as the object `functionResponse.response` wants: a JSON object as is, anything else as `{ result }`. */
function responseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { result: value };
  } catch {
    return { result: text };
  }
}

const CALLING_MODES = { auto: 'AUTO', none: 'NONE', required: 'ANY' } as const;

/** `tools` → one `functionDeclarations` tool; `toolChoice` → `toolConfig.functionCallingConfig` (only with tools). */
function toTools(request: GenerateRequest): { tools?: Tool[]; toolConfig?: { functionCallingConfig: FunctionCallingConfig } } {
  if (!request.tools?.length) return {};
  const tools: Tool[] = [
    {
      // `parametersJsonSchema` takes plain JSON Schema as is; `parameters` wants Google's OpenAPI-subset Schema.
      functionDeclarations: request.tools.map((tool) => ({ name: tool.name, description: tool.description, parametersJsonSchema: tool.parameters })),
    },
  ];
  const choice = request.toolChoice;
  if (choice === undefined) return { tools }; // Gemini's default is AUTO
  const functionCallingConfig: FunctionCallingConfig =
    typeof choice === 'string'
      ? { mode: CALLING_MODES[choice] as FunctionCallingConfigMode }
      : { mode: 'ANY' as FunctionCallingConfigMode, allowedFunctionNames: [choice.name] };
  return { tools, toolConfig: { functionCallingConfig } };
}

function toConfig(
  request: GenerateRequest,
  defaults: GenerateContentConfig,
  abortSignal: AbortSignal,
  fetch: HttpOptions['fetch'] | undefined,
): GenerateContentConfig {
  const system = request.messages.filter((message) => message.role === 'system').map((message) => message.content);
  const extra: GenerateContentConfig = { ...defaults, ...(request.providerOptions?.[PROVIDER] as GenerateContentConfig | undefined) };
  const httpOptions: HttpOptions | undefined =
    extra.httpOptions !== undefined || fetch !== undefined ? { ...extra.httpOptions, ...(fetch ? { fetch } : {}) } : undefined;
  const tooling = toTools(request);
  return {
    ...(system.length > 0 ? { systemInstruction: { parts: [{ text: system.join('\n\n') }] } } : {}),
    maxOutputTokens: request.maxOutputTokens,
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.stopSequences?.length ? { stopSequences: [...request.stopSequences] } : {}),
    ...(request.responseFormat === 'json' ? { responseMimeType: 'application/json' } : {}),
    // Long-decode continuation re-sends the request inside the SDK; duh owns retries, so it is off (turn it
    // back on with `config` or `providerOptions.google`: `automaticContinuation: true`).
    automaticContinuation: false,
    ...tooling,
    ...extra,
    // The request's function declarations join any tools of the config (`googleSearch`, ...) rather than yield to them.
    ...(tooling.tools && extra.tools ? { tools: [...tooling.tools, ...extra.tools] } : {}),
    ...(httpOptions ? { httpOptions } : {}),
    abortSignal,
  };
}

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  // The answer stopped at a long-decode checkpoint (only with automatic continuation off): incomplete.
  CONTINUATION: 'length',
  SAFETY: 'content-filter',
  RECITATION: 'content-filter',
  BLOCKLIST: 'content-filter',
  PROHIBITED_CONTENT: 'content-filter',
  SPII: 'content-filter',
  LANGUAGE: 'content-filter',
  MODEL_ARMOR: 'content-filter',
  IMAGE_SAFETY: 'content-filter',
  IMAGE_PROHIBITED_CONTENT: 'content-filter',
  IMAGE_RECITATION: 'content-filter',
  MALFORMED_FUNCTION_CALL: 'error',
  UNEXPECTED_TOOL_CALL: 'error',
  TOO_MANY_TOOL_CALLS: 'error',
  MISSING_THOUGHT_SIGNATURE: 'error',
  MALFORMED_RESPONSE: 'error',
};

/** Gemini's `finishReason` → duh's. `OTHER`, `FINISH_REASON_UNSPECIFIED` and unknown values are `error` (retried). */
function mapFinishReason(reason: string): FinishReason {
  return FINISH_REASONS[reason] ?? 'error';
}

/** Gemini's `usageMetadata` → duh's usage. Thoughts count as output (Google bills them so) and as reasoning. */
function mapUsage(metadata: GenerateContentResponseUsageMetadata | undefined): Usage {
  const count = (value: number | undefined) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  const usage: Usage = {
    inputTokens: count(metadata?.promptTokenCount) + count(metadata?.toolUsePromptTokenCount),
    outputTokens: count(metadata?.candidatesTokenCount) + count(metadata?.thoughtsTokenCount),
  };
  if (metadata?.cachedContentTokenCount !== undefined) usage.cacheReadTokens = count(metadata.cachedContentTokenCount);
  if (metadata?.thoughtsTokenCount !== undefined) usage.reasoningTokens = count(metadata.thoughtsTokenCount);
  return usage;
}

/** The `error` object of a Google API error body (`{"error":{"code","message","status","details"}}`). */
interface GoogleErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: { '@type'?: string; retryDelay?: string; reason?: string; violations?: { quotaId?: string }[] }[];
}

/** `ApiError` from any copy of `@google/genai`: a status and the error body as JSON in `message`. */
function isApiError(error: unknown): error is Error & { status: number } {
  return error instanceof Error && error.name === 'ApiError' && typeof (error as { status?: unknown }).status === 'number';
}

function parseErrorBody(message: string): GoogleErrorBody | undefined {
  // Response errors carry the body as JSON; stream error chunks prefix it with `got status: ...`.
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(message.slice(start)) as { error?: unknown };
    return typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as GoogleErrorBody) : undefined;
  } catch {
    return undefined;
  }
}

/** `google.rpc.RetryInfo.retryDelay` (a protobuf Duration as JSON: `"2s"`, `"34.4s"`) in milliseconds. */
function retryDelayMs(details: GoogleErrorBody['details']): number | undefined {
  for (const detail of details ?? []) {
    if (!detail['@type']?.endsWith('google.rpc.RetryInfo') || typeof detail.retryDelay !== 'string') continue;
    const match = /^(\d+(?:\.\d+)?)s$/.exec(detail.retryDelay.trim());
    if (match) return Math.ceil(Number(match[1]) * 1000);
  }
  return undefined;
}

const AUTH_REASONS = new Set(['API_KEY_INVALID', 'API_KEY_EXPIRED', 'API_KEY_SERVICE_BLOCKED', 'API_KEY_HTTP_REFERRER_BLOCKED', 'API_KEY_IP_ADDRESS_BLOCKED']);

function toProviderError(
  fields: CallFields,
  error: unknown,
  context: { signal: AbortSignal | undefined; headers: HeadersLike; phase: 'connect' | 'read'; text: string },
): unknown {
  // The caller's abort, or one of ours: rethrow untouched so the engine recognises its own signal.
  if (context.signal?.aborted || DuhError.isInstance(error) || isAbortError(error)) return error;
  if (isApiError(error)) {
    const status = error.status;
    const body = parseErrorBody(error.message);
    const message = (body?.message ?? error.message).trim();
    const detail = `${body?.status ? `${body.status}: ` : ''}${message.length > 500 ? `${message.slice(0, 500)}…` : message}`;
    if (status === 429) {
      // An HTTP Retry-After (or retry-after-ms) header wins; else the body's google.rpc.RetryInfo.retryDelay.
      const wait = retryAfterMs(context.headers) ?? retryDelayMs(body?.details);
      const daily = body?.details?.some((item) => item.violations?.some((violation) => /PerDay/i.test(violation.quotaId ?? '')));
      const hint = daily ? ' A daily quota is exhausted: retrying today will not help; see https://ai.google.dev/gemini-api/docs/rate-limits.' : '';
      return new ProviderRateLimitError({ ...fields, ...(wait !== undefined ? { retryAfterMs: wait } : {}) }, `Rate limited by the provider: ${detail}${hint}`, { cause: error });
    }
    // A bad key is HTTP 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID: an auth error, not a bad request.
    const badKey = body?.details?.some((item) => item.reason !== undefined && AUTH_REASONS.has(item.reason)) ?? false;
    const authByStatus = body?.status === 'UNAUTHENTICATED' || body?.status === 'PERMISSION_DENIED';
    if ((badKey || authByStatus) && status !== 401 && status !== 403) {
      return errorFromStatus(fields, status, `${detail} ${API_KEY_HINT}`, { headers: context.headers, cause: error, kind: 'auth' });
    }
    return errorFromStatus(fields, status, detail, { headers: context.headers, cause: error, apiKeyHint: API_KEY_HINT });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (context.phase === 'read' && (error instanceof TypeError || /Incomplete JSON segment/.test(message))) {
    // The connection broke (or stopped mid-event) after the answer started.
    return new TruncatedStreamError(fields, context.text, { cause: error });
  }
  if (error instanceof TypeError) return networkError(fields, error);
  if (error instanceof SyntaxError || /exception parsing stream chunk|Response body is empty/.test(message)) {
    return new ProviderError({ ...fields, kind: 'server', retryable: true }, `Malformed response from the Gemini API: ${message.slice(0, 300)}`, { cause: error });
  }
  return new ProviderError({ ...fields, kind: 'unknown', retryable: false }, `@google/genai failed: ${message.slice(0, 300)}`, { cause: error });
}

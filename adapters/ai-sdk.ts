/**
 * A bridge from the Vercel AI SDK: wrap any AI SDK language model (`LanguageModelV4`, and the V3/V2 models of
 * AI SDK 6 and 5) as a duh {@link ModelAdapter}, so every AI SDK provider can sit on a duh panel.
 *
 * The bridge calls the model's `doStream` / `doGenerate` directly and imports nothing from `ai` or
 * `@ai-sdk/provider` at run time (types only). The AI SDK provider still owns the HTTP call (its API key, base URL,
 * headers and `fetch` settings apply). The AI SDK's retries live in `generateText` / `streamText`, not in the model,
 * so a model called through duh makes one HTTP call per attempt and duh does the retrying.
 *
 * @example
 * ```ts
 * import { openai } from '@ai-sdk/openai';
 * import { Consensus } from 'duh';
 * import { fromAISDK } from 'duh/adapters/ai-sdk';
 *
 * const gpt = fromAISDK(openai('gpt-5-mini'), { info: { inputPricePerMTok: 0.25, outputPricePerMTok: 2 } });
 * const duh = new Consensus({ models: [gpt, ...others] });
 * ```
 *
 * @module
 */
import type {
  JSONSchema7,
  LanguageModelV2,
  LanguageModelV3,
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Message,
  LanguageModelV4Prompt,
  LanguageModelV4ToolChoice,
  LanguageModelV4ToolResultPart,
} from '@ai-sdk/provider';
import type { CallOptions, ChatMessage, FinishReason, GenerateRequest, GenerateResult, ModelAdapter, ModelCapability, ModelInfo, StreamPart, ToolCall, Usage } from '../src/adapter.js';
import { DuhError, InvalidOptionError, ProviderError, TruncatedStreamError } from '../src/errors.js';
import { catalogInfo, type ModelOverrides } from './_shared/catalog.js';
import { errorFromStatus, networkError, scrubKeys, type CallFields, type HeadersLike } from './_shared/errors.js';
import { checkApiKey } from './_shared/settings.js';

/** An AI SDK language model the bridge accepts: specification v4 (AI SDK 7), v3 (AI SDK 6) or v2 (AI SDK 5). */
export type AISDKLanguageModel = LanguageModelV4 | LanguageModelV3 | LanguageModelV2;

/** Options of {@link fromAISDK}. */
export interface FromAISDKOptions {
  /**
   * Provider name in duh's model refs (`provider:modelId`). Must not contain `:`.
   * @default the model's `provider` up to its first `.` (`'openai.chat'` → `'openai'`)
   */
  provider?: string;
  /**
   * Model id in duh's model refs.
   * @default the model's `modelId`
   */
  modelId?: string;
  /**
   * Catalog facts: prices, limits, proposer eligibility, display name. Pass the prices: without them the model
   * costs $0 in duh's cost accounting and cost limits (unless duh's catalog knows the provider and model id), and
   * proposer selection (highest output price) cannot rank it.
   */
  info?: ModelOverrides;
  /**
   * Makes the same model from a provider that uses another API key, for tenants that bring their own key
   * (`(apiKey) => createOpenAI({ apiKey })('gpt-5-mini')`). The AI SDK provider owns the key, so the bridge
   * cannot swap it: with this option the adapter has `withApiKey()`, without it it has none (and duh refuses
   * a tenant key for the model). The factory must return a model with the same `provider` and `modelId`.
   */
  withApiKey?: (apiKey: string) => AISDKLanguageModel;
}

const CAPABILITIES: readonly ModelCapability[] = ['text', 'streaming', 'json', 'tools', 'system-prompt'];
/** What the bridge assumes about a model duh's catalog does not know. */
const DEFAULT_INFO = { contextWindow: 128_000, maxOutputTokens: 16_384, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: CAPABILITIES };

/**
 * Wrap an AI SDK language model as a duh {@link ModelAdapter}.
 *
 * Requests map to the AI SDK call options: messages to the standard prompt (system messages as
 * `{ role: 'system', content }`, others as one text part; an assistant's tool calls as `tool-call` parts, tool
 * results as `tool` messages of `tool-result` parts), `tools` as function tools with `toolChoice`,
 * `maxOutputTokens`, `temperature`, `stopSequences`, `responseFormat: { type: 'json' }`, the abort signal, and
 * `providerOptions` passed through unchanged (both use the provider name as key). Stream `text-delta` parts become
 * text deltas and `tool-call` parts tool calls; the `finish` part becomes duh's finish (usage and finish reason, in
 * the V4/V3 object shapes or the V2 flat ones); `error` parts and thrown `APICallError`s become duh's provider
 * errors (status, `Retry-After`). The tool shapes are the same in V2, V3 and V4.
 *
 * @example
 * ```ts
 * const claude = fromAISDK(anthropic('claude-sonnet-4-5'), { provider: 'anthropic-aisdk', info: { inputPricePerMTok: 3, outputPricePerMTok: 15 } });
 * ```
 * @throws InvalidOptionError when `model` is not an AI SDK language model of specification v2, v3 or v4 (a model
 * id string, or a `LanguageModelV1` from AI SDK 4), or when the provider name is empty or contains `:`.
 */
export function fromAISDK(model: AISDKLanguageModel, options: FromAISDKOptions = {}): ModelAdapter {
  if (typeof model !== 'object' || model === null) {
    throw new InvalidOptionError(
      'model',
      model,
      `fromAISDK() needs an AI SDK language model object such as \`openai('gpt-5-mini')\`, received ${JSON.stringify(model)}. Model id strings (AI Gateway) are not supported: pass the model object.`,
    );
  }
  const version = (model as { specificationVersion?: unknown }).specificationVersion;
  if (version !== 'v4' && version !== 'v3' && version !== 'v2') {
    throw new InvalidOptionError(
      'model',
      version,
      `fromAISDK() supports AI SDK language models of specification v2, v3 and v4 (AI SDK 5 and later), received specificationVersion ${JSON.stringify(version)}. Upgrade the AI SDK provider package.`,
    );
  }
  const provider = options.provider ?? String(model.provider ?? '').split('.')[0] ?? '';
  if (!provider || provider.includes(':')) {
    throw new InvalidOptionError('provider', provider, `fromAISDK() needs a provider name without ":" for the model ref, received ${JSON.stringify(provider)}. Pass the \`provider\` option.`);
  }
  const modelId = options.modelId ?? model.modelId;
  if (typeof modelId !== 'string' || modelId === '') {
    throw new InvalidOptionError('modelId', modelId, 'fromAISDK() needs a model id for the model ref. Pass the `modelId` option.');
  }
  if (options.withApiKey !== undefined && typeof options.withApiKey !== 'function') {
    throw new InvalidOptionError('withApiKey', options.withApiKey, 'fromAISDK() takes `withApiKey` as a function from an API key to the same AI SDK model made with that key.');
  }
  return new AISDKModel(model, catalogInfo(provider, modelId, options.info, DEFAULT_INFO), options.withApiKey, []);
}

/**
 * The model `factory` makes with a tenant's key, checked to be an AI SDK model of the same provider and id as
 * `original`. Errors never show the key.
 */
function keyedModel(factory: (apiKey: string) => AISDKLanguageModel, apiKey: string, original: AISDKLanguageModel, ref: string): AISDKLanguageModel {
  const scrub = (text: string) => (apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text);
  let model: unknown;
  try {
    model = factory(apiKey);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new InvalidOptionError('withApiKey', undefined, `The \`withApiKey\` factory of fromAISDK() failed for \`${ref}\`: ${scrub(message)}`);
  }
  const { specificationVersion, provider, modelId } = (typeof model === 'object' && model !== null ? model : {}) as Partial<AISDKLanguageModel>;
  if (specificationVersion !== 'v4' && specificationVersion !== 'v3' && specificationVersion !== 'v2') {
    throw new InvalidOptionError('withApiKey', undefined, `The \`withApiKey\` factory of fromAISDK() for \`${ref}\` must return an AI SDK language model (specification v2, v3 or v4).`);
  }
  if (provider !== original.provider || modelId !== original.modelId) {
    throw new InvalidOptionError(
      'withApiKey',
      undefined,
      `The \`withApiKey\` factory of fromAISDK() for \`${ref}\` returned ${String(provider)} ${String(modelId)}, not the wrapped ${original.provider} ${original.modelId}: it must make the same model with another key.`,
    );
  }
  return model as AISDKLanguageModel;
}

/** The union of the V2–V4 stream parts, as far as the bridge reads them. */
type AnyStreamPart = { type: string; [field: string]: unknown };

class AISDKModel implements ModelAdapter {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly modelId: string;
  readonly info: ModelInfo;
  /** Present only when `fromAISDK()` got a `withApiKey` factory. */
  declare readonly withApiKey?: (apiKey: string) => ModelAdapter;
  readonly #model: AISDKLanguageModel;
  /** The tenant key of a `withApiKey()` copy, scrubbed from error messages. */
  readonly #keys: readonly string[];

  constructor(model: AISDKLanguageModel, info: ModelInfo, factory: ((apiKey: string) => AISDKLanguageModel) | undefined, keys: readonly string[]) {
    this.#model = model;
    this.info = info;
    this.provider = info.provider;
    this.modelId = info.modelId;
    this.#keys = keys;
    if (factory) {
      const ref = `${this.provider}:${this.modelId}`;
      // An own property, not a method: an adapter without a factory must have no `withApiKey` at all.
      this.withApiKey = (apiKey: string): ModelAdapter => {
        const key = checkApiKey(apiKey, ref);
        return new AISDKModel(keyedModel(factory, key, model, ref), info, factory, [key]);
      };
    }
  }

  get #fields(): CallFields {
    return { provider: this.provider, model: this.modelId };
  }

  async generate(request: GenerateRequest, options: CallOptions = {}): Promise<GenerateResult> {
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    let result: { content?: unknown; finishReason?: unknown; usage?: unknown; providerMetadata?: unknown };
    try {
      // The V2–V4 `doGenerate` signatures differ only in types; the options built here are valid for all three.
      result = await untilAborted(Promise.resolve(this.#model.doGenerate(this.#callOptions(request, signal) as never)), signal);
    } catch (error) {
      throw this.#error(error, signal);
    }
    const content = Array.isArray(result.content) ? (result.content as AnyStreamPart[]) : [];
    const text = content.flatMap((part) => (part.type === 'text' && typeof part['text'] === 'string' ? [part['text']] : [])).join('');
    const toolCalls = content.flatMap((part) => {
      const call = toolCallOf(part);
      return call ? [call] : [];
    });
    const finishReason = finishReasonOf(result.finishReason, toolCalls.length > 0);
    if (finishReason === undefined) throw new TruncatedStreamError(this.#fields, text);
    return { text, ...(toolCalls.length > 0 ? { toolCalls } : {}), usage: usageOf(result.usage), finishReason, ...metadata(result.providerMetadata) };
  }

  async *stream(request: GenerateRequest, options: CallOptions = {}): AsyncGenerator<StreamPart> {
    const { signal } = options;
    if (signal?.aborted) throw signal.reason;
    let stream: ReadableStream<AnyStreamPart>;
    try {
      const started = Promise.resolve(this.#model.doStream(this.#callOptions(request, signal) as never)) as Promise<{ stream: ReadableStream<AnyStreamPart> }>;
      // A stream that arrives after an abort is cancelled, so the provider's connection is not left open.
      ({ stream } = await untilAborted(started, signal, (late) => void late.stream.cancel().catch(() => {})));
    } catch (error) {
      throw this.#error(error, signal);
    }
    const reader = stream.getReader();
    // Stop reading when aborted, even if the model ignores its abort signal.
    const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
    let interrupted = false;
    let ended = false;
    /** Ids of the calls already yielded; tool inputs streamed in pieces, for a model that never sends their `tool-call`. */
    const called = new Set<string>();
    const inputs = new Map<string, { name: string; text: string; encoding: unknown; skip: boolean }>();
    try {
      for (;;) {
        let next: ReadableStreamReadResult<AnyStreamPart>;
        try {
          next = await reader.read();
        } catch (error) {
          throw this.#error(error, signal);
        }
        if (signal?.aborted) throw signal.reason;
        if (next.done) {
          ended = true;
          break;
        }
        const part = next.value;
        if (part.type === 'text-delta') {
          const text = typeof part['delta'] === 'string' ? part['delta'] : '';
          if (text) yield { type: 'text-delta', text };
        } else if (part.type === 'tool-call') {
          const toolCall = toolCallOf(part);
          if (toolCall && !called.has(toolCall.id)) {
            called.add(toolCall.id);
            yield { type: 'tool-call', toolCall };
          }
        } else if (part.type === 'tool-input-start' && typeof part['id'] === 'string') {
          const name = typeof part['toolName'] === 'string' ? part['toolName'] : '';
          inputs.set(part['id'], { name, text: '', encoding: part['inputEncoding'], skip: part['providerExecuted'] === true });
        } else if (part.type === 'tool-input-delta' && typeof part['id'] === 'string' && typeof part['delta'] === 'string') {
          const input = inputs.get(part['id']);
          if (input) input.text += part['delta'];
        } else if (part.type === 'error') {
          throw this.#error(part['error'], signal, true);
        } else if (part.type === 'finish') {
          const finishReason = finishReasonOf(part['finishReason']);
          if (finishReason === undefined) interrupted = true;
          else finish = { type: 'finish', usage: usageOf(part['usage']), finishReason, ...metadata(part['providerMetadata']) };
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Left early (the consumer stopped, an error part, an abort): cancel the model's stream so it stops too.
      if (ended) reader.releaseLock();
      else void reader.cancel().catch(() => {});
    }
    // No finish part, or a V4 `interrupted` finish: the provider's stream ended without its completion signal. End
    // without a finish part: the engine treats that as a retryable truncation.
    if (!finish || interrupted) return;
    // A model must send each call whole as a `tool-call` part; one that only streamed the input still gets its call.
    for (const [id, input] of inputs) {
      if (called.has(id) || input.skip || !input.name) continue;
      called.add(id);
      yield { type: 'tool-call', toolCall: { id, name: input.name, arguments: input.encoding === 'text' ? JSON.stringify(input.text) : input.text } };
    }
    if (called.size > 0 && finish.finishReason === 'stop') finish = { ...finish, finishReason: 'tool-calls' };
    yield finish;
  }

  #callOptions(request: GenerateRequest, signal: AbortSignal | undefined): LanguageModelV4CallOptions {
    return {
      prompt: promptOf(request.messages),
      ...(request.tools?.length
        ? {
            tools: request.tools.map((tool) => ({ type: 'function' as const, name: tool.name, description: tool.description, inputSchema: { ...tool.parameters } as JSONSchema7 })),
            toolChoice: toolChoiceOf(request.toolChoice ?? 'auto'),
          }
        : {}),
      maxOutputTokens: request.maxOutputTokens,
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.stopSequences?.length ? { stopSequences: [...request.stopSequences] } : {}),
      ...(request.responseFormat === 'json' ? { responseFormat: { type: 'json' as const } } : {}),
      ...(signal ? { abortSignal: signal } : {}),
      ...(request.providerOptions ? { providerOptions: request.providerOptions as LanguageModelV4CallOptions['providerOptions'] & {} } : {}),
    };
  }

  /** Map an AI SDK failure to the duh error family (a tenant key scrubbed from the message); aborts are rethrown untouched. */
  #error(error: unknown, signal: AbortSignal | undefined, inStream = false): unknown {
    if (signal?.aborted) return error;
    return scrubKeys(this.#mapError(error, signal, inStream), this.#keys);
  }

  #mapError(error: unknown, signal: AbortSignal | undefined, inStream: boolean): unknown {
    if (DuhError.isInstance(error)) return error;
    const fields = this.#fields;
    const message = error instanceof Error ? error.message : typeof error === 'string' ? error : safeJson(error);
    if (isAISDKError(error, 'AI_APICallError')) {
      const { statusCode, responseHeaders, isRetryable } = error as { statusCode?: unknown; responseHeaders?: HeadersLike; isRetryable?: unknown };
      if (typeof statusCode === 'number') {
        return errorFromStatus(fields, statusCode, message, { headers: responseHeaders, cause: error, apiKeyHint: 'Check the API key setting of the AI SDK provider.' });
      }
      return isRetryable === true ? networkError(fields, error) : new ProviderError({ ...fields, retryable: false }, message, { cause: error });
    }
    if (isGatewayError(error) && typeof (error as { statusCode?: unknown }).statusCode === 'number') {
      // The AI Gateway provider's own errors (authentication, rate limit, model not found, ...) carry the HTTP status.
      return errorFromStatus(fields, (error as { statusCode: number }).statusCode, message, { cause: error, apiKeyHint: 'Check the API key setting of the AI SDK provider.' });
    }
    if (isAISDKError(error, 'AI_LoadAPIKeyError')) {
      return new ProviderError({ ...fields, kind: 'auth', retryable: false }, message, { cause: error });
    }
    if (error instanceof TypeError) return networkError(fields, error);
    // An `error` part inside the stream is the provider reporting a failure mid-answer (e.g. "overloaded").
    if (inStream) return new ProviderError({ ...fields, kind: 'server', retryable: true }, `The provider reported an error mid-stream: ${message}`, { cause: error });
    return new ProviderError({ ...fields, retryable: false }, `The AI SDK model failed: ${message}`, { cause: error });
  }
}

/**
 * duh's conversation as the standard prompt. An assistant's calls become `tool-call` parts whose `input` is the parsed
 * arguments (the raw text when it is not valid JSON, as the AI SDK itself does); results become `tool-result` parts
 * with a text output, consecutive ones in one `tool` message.
 */
function promptOf(messages: readonly ChatMessage[]): LanguageModelV4Prompt {
  const prompt: LanguageModelV4Prompt = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        prompt.push({ role: 'system', content: message.content });
        break;
      case 'user':
        prompt.push({ role: 'user', content: [{ type: 'text', text: message.content }] });
        break;
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        const content: Extract<LanguageModelV4Message, { role: 'assistant' }>['content'] =
          message.content || calls.length === 0 ? [{ type: 'text', text: message.content }] : [];
        for (const call of calls) content.push({ type: 'tool-call', toolCallId: call.id, toolName: call.name, input: parseArguments(call.arguments) });
        prompt.push({ role: 'assistant', content });
        break;
      }
      case 'tool': {
        const part: LanguageModelV4ToolResultPart = { type: 'tool-result', toolCallId: message.toolCallId, toolName: message.toolName, output: { type: 'text', value: message.content } };
        const last = prompt.at(-1);
        if (last?.role === 'tool') last.content.push(part);
        else prompt.push({ role: 'tool', content: [part] });
        break;
      }
    }
  }
  return prompt;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toolChoiceOf(choice: NonNullable<GenerateRequest['toolChoice']>): LanguageModelV4ToolChoice {
  return typeof choice === 'object' ? { type: 'tool', toolName: choice.name } : { type: choice };
}

/**
 * A `tool-call` stream or content part as duh's call; `undefined` for other parts and for calls the provider runs
 * itself (`providerExecuted`: its result follows in the answer, there is nothing for duh to run).
 */
function toolCallOf(part: AnyStreamPart): ToolCall | undefined {
  if (part.type !== 'tool-call' || part['providerExecuted'] === true) return undefined;
  const { toolCallId, toolName, input } = part;
  if (typeof toolCallId !== 'string' || typeof toolName !== 'string') return undefined;
  // `input` is a JSON text in V2–V4; a provider that hands over an object gets it serialised.
  return { id: toolCallId, name: toolName, arguments: typeof input === 'string' ? input : safeJson(input ?? {}) };
}

/** AI SDK errors carry a `Symbol.for('vercel.ai.error.<name>')` marker (checked without importing `@ai-sdk/provider`). */
function isAISDKError(error: unknown, name: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return (error as Record<symbol, unknown>)[Symbol.for(`vercel.ai.error.${name}`)] === true || (error as { name?: unknown }).name === name;
}

/** An error of the AI Gateway provider (`createGateway` / `gateway` of `ai`), by its `Symbol.for('vercel.ai.gateway.error')` marker. */
function isGatewayError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[Symbol.for('vercel.ai.gateway.error')] === true;
}

/**
 * Resolve with `promise`, or reject with the abort reason as soon as `signal` aborts (a model may ignore it).
 * `discard` receives a value that arrives after the abort.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, discard?: (late: T) => void): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) discard?.(value);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

const REASONS: Readonly<Record<string, FinishReason>> = {
  stop: 'stop',
  length: 'length',
  'content-filter': 'content-filter',
  'tool-calls': 'tool-calls',
  error: 'error',
  other: 'stop',
  unknown: 'stop',
};

/**
 * V4/V3 `{ unified, raw }` or V2 string → duh's reason; `undefined` for V4's `interrupted` (a truncation). An answer
 * that made tool calls but reports a plain stop stopped to call them.
 */
function finishReasonOf(reason: unknown, calledTools = false): FinishReason | undefined {
  const unified = typeof reason === 'string' ? reason : typeof reason === 'object' && reason !== null ? (reason as { unified?: unknown }).unified : undefined;
  if (unified === 'interrupted') return undefined;
  const mapped = typeof unified === 'string' ? (REASONS[unified] ?? 'stop') : 'stop';
  return calledTools && mapped === 'stop' ? 'tool-calls' : mapped;
}

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined);
const member = (value: unknown, key: string): unknown => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined);

/** V4/V3 usage (`inputTokens: { total, noCache, cacheRead, cacheWrite }`, `outputTokens: { total, text, reasoning }`) or V2 flat usage. */
function usageOf(usage: unknown): Usage {
  const input = member(usage, 'inputTokens');
  const output = member(usage, 'outputTokens');
  const nested = typeof input === 'object' || typeof output === 'object';
  const result: Usage = {
    inputTokens: (nested ? count(member(input, 'total')) : count(input)) ?? 0,
    outputTokens: (nested ? count(member(output, 'total')) : count(output)) ?? 0,
  };
  const cacheRead = nested ? count(member(input, 'cacheRead')) : count(member(usage, 'cachedInputTokens'));
  const cacheWrite = nested ? count(member(input, 'cacheWrite')) : undefined;
  const reasoning = nested ? count(member(output, 'reasoning')) : count(member(usage, 'reasoningTokens'));
  if (cacheRead !== undefined) result.cacheReadTokens = cacheRead;
  if (cacheWrite !== undefined) result.cacheWriteTokens = cacheWrite;
  if (reasoning !== undefined) result.reasoningTokens = reasoning;
  return result;
}

function metadata(providerMetadata: unknown): { providerMetadata?: Readonly<Record<string, unknown>> } {
  return typeof providerMetadata === 'object' && providerMetadata !== null && Object.keys(providerMetadata).length > 0
    ? { providerMetadata: providerMetadata as Readonly<Record<string, unknown>> }
    : {};
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

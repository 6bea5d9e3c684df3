/**
 * The model adapter contract, version 1.
 *
 * A {@link ModelAdapter} is one model at one provider (`openai:gpt-5.2`). The engine knows nothing about
 * vendors: it calls `stream()` (or `generate()`) with provider-neutral messages and reads back text deltas,
 * usage and a normalised finish reason. Write your own by implementing this interface and check it with the
 * conformance suite in `duh/testing`; built-in adapters (`duh/adapters/*`) are planned.
 *
 * Treat changes to this file as breaking: it is the contract every adapter implements.
 *
 * @module
 */

/** A model reference: `provider:model`, split on the first colon (`openai-compatible:llama3:8b` is valid). */
export type ModelRef = `${string}:${string}`;

/** Why a model stopped, normalised across providers. */
export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'error';

/** Every {@link FinishReason}, for validation. */
export const FINISH_REASONS: readonly FinishReason[] = ['stop', 'length', 'tool-calls', 'content-filter', 'error'];

/** What a model can do. Informational; the engine only relies on text generation and streaming. */
export type ModelCapability = 'text' | 'streaming' | 'json' | 'tools' | 'vision' | 'system-prompt';

/** Catalog facts about a model, used for selection and cost accounting. */
export interface ModelInfo {
  /** Provider name, the part of the ref before the first colon (`openai`). */
  readonly provider: string;
  /** Model id at the provider (`gpt-5.2`). */
  readonly modelId: string;
  /** Human-readable name (`GPT-5.2`). */
  readonly displayName: string;
  /** Context window in tokens. */
  readonly contextWindow: number;
  /** Largest number of output tokens one call may request. duh clamps `maxOutputTokens` to this. */
  readonly maxOutputTokens: number;
  /** US dollars per million input tokens. 0 for local models. */
  readonly inputPricePerMTok: number;
  /** US dollars per million output tokens. The proposer is the eligible model with the highest value. */
  readonly outputPricePerMTok: number;
  /** May this model propose? (`false` for challenger-only models such as Perplexity's.) */
  readonly proposerEligible: boolean;
  /** What the model supports. */
  readonly capabilities: readonly ModelCapability[];
  /** True for models served locally (Ollama, LM Studio): free and private. */
  readonly local?: boolean;
}

/**
 * One message of a conversation, provider-neutral. An assistant message may carry the tool calls the model
 * made; each call's result comes back as a `tool` message naming the call's id.
 */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: readonly ToolCall[] }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string };

/** A tool the model may call: a name, what it does, and a JSON Schema object for its arguments. */
export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments object (`{ type: 'object', properties: {...}, required: [...] }`). */
  parameters: Readonly<Record<string, unknown>>;
}

/** A call the model asked for. */
export interface ToolCall {
  /** The provider's call id (synthesised by the adapter when the provider has none), echoed by the result. */
  id: string;
  name: string;
  /** The arguments as a JSON text, exactly as the model produced them (may be invalid JSON). */
  arguments: string;
  /**
   * Provider data that must travel back with the call in the follow-up turn (e.g. Gemini's thought signature).
   * Callers pass it back unchanged; adapters of other providers ignore it.
   */
  providerMetadata?: Readonly<Record<string, unknown>>;
}

/** A request to a model. */
export interface GenerateRequest {
  /** The conversation; system messages first. */
  messages: readonly ChatMessage[];
  /** Upper bound on output tokens (already clamped to the model's `maxOutputTokens`). */
  maxOutputTokens: number;
  /** Sampling temperature; adapters omit it for models that reject it. */
  temperature?: number;
  /** Ask for a JSON object as the reply, where the provider supports it. */
  responseFormat?: 'text' | 'json';
  /** Stop sequences. */
  stopSequences?: readonly string[];
  /** Provider-specific options, keyed by provider name, passed through untouched. */
  providerOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Tools the model may call; each adapter translates them to its provider's native shape. */
  tools?: readonly ToolDefinition[];
  /** Whether the model may, must or must not call a tool, or which one. @default 'auto' when `tools` is set */
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call. Adapters must pass it to their HTTP client and stop reading the stream. */
  signal?: AbortSignal;
}

/** Token usage of one call. */
export interface Usage {
  /** Every input token, cached ones included (`cacheReadTokens` / `cacheWriteTokens` break them down). */
  inputTokens: number;
  /** Every output token, hidden reasoning included. */
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache, when reported. */
  cacheReadTokens?: number;
  /** Input tokens written to the provider's prompt cache, when reported. */
  cacheWriteTokens?: number;
  /** Output tokens spent on hidden reasoning (already included in `outputTokens`), when reported. */
  reasoningTokens?: number;
}

/** The whole answer of a non-streaming call. */
export interface GenerateResult {
  text: string;
  /** Tool calls the model made (then `finishReason` is `tool-calls`). */
  toolCalls?: readonly ToolCall[];
  usage: Usage;
  finishReason: FinishReason;
  /** Provider-specific extras (citations, request id); never secrets. */
  providerMetadata?: Readonly<Record<string, unknown>>;
}

/**
 * A piece of a streamed answer: any number of text deltas and complete tool calls (each call once, with all its
 * arguments), then exactly one `finish`.
 */
export type StreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call'; toolCall: ToolCall }
  | { type: 'finish'; usage: Usage; finishReason: FinishReason; providerMetadata?: Readonly<Record<string, unknown>> };

/**
 * One model at one provider.
 *
 * Rules every adapter follows (the conformance suite checks them):
 * - `stream()` yields `text-delta` parts, then exactly one `finish` part carrying usage and the finish
 *   reason. A stream that ends without `finish` is a truncation: the engine treats it as a retryable failure.
 * - Failures are thrown as `ProviderError` (or a subclass) with `retryable` and, for 429s, `retryAfterMs`.
 * - The `signal` reaches the network: aborting stops the call promptly.
 * - Adapters hold no per-run state; the same adapter serves concurrent runs.
 *
 * @example
 * ```ts
 * const echo: ModelAdapter = {
 *   specificationVersion: 'v1', provider: 'echo', modelId: 'v1',
 *   info: { provider: 'echo', modelId: 'v1', displayName: 'Echo', contextWindow: 8192, maxOutputTokens: 1024,
 *           inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: ['text', 'streaming'] },
 *   async generate(request) { const text = request.messages.at(-1)?.content ?? ''; return { text, usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' }; },
 *   async *stream(request, options) { const result = await this.generate(request, options); yield { type: 'text-delta', text: result.text }; yield { type: 'finish', usage: result.usage, finishReason: 'stop' }; },
 * };
 * ```
 */
export interface ModelAdapter {
  /** The contract version this adapter implements. */
  readonly specificationVersion: 'v1';
  /** Provider name (`openai`). */
  readonly provider: string;
  /** Model id at the provider (`gpt-5.2`). */
  readonly modelId: string;
  /** Catalog facts used for selection and pricing. */
  readonly info: ModelInfo;
  /** One complete answer. */
  generate(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult>;
  /** A streamed answer: text deltas, then one `finish` part. */
  stream(request: GenerateRequest, options?: CallOptions): AsyncIterable<StreamPart>;
  /**
   * A copy of this adapter that authenticates with `apiKey` instead (same model, options, base URL, headers,
   * fetch and settings). Used for tenants that bring their own provider key. Optional: without it, duh refuses a
   * tenant key for this model with a clear error rather than silently using the shared key.
   *
   * The copy shares no client or state with this adapter, and never shows the key: not in `info`, its JSON, its
   * errors or logs. An empty or non-string key throws an `InvalidOptionError` naming `apiKey`.
   */
  withApiKey?(apiKey: string): ModelAdapter;
}

/** The `provider:model` reference of an adapter. */
export function modelRef(model: Pick<ModelAdapter, 'provider' | 'modelId'>): ModelRef {
  return `${model.provider}:${model.modelId}`;
}

/** Split a model reference on its first colon; `undefined` when it has none or either side is empty. */
export function parseModelRef(ref: string): { provider: string; modelId: string } | undefined {
  const colon = ref.indexOf(':');
  if (colon <= 0 || colon === ref.length - 1) return undefined;
  return { provider: ref.slice(0, colon), modelId: ref.slice(colon + 1) };
}

/** Cost in US dollars of one call's usage at a model's catalog prices (cache tokens are not priced). */
export function costOf(info: Pick<ModelInfo, 'inputPricePerMTok' | 'outputPricePerMTok'>, usage: Usage): number {
  return (usage.inputTokens / 1e6) * info.inputPricePerMTok + (usage.outputTokens / 1e6) * info.outputPricePerMTok;
}

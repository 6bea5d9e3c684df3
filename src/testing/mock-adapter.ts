/**
 * {@link MockAdapter}: a scripted model for tests and offline demos.
 *
 * @module
 */
import type {
  CallOptions,
  FinishReason,
  GenerateRequest,
  GenerateResult,
  ModelAdapter,
  ModelCapability,
  ModelInfo,
  ModelRef,
  StreamPart,
  ToolCall,
  Usage,
} from '../adapter.js';
import { parseModelRef } from '../adapter.js';
import { systemClock } from '../clock.js';
import { AbortedError, InvalidOptionError, ProviderError, ProviderRateLimitError, TruncatedStreamError } from '../errors.js';

/** One scripted reply. A string is shorthand for `{ text }`. */
export type MockReply =
  | string
  | {
      text: string;
      /** Defaults: input = prompt characters / 4, output = reply characters / 4 (rounded up). */
      usage?: Partial<Usage>;
      /** @default 'stop' */
      finishReason?: FinishReason;
      /** Overrides the adapter's latency for this reply. */
      latencyMs?: number;
      /** Tool calls to make after the text (the finish reason then defaults to `tool-calls`). */
      toolCalls?: readonly ToolCall[];
    }
  /** Throw this error (use `ProviderError` and friends to control retrying). */
  | { error: Error }
  /** Answer with HTTP 429 and an optional `Retry-After` (milliseconds). */
  | { rateLimit: { retryAfterMs?: number } }
  /** Fail like a server error (HTTP `status`, default 500): retryable. */
  | { serverError: { status?: number; message?: string } }
  /** Stream `text` partially and end without a finish part (a cut connection). */
  | { truncate: { text: string; afterChars?: number } }
  /** Never answer; only the abort signal (or a timeout) ends the call. */
  | { hang: true };

/** The context a reply function receives. */
export interface MockCallContext {
  /** 0-based index of this call on this adapter. */
  call: number;
  signal: AbortSignal | undefined;
  /** The last user message, for convenience. */
  prompt: string;
  /** The system message, if any. */
  system: string;
  /** The key of the {@link MockAdapter.withApiKey} copy that received the call; absent on the adapter itself. */
  apiKey?: string;
}

/** A reply, or a function that computes one from the request. */
export type MockResponder = MockReply | ((request: GenerateRequest, context: MockCallContext) => MockReply | Promise<MockReply>);

/** Options for {@link MockAdapter}. */
export interface MockAdapterOptions {
  /** The model's ref, `provider:model`. */
  ref: ModelRef;
  /** Catalog overrides. Defaults: 128k context, 16,384 max output, $1/$2 per million tokens, proposer-eligible. */
  info?: Partial<Omit<ModelInfo, 'provider' | 'modelId'>>;
  /** Replies used in order, one per call; after they run out, `reply` answers. */
  script?: readonly MockResponder[];
  /** The reply once `script` is exhausted (a constant, or a function of the request). @default an echo of the prompt's first line */
  reply?: MockResponder;
  /** Delay before the answer starts, in milliseconds (uses `setTimeout`, so fake timers work). @default 0 */
  latencyMs?: number;
  /** Characters per streamed delta. @default the whole text in one delta */
  chunkSize?: number;
  /** Delay between streamed deltas, in milliseconds. @default 0 */
  chunkDelayMs?: number;
}

/** One call the mock received. */
export interface MockCall {
  request: GenerateRequest;
  /** The signal passed by the caller; check `signal.aborted` to see whether a call was cancelled. */
  signal: AbortSignal | undefined;
  method: 'generate' | 'stream';
  /** The key of the {@link MockAdapter.withApiKey} copy that received the call; absent on the adapter itself. */
  apiKey?: string;
  /** Set when the call ended: how it ended. */
  outcome?: 'answered' | 'failed' | 'aborted';
}

/** Latency waits use real timers (so vitest fake timers work) and reject with AbortedError on abort. */
const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  ms > 0 ? systemClock.sleep(ms, signal) : signal?.aborted ? Promise.reject(new AbortedError(signal.reason)) : Promise.resolve();

const estimate = (chars: number) => Math.ceil(chars / 4);

/**
 * A scripted {@link ModelAdapter}: canned or computed replies, usage, latency, streaming in chunks, and
 * injected failures (errors, 429 with `Retry-After`, server errors, truncated streams, hangs). Every request is
 * recorded in {@link calls}.
 *
 * `withApiKey(key)` returns a copy for a tenant's own provider key that shares this adapter's script and
 * {@link calls}: each call records the `apiKey` it came with (and reply functions see it), so a test holding the
 * original sees which key every call used. Fake keys only: a mock's calls are there to be inspected.
 *
 * @example
 * ```ts
 * const model = new MockAdapter({
 *   ref: 'openai:gpt-5.2',
 *   info: { inputPricePerMTok: 1.75, outputPricePerMTok: 14 },
 *   script: [{ rateLimit: { retryAfterMs: 2000 } }, 'Use Postgres.'],
 *   reply: (request, { prompt }) => `You asked: ${prompt}`,
 * });
 * ```
 */
export class MockAdapter implements ModelAdapter {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly modelId: string;
  readonly info: ModelInfo;
  /** Every call received, in order (calls to `withApiKey()` copies included, with their `apiKey`). */
  readonly calls: MockCall[];
  readonly #options: MockAdapterOptions;
  readonly #apiKey: string | undefined;
  readonly #script: MockResponder[];
  readonly #reply: MockResponder;
  readonly #latencyMs: number;
  readonly #chunkSize: number | undefined;
  readonly #chunkDelayMs: number;

  /** What a `withApiKey()` copy takes over from its original, handed to the constructor it calls. */
  static #sharing: { calls: MockCall[]; script: MockResponder[]; apiKey: string } | undefined;

  constructor(options: MockAdapterOptions) {
    const shared = MockAdapter.#sharing;
    MockAdapter.#sharing = undefined;
    const parsed = parseModelRef(options.ref ?? '');
    if (!parsed) throw new InvalidOptionError('ref', options.ref, `MockAdapter needs \`ref\` as "provider:model", received ${JSON.stringify(options.ref)}.`);
    this.provider = parsed.provider;
    this.modelId = parsed.modelId;
    const capabilities: ModelCapability[] = ['text', 'streaming', 'json', 'system-prompt'];
    this.info = {
      displayName: options.ref,
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      inputPricePerMTok: 1,
      outputPricePerMTok: 2,
      proposerEligible: true,
      capabilities,
      ...options.info,
      provider: parsed.provider,
      modelId: parsed.modelId,
    };
    this.#options = options;
    this.calls = shared?.calls ?? [];
    this.#script = shared?.script ?? [...(options.script ?? [])];
    this.#apiKey = shared?.apiKey;
    this.#reply = options.reply ?? ((_request, { prompt }) => `Answer from ${options.ref}: ${prompt.split('\n')[0] ?? ''}`);
    this.#latencyMs = options.latencyMs ?? 0;
    this.#chunkSize = options.chunkSize;
    this.#chunkDelayMs = options.chunkDelayMs ?? 0;
  }

  /** The `provider:model` ref. */
  get ref(): ModelRef {
    return `${this.provider}:${this.modelId}`;
  }

  /** The key this adapter was made with by {@link withApiKey}; `undefined` for an adapter made with `new`. */
  get apiKey(): string | undefined {
    return this.#apiKey;
  }

  /**
   * A copy that uses `apiKey` (a tenant's own provider key): same ref, info and replies, the same script queue,
   * and the same {@link calls} list, where its calls carry `apiKey`.
   *
   * @throws InvalidOptionError naming `apiKey` when the key is not a non-empty string.
   */
  withApiKey(apiKey: string): MockAdapter {
    if (typeof apiKey !== 'string' || apiKey.trim() === '') {
      throw new InvalidOptionError('apiKey', typeof apiKey === 'string' ? apiKey : undefined, `withApiKey() of \`${this.ref}\` needs the tenant's API key as a non-empty string.`);
    }
    MockAdapter.#sharing = { calls: this.calls, script: this.#script, apiKey };
    try {
      return new MockAdapter(this.#options);
    } finally {
      MockAdapter.#sharing = undefined;
    }
  }

  /** The adapter as JSON: its ref and catalog facts, never its calls (which may hold keys) or its script. */
  toJSON(): { specificationVersion: 'v1'; provider: string; modelId: string; info: ModelInfo } {
    return { specificationVersion: this.specificationVersion, provider: this.provider, modelId: this.modelId, info: this.info };
  }

  /** Requests whose system prompt or last user message contains `text`. */
  callsMatching(text: string): MockCall[] {
    return this.calls.filter((call) => call.request.messages.some((message) => message.content.includes(text)));
  }

  async generate(request: GenerateRequest, options: CallOptions = {}): Promise<GenerateResult> {
    let text = '';
    const toolCalls: ToolCall[] = [];
    let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
    for await (const part of this.#run(request, options.signal, 'generate')) {
      if (part.type === 'text-delta') text += part.text;
      else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
      else finish = part;
    }
    if (!finish) throw new TruncatedStreamError({ provider: this.provider, model: this.modelId }, text);
    return { text, ...(toolCalls.length > 0 ? { toolCalls } : {}), usage: finish.usage, finishReason: finish.finishReason };
  }

  stream(request: GenerateRequest, options: CallOptions = {}): AsyncIterable<StreamPart> {
    return this.#run(request, options.signal, 'stream');
  }

  async *#run(request: GenerateRequest, signal: AbortSignal | undefined, method: MockCall['method']): AsyncGenerator<StreamPart> {
    const record: MockCall = { request, signal, method, ...(this.#apiKey !== undefined ? { apiKey: this.#apiKey } : {}) };
    const index = this.calls.push(record) - 1;
    try {
      const responder = this.#script.length > 0 ? this.#script.shift()! : this.#reply;
      const messages = request.messages;
      const context: MockCallContext = {
        call: index,
        signal,
        prompt: [...messages].reverse().find((message) => message.role === 'user')?.content ?? '',
        system: messages.find((message) => message.role === 'system')?.content ?? '',
        ...(this.#apiKey !== undefined ? { apiKey: this.#apiKey } : {}),
      };
      const reply = typeof responder === 'function' ? await responder(request, context) : responder;
      const fields = { provider: this.provider, model: this.modelId };
      const latency = typeof reply === 'object' && 'text' in reply && reply.latencyMs !== undefined ? reply.latencyMs : this.#latencyMs;
      await sleep(latency, signal);
      if (typeof reply === 'object') {
        if ('error' in reply) throw reply.error;
        if ('rateLimit' in reply) throw new ProviderRateLimitError({ ...fields, ...(reply.rateLimit.retryAfterMs !== undefined ? { retryAfterMs: reply.rateLimit.retryAfterMs } : {}) });
        if ('serverError' in reply) {
          const status = reply.serverError.status ?? 500;
          throw new ProviderError({ ...fields, status }, reply.serverError.message ?? `The provider answered HTTP ${status}.`);
        }
        if ('hang' in reply) {
          await new Promise<never>((_, reject) => {
            if (signal?.aborted) reject(new AbortedError(signal.reason));
            signal?.addEventListener('abort', () => reject(new AbortedError(signal.reason)), { once: true });
          });
        }
        if ('truncate' in reply) {
          yield* this.#chunks(reply.truncate.text.slice(0, reply.truncate.afterChars ?? reply.truncate.text.length), signal);
          record.outcome = 'failed';
          return;
        }
      }
      const answer = typeof reply === 'string' ? { text: reply } : (reply as Extract<MockReply, { text: string }>);
      yield* this.#chunks(answer.text, signal);
      for (const toolCall of answer.toolCalls ?? []) yield { type: 'tool-call', toolCall: { ...toolCall } };
      const promptChars = messages.reduce((sum, message) => sum + message.content.length, 0);
      const usage: Usage = {
        inputTokens: answer.usage?.inputTokens ?? estimate(promptChars),
        outputTokens: answer.usage?.outputTokens ?? estimate(answer.text.length),
        ...(answer.usage?.cacheReadTokens !== undefined ? { cacheReadTokens: answer.usage.cacheReadTokens } : {}),
      };
      record.outcome = 'answered';
      yield { type: 'finish', usage, finishReason: answer.finishReason ?? (answer.toolCalls?.length ? 'tool-calls' : 'stop') };
    } catch (error) {
      record.outcome = signal?.aborted ? 'aborted' : 'failed';
      throw error;
    }
  }

  async *#chunks(text: string, signal: AbortSignal | undefined): AsyncGenerator<StreamPart> {
    const size = this.#chunkSize && this.#chunkSize > 0 ? this.#chunkSize : Math.max(1, text.length);
    for (let start = 0; start < text.length; start += size) {
      if (start > 0) await sleep(this.#chunkDelayMs, signal);
      else if (signal?.aborted) throw new AbortedError(signal.reason);
      yield { type: 'text-delta', text: text.slice(start, start + size) };
    }
  }
}

/**
 * One member call, made robust: streaming with token deltas as events, a per-attempt timeout, retries with
 * exponential backoff and jitter that honour `Retry-After`, fallback models, cost accounting, and the run's
 * abort signal reaching the adapter (and cutting the wait even if an adapter ignores it).
 *
 * @module
 */
import { type ChatMessage, costOf, type GenerateRequest, type ModelAdapter, type ModelRef, modelRef, type StreamPart, type Usage } from '../adapter.js';
import {
  AbortedError,
  DuhError,
  LimiterUnavailableError,
  RateLimitedError,
  type MemberFailure,
  ProviderError,
  ProviderTimeoutError,
  serializeError,
  TruncatedStreamError,
} from '../errors.js';
import type { MemberRef } from '../events.js';
import type { RetryOptions } from '../options.js';
import type { ChallengeFraming, Contribution } from '../record.js';
import type { CircuitChange } from './circuit-breaker.js';
import type { RunContext } from './context.js';
import { type CallTicket, meterCall } from './admission.js';
import { utf8Length } from '../internal/text.js';

/** A member call to make. */
export interface MemberCall {
  slot: Omit<MemberRef, 'model'>;
  /** The configured model; fallbacks come from the run's `fallbacks` map unless `chain` is given. */
  model: ModelAdapter;
  /** Explicit model chain (first = primary). */
  chain?: readonly ModelAdapter[];
  /** Build the messages for a model given its (clamped) output budget. */
  messages: (maxOutputTokens: number) => ChatMessage[];
  maxOutputTokens: number;
  temperature: number;
  responseFormat?: 'text' | 'json';
  framing?: ChallengeFraming;
  /** Stream deltas as `member-delta` events. @default true */
  emitDeltas?: boolean;
  /** Runs right after `member-end`, before the cost events, so phase events follow their member in order. */
  onEnd?: (contribution: Contribution) => void;
}

/**
 * Delay before retry number `attempt` (0-based): the provider's `Retry-After` when given, else
 * `baseDelayMs × 2^attempt` times a jitter factor in [0.5, 1.5); either way never more than `maxDelayMs`.
 */
export function retryDelay(attempt: number, error: ProviderError, retry: Required<RetryOptions>, random: () => number): number {
  if (error.retryAfterMs !== undefined) return Math.min(Math.max(0, error.retryAfterMs), retry.maxDelayMs);
  const nominal = retry.baseDelayMs * 2 ** attempt;
  return Math.min(retry.jitter ? nominal * (0.5 + random()) : nominal, retry.maxDelayMs);
}

/** The model chain of a call: the primary, then its fallbacks. */
export function chainOf(context: RunContext, call: Pick<MemberCall, 'model' | 'chain'>): readonly ModelAdapter[] {
  if (call.chain) return call.chain;
  return [call.model, ...(context.fallbacks.get(modelRef(call.model)) ?? [])];
}

/** The clamped output budget of `model` for a call. */
export function outputBudget(model: ModelAdapter, requested: number): number {
  return Math.min(requested, model.info.maxOutputTokens);
}

/** Worst-case cost of a call on `model`, given an upper bound on its prompt tokens and its whole output budget. */
export function worstCaseUsd(model: ModelAdapter, promptTokens: number, outputTokens: number): number {
  return costOf(model.info, { inputTokens: promptTokens, outputTokens });
}

/**
 * Make the call; resolves to the contribution, or rejects once every retry and fallback failed. Each model of
 * the chain that finally failed is added to `failures` (the caller decides whether the run survives it).
 */
export async function callMember(
  context: RunContext,
  call: MemberCall,
  failures: MemberFailure[],
): Promise<Contribution> {
  const chain = chainOf(context, call);
  const { retry } = context.settings;
  let attempts = 0;
  for (let link = 0; link < chain.length; link++) {
    const model = chain[link]!;
    const ref = modelRef(model);
    const slot: MemberRef = { ...call.slot, model: ref };
    for (let retryIndex = 0; ; retryIndex++) {
      attempts++;
      if (context.signal.aborted) throw new AbortedError(context.signal.reason);
      const onCircuitChange = (change: CircuitChange) => context.events.emit({ type: 'circuit-state', ...change });
      // duh's own buckets first: the call may queue for them, and the circuit may open while it waits.
      let ticket: CallTicket | undefined;
      // The prompt is built once per attempt: metering estimates it, the attempt sends it.
      const budget = outputBudget(model, call.maxOutputTokens);
      const messages = call.messages(budget);
      if (context.meter) {
        try {
          ticket = await meterCall(context, model, estimateTokens(messages, budget), slot);
        } catch (caught) {
          if (!RateLimitedError.isInstance(caught) && !LimiterUnavailableError.isInstance(caught)) throw caught;
          // A duh limit, not the provider: no retry and no circuit change. A bucket of this model (or provider)
          // hands the call to the fallback, as a provider's 429 would; a user or tenant bucket fails the call.
          const serialized = serializeError(caught);
          failures.push({ model: ref, round: slot.round, phase: slot.phase, error: serialized });
          const next = RateLimitedError.isInstance(caught) && caught.key.startsWith('model:') ? chain[link + 1] : undefined;
          context.events.emit({ type: 'member-error', ...slot, error: serialized, attempt: attempts, willRetry: false, ...(next ? { fallbackTo: modelRef(next) } : {}), final: !next });
          if (next) break;
          throw caught;
        }
      }
      // An open circuit fails the call at once (no member-start: nothing is sent) so the fallback answers.
      const circuitOpen = context.breakers?.acquire(ref, context.clock.now(), onCircuitChange);
      try {
        if (circuitOpen) throw circuitOpen;
        context.events.emit({ type: 'member-start', ...slot, attempt: attempts, ...(call.framing ? { framing: call.framing } : {}) });
        const contribution = await attempt(context, call, model, messages, slot, attempts, link > 0 ? modelRef(chain[0]!) : undefined);
        context.breakers?.success(ref, onCircuitChange);
        void ticket?.settle(contribution.usage.inputTokens + contribution.usage.outputTokens);
        return contribution;
      } catch (caught) {
        void ticket?.settle(undefined);
        if (context.signal.aborted) {
          // A cancelled call says nothing about the provider, but it may have been the half-open probe.
          if (!circuitOpen) context.breakers?.release(ref);
          throw new AbortedError(context.signal.reason);
        }
        const error = toProviderError(caught, model);
        // A failure that opens the circuit ends this model's retries: the fallback answers instead.
        const opened = !circuitOpen && (context.breakers?.failure(ref, error, context.clock.now(), onCircuitChange) ?? false);
        const canRetry = error.retryable && retryIndex < retry.maxRetries && !opened;
        const next = canRetry ? undefined : chain[link + 1];
        const delay = canRetry ? retryDelay(retryIndex, error, retry, context.random) : undefined;
        const serialized = serializeError(error);
        context.events.emit({
          type: 'member-error',
          ...slot,
          error: serialized,
          attempt: attempts,
          willRetry: canRetry,
          ...(delay !== undefined ? { retryInMs: Math.round(delay) } : {}),
          ...(next ? { fallbackTo: modelRef(next) } : {}),
          final: !canRetry && !next,
        });
        context.logger.warn(
          { threadId: context.threadId, round: slot.round, phase: slot.phase, model: ref, attempt: attempts, code: serialized.code, willRetry: canRetry },
          `duh: ${ref} failed: ${serialized.message}`,
        );
        if (canRetry) {
          await context.clock.sleep(delay!, context.signal);
          continue;
        }
        failures.push({ model: ref, round: slot.round, phase: slot.phase, error: serialized });
        if (next) break;
        throw error;
      }
    }
  }
  // Unreachable: the loop either returns or throws on the last link.
  throw new AbortedError('empty model chain');
}

/** Tokens a call may use, for rate limits: its prompt at about 4 bytes a token, plus its whole output budget. */
function estimateTokens(messages: readonly ChatMessage[], outputBudgetTokens: number): number {
  let bytes = 0;
  for (const message of messages) bytes += utf8Length(message.content);
  return Math.ceil(bytes / 4) + outputBudgetTokens;
}

/** Normalise anything an adapter threw into a ProviderError (unknown errors are not retried). */
function toProviderError(error: unknown, model: ModelAdapter): ProviderError {
  if (ProviderError.isInstance(error)) return error;
  const fields = { provider: model.provider, model: model.modelId, retryable: false };
  if (DuhError.isInstance(error)) return new ProviderError(fields, error.message, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError(fields, `The adapter threw an unexpected error: ${message}`, { cause: error });
}

/** One attempt on one model, bounded by the timeout and the run's signal. */
async function attempt(
  context: RunContext,
  call: MemberCall,
  model: ModelAdapter,
  messages: ChatMessage[],
  slot: MemberRef,
  attempts: number,
  fallbackFor: ModelRef | undefined,
): Promise<Contribution> {
  const maxOutputTokens = outputBudget(model, call.maxOutputTokens);
  const request: GenerateRequest = {
    messages,
    maxOutputTokens,
    temperature: call.temperature,
    ...(call.responseFormat ? { responseFormat: call.responseFormat } : {}),
  };
  // One controller per attempt, aborted by the run's signal or by the timeout; the adapter gets its signal.
  const controller = new AbortController();
  const { signal } = controller;
  let timedOut = false;
  const onRunAbort = () => controller.abort(context.signal.reason);
  if (context.signal.aborted) onRunAbort();
  else context.signal.addEventListener('abort', onRunAbort, { once: true });
  const cancelTimer = context.clock.setTimer(context.settings.timeoutMs, () => {
    timedOut = true;
    controller.abort(new Error('timeout'));
  });
  // An abort rejects the read in flight, so an adapter that ignores its signal cannot hang us. One settle-once
  // wrapper per read (not a race against one long-lived promise, which would keep a reaction per chunk until the
  // attempt ends).
  let rejectRead: ((reason: unknown) => void) | undefined;
  const onAbort = () => rejectRead?.(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const read = (iterator: AsyncIterator<StreamPart>) =>
    new Promise<IteratorResult<StreamPart>>((resolve, reject) => {
      rejectRead = reject;
      Promise.resolve(iterator.next()).then(resolve, reject); // an adapter's next() may return a plain value
    });
  const deltas = call.emitDeltas !== false && context.events.listened;
  const started = context.clock.now();
  let text = '';
  let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
  try {
    if (signal.aborted) throw signal.reason;
    const iterator = model.stream(request, { signal })[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        const next = await read(iterator);
        if (next.done) break;
        const part = next.value;
        if (part.type === 'text-delta') {
          if (!part.text) continue;
          text += part.text;
          if (deltas) context.events.emit({ type: 'member-delta', ...slot, text: part.text });
        } else if (part.type === 'finish') {
          finish = part;
        }
      }
    } finally {
      if (signal.aborted) void Promise.resolve(iterator.return?.()).catch(() => {});
    }
  } catch (error) {
    if (timedOut && !context.signal.aborted) {
      throw new ProviderTimeoutError({ provider: model.provider, model: model.modelId, timeoutMs: context.settings.timeoutMs }, { cause: error });
    }
    throw error;
  } finally {
    cancelTimer();
    context.signal.removeEventListener('abort', onRunAbort);
    signal.removeEventListener('abort', onAbort);
  }
  if (!finish) throw new TruncatedStreamError({ provider: model.provider, model: model.modelId }, text);
  if (finish.finishReason === 'error') {
    throw new ProviderError({ provider: model.provider, model: model.modelId, retryable: true }, 'The provider ended the answer with an error.');
  }
  const usage: Usage = { ...finish.usage };
  const costUsd = costOf(model.info, usage);
  const contribution: Contribution = {
    role: slot.role,
    model: slot.model,
    text,
    usage,
    costUsd,
    latencyMs: context.clock.now() - started,
    finishReason: finish.finishReason,
    truncated: finish.finishReason === 'length',
    attempts,
    ...(fallbackFor ? { fallbackFor } : {}),
    ...(finish.providerMetadata ? { providerMetadata: finish.providerMetadata } : {}),
  };
  const crossedWarning = context.ledger.record(slot.round, slot.model, costUsd);
  context.events.emit({
    type: 'member-end',
    ...slot,
    text,
    usage,
    costUsd,
    latencyMs: contribution.latencyMs,
    finishReason: contribution.finishReason,
    truncated: contribution.truncated,
    attempts,
    ...(fallbackFor ? { fallbackFor } : {}),
    ...(finish.providerMetadata ? { providerMetadata: finish.providerMetadata } : {}),
  });
  call.onEnd?.(contribution);
  context.events.emit({
    type: 'cost',
    round: slot.round,
    model: slot.model,
    deltaUsd: costUsd,
    totalUsd: context.ledger.spentUsd,
    limitUsd: context.ledger.limitUsd ?? null,
  });
  if (crossedWarning) {
    const message = `This run has spent $${context.ledger.spentUsd.toFixed(4)}, past the $${context.ledger.warnUsd.toFixed(2)} warning threshold.`;
    context.events.emit({
      type: 'cost-warning',
      totalUsd: context.ledger.spentUsd,
      warnUsd: context.ledger.warnUsd,
      limitUsd: context.ledger.limitUsd ?? null,
      message,
    });
    context.logger.warn({ threadId: context.threadId, totalUsd: context.ledger.spentUsd, warnUsd: context.ledger.warnUsd }, `duh: ${message}`);
  }
  return contribution;
}

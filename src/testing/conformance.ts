/**
 * Conformance suites for plug-ins: run them against your own model adapter or storage driver to check it keeps
 * the contract. They are runner-agnostic: each suite is a list of named async cases that throw on failure, so
 * they plug into vitest, jest, node:test or mocha alike.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { modelAdapterConformance } from 'duh/testing';
 * describe('my adapter', () => {
 *   for (const check of modelAdapterConformance({ create: () => myAdapter('model-x') })) it(check.name, check.run);
 * });
 * ```
 *
 * @module
 */
import { FINISH_REASONS, type ModelAdapter, type StreamPart } from '../adapter.js';
import { ProviderError, StorageError } from '../errors.js';
import { validateAdapter } from '../options.js';
import type { StorageDriver, StoredTurn } from '../storage.js';

/** One named check. `run` resolves when the plug-in conforms and throws an `Error` saying what is wrong when not. */
export interface ConformanceCase {
  name: string;
  run: () => Promise<void>;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Conformance: ${message}`);
}

const json = (value: unknown) => JSON.stringify(value);

/**
 * Failure scenarios an adapter test can stage on its backend (msw handlers, a local server). Each function
 * arranges the backend so that the **next** request gets that answer; the suite then checks the mapping.
 */
export interface AdapterScenarios {
  /** HTTP 429 with `Retry-After: 2` (seconds) → a retryable `rate-limit` error with `retryAfterMs` 2000. */
  rateLimit?: () => void | Promise<void>;
  /** HTTP 500 → a retryable `server` error. */
  serverError?: () => void | Promise<void>;
  /** The provider's "overloaded" answer (503, or Anthropic's 529) → a retryable `overloaded` error. */
  overloaded?: () => void | Promise<void>;
  /** HTTP 401 → a non-retryable `auth` error. */
  unauthorized?: () => void | Promise<void>;
  /** A stream cut after some text, without the provider's final event → never a success. */
  cutStream?: () => void | Promise<void>;
  /** An answer stopped by the token limit → finish reason `length`. */
  length?: () => void | Promise<void>;
  /** An answer blocked by the provider's safety filter → finish reason `content-filter` (or a `content-filter` error). */
  contentFilter?: () => void | Promise<void>;
  /**
   * The model calls the tool {@link CONFORMANCE_TOOL} (`get_weather`) with arguments `{"city":"Paris"}` →
   * one `tool-call` part (and `toolCalls` from `generate()`), finish reason `tool-calls`. The backend is also
   * sent a follow-up conversation that carries the call and its result, which it must accept.
   */
  toolCall?: () => void | Promise<void>;
}

/** The tool the `toolCall` scenario offers. */
export const CONFORMANCE_TOOL = {
  name: 'get_weather',
  description: 'The current weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
} as const;

/** Options for {@link modelAdapterConformance}. */
export interface ModelAdapterConformanceOptions {
  /** Backend failure scenarios to check the error mapping with; each one present adds cases. */
  scenarios?: AdapterScenarios;
  /** A fresh adapter per case, answering any short prompt normally. */
  create: () => ModelAdapter | Promise<ModelAdapter>;
  /** The prompt to send. @default 'Reply with the single word: ok' */
  prompt?: string;
  /** How long an aborted call may take to settle, in milliseconds. @default 2000 */
  abortWithinMs?: number;
}

/** Checks every model adapter must pass (contract v1). Failure paths (429, truncation) need a scripted backend: see the adapter tests. */
export function modelAdapterConformance(options: ModelAdapterConformanceOptions): ConformanceCase[] {
  const prompt = options.prompt ?? 'Reply with the single word: ok';
  const request = { messages: [{ role: 'system' as const, content: 'You are terse.' }, { role: 'user' as const, content: prompt }], maxOutputTokens: 64, temperature: 0 };
  const abortWithinMs = options.abortWithinMs ?? 2000;
  const settleWithin = async (promise: Promise<unknown>, what: string) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      promise.then(() => 'resolved' as const, () => 'rejected' as const),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), abortWithinMs))),
    ]);
    clearTimeout(timer);
    check(outcome === 'rejected', `${what} must reject after abort, but it ${outcome === 'hung' ? `did not settle within ${abortWithinMs} ms` : 'resolved'}`);
  };
  const drain = async (adapter: ModelAdapter, signal?: AbortSignal) => {
    const parts: StreamPart[] = [];
    for await (const part of adapter.stream(request, signal ? { signal } : {})) parts.push(part);
    return parts;
  };
  const failure = async (run: () => Promise<unknown>, what: string): Promise<ProviderError> => {
    const error = await run().then(() => undefined, (caught: unknown) => caught);
    check(error !== undefined, `${what} must reject`);
    check(ProviderError.isInstance(error), `${what} must reject with a ProviderError (or subclass), got ${String(error)}`);
    return error;
  };
  const scenarios = options.scenarios ?? {};
  const scenarioCases: ConformanceCase[] = [];
  const expectError = (name: keyof AdapterScenarios, description: string, verify: (error: ProviderError) => void) => {
    const arrange = scenarios[name];
    if (!arrange) return;
    scenarioCases.push({
      name: `${description} (generate and stream)`,
      run: async () => {
        for (const method of ['generate', 'stream'] as const) {
          await arrange();
          const adapter = await options.create();
          const error = await failure(() => (method === 'generate' ? adapter.generate(request) : drain(adapter)), `${method}() after ${name}`);
          verify(error);
        }
      },
    });
  };
  expectError('rateLimit', 'maps HTTP 429 to a retryable rate-limit error carrying Retry-After', (error) => {
    check(error.kind === 'rate-limit' && error.retryable, `expected kind rate-limit and retryable, got ${error.kind}/${error.retryable}`);
    check(error.retryAfterMs === 2000, `expected retryAfterMs 2000 from Retry-After: 2, got ${String(error.retryAfterMs)}`);
  });
  expectError('serverError', 'maps HTTP 500 to a retryable server error', (error) => {
    check(error.retryable && error.kind === 'server', `expected a retryable server error, got ${error.kind}/${error.retryable}`);
  });
  expectError('overloaded', 'maps "overloaded" to a retryable overloaded error', (error) => {
    check(error.retryable && error.kind === 'overloaded', `expected a retryable overloaded error, got ${error.kind}/${error.retryable}`);
  });
  expectError('unauthorized', 'maps HTTP 401 to a non-retryable auth error', (error) => {
    check(!error.retryable && error.kind === 'auth', `expected a non-retryable auth error, got ${error.kind}/${error.retryable}`);
  });
  if (scenarios.cutStream) {
    const arrange = scenarios.cutStream;
    scenarioCases.push({
      name: 'never reports a cut stream as a success',
      run: async () => {
        await arrange();
        const streamed = await drain(await options.create()).then(
          (parts) => ({ parts }),
          (error: unknown) => ({ error }),
        );
        if ('parts' in streamed) {
          check(!streamed.parts.some((part) => part.type === 'finish'), 'a cut stream must not yield a finish part');
        } else {
          check(ProviderError.isInstance(streamed.error) && streamed.error.retryable, `a cut stream must end without finish or throw a retryable ProviderError, got ${String(streamed.error)}`);
        }
        await arrange();
        const adapter = await options.create();
        const error = await failure(() => adapter.generate(request), 'generate() on a cut stream');
        check(error.retryable, 'a cut stream is worth retrying');
      },
    });
  }
  const expectFinish = (name: 'length' | 'contentFilter', reason: 'length' | 'content-filter') => {
    const arrange = scenarios[name];
    if (!arrange) return;
    scenarioCases.push({
      name: `reports finish reason "${reason}" (generate and stream)`,
      run: async () => {
        await arrange();
        const adapter = await options.create();
        const outcome = await adapter.generate(request).then((result) => result.finishReason, (error: unknown) => error);
        if (reason === 'content-filter' && ProviderError.isInstance(outcome)) {
          check(outcome.kind === 'content-filter', `a blocked answer must be finish reason content-filter or a content-filter error, got ${outcome.kind}`);
        } else {
          check(outcome === reason, `generate() must report ${reason}, got ${String(outcome)}`);
        }
        await arrange();
        const parts = await drain(await options.create()).catch((error: unknown) => error);
        if (Array.isArray(parts)) {
          const finish = parts.find((part) => part.type === 'finish');
          check(finish?.type === 'finish' && finish.finishReason === reason, `stream() must finish with ${reason}, got ${json(finish)}`);
        } else {
          check(reason === 'content-filter' && ProviderError.isInstance(parts) && parts.kind === 'content-filter', `stream() failed: ${String(parts)}`);
        }
      },
    });
  };
  expectFinish('length', 'length');
  expectFinish('contentFilter', 'content-filter');
  if (scenarios.toolCall) {
    const arrange = scenarios.toolCall;
    const withTools = { ...request, tools: [CONFORMANCE_TOOL], toolChoice: 'auto' as const };
    const isParis = (call: { name: string; arguments: string } | undefined) => {
      if (!call || call.name !== 'get_weather') return false;
      try {
        return (JSON.parse(call.arguments) as { city?: unknown }).city === 'Paris';
      } catch {
        return false;
      }
    };
    scenarioCases.push({
      name: 'passes tools through and reports the model\'s tool calls (generate and stream)',
      run: async () => {
        await arrange();
        const parts: StreamPart[] = [];
        for await (const part of (await options.create()).stream(withTools)) parts.push(part);
        const calls = parts.flatMap((part) => (part.type === 'tool-call' ? [part.toolCall] : []));
        check(calls.length === 1 && isParis(calls[0]), `stream() must yield one get_weather({"city":"Paris"}) tool-call part, got ${json(calls)}`);
        check(typeof calls[0]!.id === 'string' && calls[0]!.id.length > 0, 'a tool call needs a non-empty id');
        const finish = parts.at(-1);
        check(finish?.type === 'finish' && finish.finishReason === 'tool-calls', `stream() must finish with tool-calls, got ${json(finish)}`);
        await arrange();
        const result = await (await options.create()).generate(withTools);
        check(result.toolCalls?.length === 1 && isParis(result.toolCalls[0]), `generate() must return the tool call, got ${json(result.toolCalls)}`);
        check(result.finishReason === 'tool-calls', `generate() must report tool-calls, got ${result.finishReason}`);
        // The follow-up turn: the assistant's call and the tool's result go back to the model.
        const call = result.toolCalls[0]!;
        const followUp = await (await options.create()).generate({
          ...withTools,
          messages: [
            ...request.messages,
            { role: 'assistant', content: '', toolCalls: [call] },
            { role: 'tool', toolCallId: call.id, toolName: call.name, content: '{"temperature_c":18}' },
          ],
        });
        check(typeof followUp.text === 'string', 'the follow-up turn with a tool result must be accepted');
      },
    });
  }

  return [
    ...scenarioCases,
    {
      name: 'declares specificationVersion "v1", provider, modelId and valid catalog info',
      run: async () => {
        const adapter = await options.create();
        validateAdapter('adapter', adapter);
        check(adapter.info.provider === adapter.provider, `info.provider (${json(adapter.info.provider)}) must equal provider (${json(adapter.provider)})`);
        check(adapter.info.modelId === adapter.modelId, `info.modelId (${json(adapter.info.modelId)}) must equal modelId (${json(adapter.modelId)})`);
        check(typeof adapter.info.proposerEligible === 'boolean', 'info.proposerEligible must be a boolean');
        check(Array.isArray(adapter.info.capabilities), 'info.capabilities must be an array');
      },
    },
    {
      name: 'stream() yields text deltas, then exactly one finish part with usage and a known finish reason',
      run: async () => {
        const parts = await drain(await options.create());
        const finishes = parts.filter((part) => part.type === 'finish');
        check(finishes.length === 1, `expected exactly one finish part, got ${finishes.length}`);
        check(parts.at(-1)?.type === 'finish', 'the finish part must come last');
        const finish = finishes[0]!;
        check(FINISH_REASONS.includes(finish.finishReason), `unknown finish reason ${json(finish.finishReason)}`);
        for (const field of ['inputTokens', 'outputTokens'] as const) {
          check(Number.isInteger(finish.usage[field]) && finish.usage[field] >= 0, `usage.${field} must be a non-negative integer, got ${json(finish.usage[field])}`);
        }
        const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
        check(text.length > 0, 'the answer text must not be empty');
        for (const part of parts) check(part.type === 'text-delta' || part.type === 'finish', `unknown part type ${json((part as { type: unknown }).type)}`);
      },
    },
    {
      name: 'generate() returns text, usage and a known finish reason',
      run: async () => {
        const result = await (await options.create()).generate(request);
        check(typeof result.text === 'string' && result.text.length > 0, 'generate() must return non-empty text');
        check(FINISH_REASONS.includes(result.finishReason), `unknown finish reason ${json(result.finishReason)}`);
        check(Number.isInteger(result.usage.inputTokens) && Number.isInteger(result.usage.outputTokens), 'usage must have integer token counts');
      },
    },
    {
      name: 'rejects at once when the signal is already aborted',
      run: async () => {
        const adapter = await options.create();
        await settleWithin(drain(adapter, AbortSignal.abort()), 'stream() with an aborted signal');
        await settleWithin(adapter.generate(request, { signal: AbortSignal.abort() }), 'generate() with an aborted signal');
      },
    },
    {
      name: 'stops promptly when aborted mid-call',
      run: async () => {
        const adapter = await options.create();
        const controller = new AbortController();
        const running = drain(adapter, controller.signal);
        setTimeout(() => controller.abort(), 0);
        // A fast adapter may legitimately finish before the abort lands; a slow one must reject promptly.
        const outcome = await Promise.race([
          running.then(() => 'finished' as const, () => 'rejected' as const),
          new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), abortWithinMs).unref?.()),
        ]);
        check(outcome !== 'hung', `stream() did not settle within ${abortWithinMs} ms of an abort`);
      },
    },
  ];
}

/** Options for {@link storageDriverConformance}. */
export interface StorageDriverConformanceOptions {
  /** A fresh, empty driver per case. */
  create: () => StorageDriver | Promise<StorageDriver>;
}

/** Checks every storage driver must pass (contract v1). */
export function storageDriverConformance(options: StorageDriverConformanceOptions): ConformanceCase[] {
  let counter = 0;
  const id = () => `${String(++counter).padStart(8, '0')}-c3d4-7e5f-8a9b-0190a1b2c3d4`;
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
  const turn = (round: number, decision = `decision ${round}`): StoredTurn => ({
    roundNumber: round,
    state: 'COMMIT',
    contributions: [
      { model: 'a:x', role: 'proposer', content: 'p', inputTokens: 10, outputTokens: 20, costUsd: 0.001, latencyMs: 5, finishReason: 'stop', truncated: false },
      { model: 'b:y', role: 'challenger', content: 'c', inputTokens: 11, outputTokens: 21, costUsd: 0.002, latencyMs: 6, finishReason: 'length', truncated: true, framing: 'flaw', sycophantic: false },
    ],
    decision: { content: decision, confidence: 0.7, rigor: 1, dissent: '[b:y]: c', taxonomy: { intent: 'technical', category: 'db', genus: '' } },
    createdAt: at(round),
    completedAt: at(round),
  });
  const rejectsWithStorageError = async (promise: Promise<unknown>, what: string) => {
    const error = await promise.then(() => undefined, (caught: unknown) => caught);
    check(error !== undefined, `${what} must reject`);
    check(StorageError.isInstance(error), `${what} must reject with a StorageError, got ${String(error)}`);
  };
  return [
    {
      name: 'creates a thread and reads it back as active with no turns',
      run: async () => {
        const driver = await options.create();
        check(driver.specificationVersion === 'v1', 'specificationVersion must be "v1"');
        const thread = { id: id(), question: 'Q?', protocol: 'consensus' as const, createdAt: at(0) };
        await driver.createThread(thread);
        const read = await driver.getThread(thread.id);
        check(read !== null, 'getThread must find a created thread');
        check(read.status === 'active' && read.turns.length === 0 && read.error === null, `unexpected new thread ${json(read)}`);
        check(read.question === 'Q?' && read.createdAt === thread.createdAt && read.protocol === 'consensus', 'fields must round-trip');
        check((await driver.getThread(id())) === null, 'getThread must return null for an unknown id');
      },
    },
    {
      name: 'appends turns with every contribution and decision field intact, once per round',
      run: async () => {
        const driver = await options.create();
        const threadId = id();
        await driver.createThread({ id: threadId, question: 'Q?', protocol: 'consensus', createdAt: at(0) });
        await driver.appendTurn(threadId, turn(1));
        await driver.appendTurn(threadId, turn(2));
        const read = await driver.getThread(threadId);
        check(read?.turns.length === 2, 'both turns must be stored');
        check(json(read.turns[0]) === json(turn(1)), `turn 1 must round-trip exactly: ${json(read.turns[0])}`);
        await rejectsWithStorageError(driver.appendTurn(threadId, turn(2, 'again')), 'appending round 2 twice');
        const after = await driver.getThread(threadId);
        check(after?.turns.length === 2 && after.turns[1]!.decision?.content === 'decision 2', 'a rejected append must leave the thread unchanged');
        await rejectsWithStorageError(driver.appendTurn(id(), turn(1)), 'appending to an unknown thread');
      },
    },
    {
      name: 'rejects a duplicate thread id and keeps the original',
      run: async () => {
        const driver = await options.create();
        const threadId = id();
        await driver.createThread({ id: threadId, question: 'first', protocol: 'consensus', createdAt: at(0) });
        await rejectsWithStorageError(driver.createThread({ id: threadId, question: 'second', protocol: 'consensus', createdAt: at(1) }), 'creating a duplicate id');
        check((await driver.getThread(threadId))?.question === 'first', 'the original thread must survive');
      },
    },
    {
      name: 'finishes threads as complete or failed with the error kept',
      run: async () => {
        const driver = await options.create();
        const ok = id();
        const bad = id();
        await driver.createThread({ id: ok, question: 'ok', protocol: 'consensus', createdAt: at(0) });
        await driver.createThread({ id: bad, question: 'bad', protocol: 'consensus', createdAt: at(1) });
        await driver.finishThread(ok, { status: 'complete', at: at(5) });
        await driver.finishThread(bad, { status: 'failed', error: 'boom', at: at(6) });
        const [okRead, badRead] = [await driver.getThread(ok), await driver.getThread(bad)];
        check(okRead?.status === 'complete' && okRead.error === null && okRead.updatedAt === at(5), `unexpected ${json(okRead)}`);
        check(badRead?.status === 'failed' && badRead.error === 'boom', `unexpected ${json(badRead)}`);
        await rejectsWithStorageError(driver.finishThread(id(), { status: 'complete', at: at(7) }), 'finishing an unknown thread');
      },
    },
    {
      name: 'lists threads newest first with status and id-prefix filters, paging and a total',
      run: async () => {
        const driver = await options.create();
        const ids = [id(), id(), id()];
        for (const [index, threadId] of ids.entries()) {
          await driver.createThread({ id: threadId, question: `q${index}`, protocol: 'consensus', createdAt: at(index) });
        }
        await driver.finishThread(ids[0]!, { status: 'complete', at: at(9) });
        const all = await driver.listThreads({ limit: 10, offset: 0 });
        check(json(all.threads.map((thread) => thread.id)) === json([...ids].reverse()), `newest first expected, got ${json(all.threads.map((thread) => thread.id))}`);
        check(all.total === 3, `total must count every match, got ${all.total}`);
        const page = await driver.listThreads({ limit: 1, offset: 1 });
        check(page.threads.length === 1 && page.threads[0]!.id === ids[1] && page.total === 3, `paging broken: ${json(page)}`);
        const active = await driver.listThreads({ status: 'active', limit: 10, offset: 0 });
        check(active.total === 2 && active.threads.every((thread) => thread.status === 'active'), 'status filter broken');
        const prefixed = await driver.listThreads({ idPrefix: ids[2]!.slice(0, 8), limit: 10, offset: 0 });
        check(prefixed.total === 1 && prefixed.threads[0]!.id === ids[2], `idPrefix filter broken: ${json(prefixed)}`);
      },
    },
    {
      name: 'search (when implemented) matches question or decision text, case-insensitively, newest first',
      run: async () => {
        const driver = await options.create();
        if (!driver.search) return;
        const [a, b, c] = [id(), id(), id()];
        await driver.createThread({ id: a, question: 'Shard by TENANT?', protocol: 'consensus', createdAt: at(0) });
        await driver.createThread({ id: b, question: 'Pick a queue', protocol: 'consensus', createdAt: at(1) });
        await driver.appendTurn(b, turn(1, 'Use per-tenant queues'));
        await driver.createThread({ id: c, question: 'Unrelated', protocol: 'consensus', createdAt: at(2) });
        const hits = await driver.search('tenant', { limit: 10 });
        check(json(hits.map((hit) => hit.threadId)) === json([b, a]), `expected [b, a], got ${json(hits.map((hit) => hit.threadId))}`);
        check(hits[0]!.decision === 'Use per-tenant queues' && hits[0]!.confidence === 0.7, 'a hit carries the latest decision');
        check(hits[1]!.decision === null, 'a thread without decisions has decision null');
        check((await driver.search('tenant', { limit: 1 })).length === 1, 'limit must be honoured');
      },
    },
    {
      name: 'returns copies: changing what was read does not change what is stored',
      run: async () => {
        const driver = await options.create();
        const threadId = id();
        await driver.createThread({ id: threadId, question: 'Q?', protocol: 'consensus', createdAt: at(0) });
        await driver.appendTurn(threadId, turn(1));
        const read = (await driver.getThread(threadId)) as unknown as { question: string; turns: { decision: { content: string } }[] };
        read.question = 'changed';
        read.turns[0]!.decision.content = 'changed';
        const again = await driver.getThread(threadId);
        check(again?.question === 'Q?' && again.turns[0]!.decision?.content === 'decision 1', 'stored data changed through a read copy');
      },
    },
  ];
}

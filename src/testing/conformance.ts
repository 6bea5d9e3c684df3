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
import { costRowsOf } from '../records.js';
import {
  AUDIT_GENESIS_HASH,
  auditCanonicalString,
  type AuditEntryInput,
  type CostRow,
  type NewApiKey,
  type NewThread,
  type NewUser,
  type StoredAuditEvent,
  type StoredSubtask,
  type StoredVote,
} from '../storage.js';
import type {
  OutcomeResult,
  StorageDriver,
  StorageScope,
  StoredContribution,
  StoredThread,
  StoredTurn,
  ThreadPage,
  ThreadQuery,
  ThreadSummary,
  TurnPhase,
} from '../storage.js';
import { pickCases } from './cases.js';

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
  /**
   * A fresh, **empty** driver per case: for SQL drivers a new schema, database or file. The suite calls the
   * driver's `close()` (when it has one) at the end of each case.
   */
  create: () => StorageDriver | Promise<StorageDriver>;
  /**
   * Another driver on the **same store** as `driver` (a second connection, pool or process-like instance), for
   * the cases that check concurrency across connections (audit chain appends). Without it those cases run their
   * concurrent calls on the one driver. The suite closes what it returns.
   */
  reopen?: (driver: StorageDriver) => StorageDriver | Promise<StorageDriver>;
  /**
   * Names of cases to leave out (exactly as they appear in the returned list), for a documented limitation of
   * the driver. A name that matches no case throws, so a renamed case is never skipped silently.
   */
  skip?: readonly string[];
}

/** The two tenants the storage suite works with, plus one that differs from the first only in case. */
const ACME: StorageScope = { tenant: 'acme' };
const GLOBEX: StorageScope = { tenant: 'globex' };
const ACME_UPPER: StorageScope = { tenant: 'ACME' };

/** JSON with object keys sorted (and `undefined` dropped), so field order does not matter. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, node: unknown) =>
    node !== null && typeof node === 'object' && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : node,
  ) ?? 'undefined';

const clip = (text: string) => (text.length > 1500 ? `${text.slice(0, 1500)}…` : text);

function same(actual: unknown, expected: unknown, what: string): void {
  const [a, e] = [canonical(actual), canonical(expected)];
  check(a === e, `${what}\n  expected: ${clip(e)}\n  received: ${clip(a)}`);
}

/** Hex SHA-256 of a text's UTF-8 bytes (WebCrypto: the suite runs wherever drivers do). */
async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Set a nested field of a value read from (or passed to) a driver, to check the driver keeps its own copy. */
function poke(target: unknown, path: readonly (string | number)[], value: unknown): void {
  let node = target as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Checks every storage driver must pass (contract v1): every operation, atomicity, copies and tenant isolation. */
export function storageDriverConformance(options: StorageDriverConformanceOptions): ConformanceCase[] {
  let counter = 0;
  /** A valid, time-ordered-looking UUID; unique across the suite. */
  const id = () => `${(++counter).toString(16).padStart(8, '0')}-c3d4-7e5f-8a9b-0190a1b2c3d4`;
  /** ISO timestamps with milliseconds, so a driver that drops them is caught. */
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second, 250)).toISOString();

  const newThread = (threadId: string, question: string, createdAt: string, userId: string | null = null): NewThread => ({
    id: threadId,
    question,
    protocol: 'consensus',
    userId,
    createdAt,
  });

  /** A full committed round: every optional contribution field, Unicode, newlines, provider metadata, taxonomy. */
  const turn = (round: number, decision = `decision ${round}`, overrides: Partial<StoredTurn> = {}): StoredTurn => ({
    roundNumber: round,
    state: 'COMMIT',
    contributions: [
      {
        model: 'anthropic:claude-opus-4-6',
        role: 'proposer',
        content: `Proposal ${round} — ünïcødé 🚀\nsecond line with "quotes", a \\ backslash and 'apostrophes'`,
        inputTokens: 1200,
        outputTokens: 3400,
        costUsd: 0.0912345678,
        latencyMs: 1234,
        finishReason: 'stop',
        truncated: false,
        providerMetadata: { citations: ['https://example.com/a?b=1&c=2'], nested: { depth: 2, flag: true, none: null } },
      },
      { model: 'openai:gpt-5.2', role: 'challenger', content: 'The sharding key is wrong.', inputTokens: 900, outputTokens: 4096, costUsd: 0.0589, latencyMs: 2345, finishReason: 'length', truncated: true, framing: 'flaw', sycophantic: false },
      { model: 'mistral:mistral-large-latest', role: 'challenger', content: 'Great answer! I agree.', inputTokens: 800, outputTokens: 120, costUsd: 0.00232, latencyMs: 345, finishReason: 'stop', truncated: false, framing: 'devils-advocate', sycophantic: true },
      { model: 'anthropic:claude-opus-4-6', role: 'reviser', content: decision, inputTokens: 2100, outputTokens: 1500, costUsd: 0.048, latencyMs: 3456, finishReason: 'stop', truncated: false },
      { model: 'mistral:mistral-small-latest', role: 'classifier', content: '{"intent":"technical"}', inputTokens: 150, outputTokens: 20, costUsd: 0.000042, latencyMs: 120, finishReason: 'stop', truncated: false },
    ],
    decision: { content: decision, confidence: 0.85, rigor: 0.75, dissent: '[openai:gpt-5.2]: The sharding key is wrong.', taxonomy: { intent: 'technical', category: 'databases', genus: '' } },
    createdAt: at(100 + round * 10),
    completedAt: at(105 + round * 10),
    ...overrides,
  });
  /** A round that produced no decision, with a bare contribution (no optional fields). */
  const bareTurn = (round: number): StoredTurn => ({
    roundNumber: round,
    state: 'COMMIT',
    contributions: [{ model: 'openai:gpt-5-mini', role: 'proposer', content: '', inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs: 0, finishReason: 'error', truncated: false }],
    decision: null,
    createdAt: at(100 + round * 10),
    completedAt: at(105 + round * 10),
  });

  /** A complete stored thread, as a backup holds it. */
  const storedThread = (scope: StorageScope, threadId: string, overrides: Partial<StoredThread> = {}): StoredThread => ({
    id: threadId,
    question: `Question of ${threadId}?`,
    protocol: 'consensus',
    userId: 'alice',
    createdAt: at(1),
    tenant: scope.tenant,
    status: 'complete',
    updatedAt: at(200),
    error: null,
    turns: [turn(1, 'Restored decision one'), turn(2, 'Restored decision two')],
    outcome: { result: 'partial', notes: 'worked for reads', roundNumber: 2, createdAt: at(210), updatedAt: at(220) },
    votes: [],
    subtasks: [],
    ...overrides,
  });

  /** Create a thread and write its rounds, finish and feedback through the driver's own operations. */
  const seed = async (
    driver: StorageDriver,
    scope: StorageScope,
    thread: NewThread,
    extra: { turns?: readonly StoredTurn[]; finish?: { status: 'complete' | 'failed'; error?: string; at: string }; outcome?: { result: OutcomeResult; notes: string | null; at: string } } = {},
  ) => {
    await driver.createThread(scope, thread);
    for (const round of extra.turns ?? []) await driver.appendTurn(scope, thread.id, round);
    if (extra.finish) await driver.finishThread(scope, thread.id, extra.finish);
    if (extra.outcome) await driver.saveOutcome(scope, thread.id, extra.outcome);
  };

  /** The StorageError `promise` rejects with, or a failed check when it resolves or rejects with anything else. */
  const rejectsWithStorageError = async (promise: Promise<unknown>, what: string): Promise<StorageError> => {
    const error = await promise.then(() => undefined, (caught: unknown) => caught ?? new Error('rejected with nothing'));
    check(error !== undefined, `${what} must reject with a StorageError, but it resolved`);
    check(StorageError.isInstance(error), `${what} must reject with a StorageError, got ${String(error)}`);
    return error as StorageError;
  };
  const list = (driver: StorageDriver, scope: StorageScope, query: Partial<ThreadQuery> = {}) => driver.listThreads(scope, { limit: 100, offset: 0, ...query });
  const idsOf = (page: ThreadPage) => page.threads.map((thread) => thread.id);
  /** The whole store, order-independent: every tenant's threads sorted by tenant and id. */
  const snapshot = async (driver: StorageDriver) =>
    canonical((await collect(driver.exportThreads('all'))).sort((a, b) => `${a.tenant}\u0000${a.id}`.localeCompare(`${b.tenant}\u0000${b.id}`)));
  const sameCost = (actual: readonly CostRow[], expected: readonly CostRow[], what: string) => {
    const shape = (rows: readonly CostRow[]) => rows.map(({ key, inputTokens, outputTokens, calls }) => ({ key, inputTokens, outputTokens, calls }));
    same(shape(actual), shape(expected), `${what}: rows (keys, most expensive first, tokens, calls) differ from costRowsOf()`);
    for (const [index, row] of expected.entries()) {
      const got = actual[index]!.costUsd;
      check(Math.abs(got - row.costUsd) <= 1e-9 * Math.max(1, row.costUsd), `${what}: costUsd of ${row.key} must be ${row.costUsd}, got ${got}`);
    }
  };

  const newUser = (userId: string, email: string, createdAt: string, overrides: Partial<NewUser> = {}): NewUser => ({
    id: userId,
    email,
    displayName: `User ${userId} — ünïcødé`,
    role: 'contributor',
    passwordHash: '$scrypt$N=1024,r=8,p=1$c2FsdA$aGFzaA',
    active: true,
    createdAt,
    ...overrides,
  });
  const newKey = (keyId: string, userId: string, createdAt: string, overrides: Partial<NewApiKey> = {}): NewApiKey => ({
    id: keyId,
    userId,
    name: `key ${keyId}`,
    secretHash: 'a'.repeat(64),
    scopes: ['ask', 'read'],
    createdAt,
    expiresAt: null,
    ...overrides,
  });
  const auditEntry = (action: string, overrides: Partial<AuditEntryInput> = {}): AuditEntryInput => ({
    at: at(1),
    actor: 'alice',
    action,
    resource: 'thread:0195',
    outcome: 'success',
    ...overrides,
  });
  /** The identity methods a case needs, or undefined when the driver lacks any (the case then has nothing to check). */
  const has = <K extends keyof StorageDriver>(driver: StorageDriver, ...methods: K[]): boolean => methods.every((method) => typeof driver[method] === 'function');
  /** Check a tenant's whole chain: seq 1..n, prevHash links from 64 zeros, each hash recomputed from the contract. */
  const checkChain = async (events: readonly StoredAuditEvent[], tenant: string, what: string) => {
    let previous = AUDIT_GENESIS_HASH;
    for (const [index, event] of events.entries()) {
      check(event.tenant === tenant, `${what}: entry ${index + 1} must carry tenant ${json(tenant)}, got ${json(event.tenant)}`);
      check(event.seq === index + 1, `${what}: entries must have seq 1, 2, 3, … without gaps, got ${json(events.map((each) => each.seq))}`);
      check(event.prevHash === previous, `${what}: entry ${event.seq} must link to the previous entry's hash (prevHash ${event.prevHash}, expected ${previous})`);
      check(/^[0-9a-f]{64}$/.test(event.hash), `${what}: entry ${event.seq} hash must be 64 lowercase hex digits, got ${json(event.hash)}`);
      const { hash, ...unhashed } = event;
      const expected = await sha256Hex(auditCanonicalString(unhashed));
      check(hash === expected, `${what}: entry ${event.seq} hash must be SHA-256 of auditCanonicalString(entry): expected ${expected}, got ${hash}`);
      check(UUID_V7.test(event.id), `${what}: entry ${event.seq} id must be a UUIDv7, got ${json(event.id)}`);
      previous = hash;
    }
  };
  const allAudit = async (driver: StorageDriver, scope: StorageScope) => driver.listAudit!(scope, { limit: 10_000 });

  type Open = () => Promise<StorageDriver>;
  type Reopen = (driver: StorageDriver) => Promise<StorageDriver>;
  const cases: { name: string; body: (open: Open, reopen: Reopen) => Promise<void> }[] = [
    {
      name: 'declares specificationVersion "v1" and a name',
      body: async (open) => {
        const driver = await open();
        check(driver.specificationVersion === 'v1', `specificationVersion must be "v1", got ${json(driver.specificationVersion)}`);
        check(typeof driver.name === 'string' && driver.name.length > 0, 'name must be a non-empty string (it is used in errors)');
      },
    },
    {
      name: 'creates a thread and reads every field back: tenant, userId, active, no turns, no outcome',
      body: async (open) => {
        const driver = await open();
        const [mine, anonymous] = [id(), id()];
        await driver.createThread(ACME, newThread(mine, 'Shard the orders table? — ünïcødé 🚀\n"quoted"', at(1), 'alice'));
        await driver.createThread(ACME, newThread(anonymous, 'Anonymous question', at(2)));
        same(
          await driver.getThread(ACME, mine),
          { id: mine, question: 'Shard the orders table? — ünïcødé 🚀\n"quoted"', protocol: 'consensus', userId: 'alice', createdAt: at(1), tenant: 'acme', status: 'active', updatedAt: at(1), error: null, turns: [], outcome: null, votes: [], subtasks: [] },
          'a new thread must read back with every field (updatedAt = createdAt)',
        );
        const read = await driver.getThread(ACME, anonymous);
        check(read !== null && read.userId === null, `a thread created with userId null must read back with userId null, got ${json(read?.userId)}`);
      },
    },
    {
      name: 'unknown threads: getThread is null, deleteThread false, appendTurn, finishThread and saveOutcome reject with a StorageError',
      body: async (open) => {
        const driver = await open();
        const known = id();
        await driver.createThread(ACME, newThread(known, 'known', at(1)));
        const unknown = id();
        check((await driver.getThread(ACME, unknown)) === null, 'getThread must return null for an unknown id');
        check((await driver.deleteThread(ACME, unknown)) === false, 'deleteThread must return false for an unknown id');
        await rejectsWithStorageError(driver.appendTurn(ACME, unknown, turn(1)), 'appendTurn on an unknown thread');
        await rejectsWithStorageError(driver.finishThread(ACME, unknown, { status: 'complete', at: at(5) }), 'finishThread on an unknown thread');
        await rejectsWithStorageError(driver.saveOutcome(ACME, unknown, { result: 'success', notes: null, at: at(5) }), 'saveOutcome on an unknown thread');
        check((await driver.getThread(ACME, unknown)) === null, 'a rejected write must not create the thread');
        const page = await list(driver, ACME);
        check(page.total === 1 && json(idsOf(page)) === json([known]), `failed writes must not add threads, got ${json(page)}`);
      },
    },
    {
      name: 'rejects a duplicate thread id and keeps the original with its turns',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'first', at(1), 'alice'), { turns: [turn(1)], finish: { status: 'complete', at: at(150) } });
        const before = await driver.getThread(ACME, threadId);
        await rejectsWithStorageError(driver.createThread(ACME, newThread(threadId, 'second', at(2), 'bob')), 'creating a thread with an existing id');
        same(await driver.getThread(ACME, threadId), before, 'the original thread must survive a rejected duplicate unchanged');
        check((await list(driver, ACME)).total === 1, 'a rejected duplicate must not be listed');
      },
    },
    {
      name: 'round-trips every field of a turn exactly: contributions, provider metadata, decision, taxonomy and nulls',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await driver.createThread(ACME, newThread(threadId, 'Q?', at(1), 'alice'));
        const turns = [
          turn(1),
          bareTurn(2),
          turn(3, 'Third, without dissent or taxonomy', { decision: { content: 'Third, without dissent or taxonomy', confidence: 0.5, rigor: 0.5, dissent: null, taxonomy: null } }),
        ];
        for (const round of turns) await driver.appendTurn(ACME, threadId, round);
        const read = await driver.getThread(ACME, threadId);
        check(read !== null, 'getThread must find the thread');
        check(read.turns.length === 3, `all three turns must be stored, got ${read.turns.length}`);
        for (const [index, expected] of turns.entries()) same(read.turns[index], expected, `turn ${index + 1} must round-trip exactly (turns in round order)`);
        check(read.status === 'active' && read.outcome === null, 'appending rounds must not finish the thread or add feedback');
      },
    },
    {
      name: 'rejects a round written twice and leaves the thread unchanged',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Q?', at(1)), { turns: [turn(1), turn(2)] });
        const before = await driver.getThread(ACME, threadId);
        await rejectsWithStorageError(driver.appendTurn(ACME, threadId, turn(2, 'again')), 'appending round 2 twice');
        await rejectsWithStorageError(driver.appendTurn(ACME, threadId, turn(1, 'again')), 'appending round 1 twice');
        same(await driver.getThread(ACME, threadId), before, 'a rejected append must leave the thread exactly as it was');
      },
    },
    {
      name: 'appends several rounds of one thread issued concurrently, each exactly once',
      body: async (open) => {
        const driver = await open();
        const [threadId, other] = [id(), id()];
        await driver.createThread(ACME, newThread(threadId, 'Q?', at(1)));
        await driver.createThread(ACME, newThread(other, 'Other?', at(2)));
        const rounds = [1, 2, 3, 4, 5, 6];
        await Promise.all([...rounds.map((round) => driver.appendTurn(ACME, threadId, turn(round))), ...rounds.map((round) => driver.appendTurn(ACME, other, turn(round, `other ${round}`)))]);
        for (const [target, decision] of [[threadId, (round: number) => `decision ${round}`], [other, (round: number) => `other ${round}`]] as const) {
          const read = await driver.getThread(ACME, target);
          const stored = [...(read?.turns ?? [])].sort((a, b) => a.roundNumber - b.roundNumber);
          check(json(stored.map((round) => round.roundNumber)) === json(rounds), `every concurrent round must land exactly once, got rounds ${json(read?.turns.map((round) => round.roundNumber))}`);
          for (const round of stored) same(round, turn(round.roundNumber, decision(round.roundNumber)), `concurrently written round ${round.roundNumber} must round-trip`);
        }
      },
    },
    {
      name: 'lets exactly one of two concurrent writes of the same round, or of the same thread id, succeed',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await driver.createThread(ACME, newThread(threadId, 'Q?', at(1)));
        const writes = [turn(1, 'first writer'), turn(1, 'second writer')];
        const results = await Promise.allSettled(writes.map((round) => driver.appendTurn(ACME, threadId, round)));
        const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
        check(winners.length === 1, `exactly one concurrent write of round 1 must succeed, ${winners.length} did`);
        const loser = results.find((result) => result.status === 'rejected');
        check(StorageError.isInstance(loser?.reason), `the losing write must reject with a StorageError, got ${String(loser?.reason)}`);
        const read = await driver.getThread(ACME, threadId);
        check(read?.turns.length === 1, `round 1 must be stored once, got ${read?.turns.length} turns`);
        same(read.turns[0], writes[winners[0]!], 'the stored round must be the successful write, whole');

        const raced = id();
        const creates = await Promise.allSettled(['first', 'second'].map((question, index) => driver.createThread(ACME, newThread(raced, question, at(10 + index)))));
        const created = creates.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
        check(created.length === 1, `exactly one concurrent createThread with the same id must succeed, ${created.length} did`);
        check((await driver.getThread(ACME, raced))?.question === ['first', 'second'][created[0]!], 'the stored thread must be the successful create');
      },
    },
    // ---- appendPhase (optional): rounds stored phase by phase, as the engine writes them ----
    ...((): { name: string; body: (open: Open, reopen: Reopen) => Promise<void> }[] => {
      /** The four phases that build `full` (a turn from turn()): proposer, the two challengers, reviser, classifier and the decision. */
      const phasesOf = (full: StoredTurn): TurnPhase[] => {
        const [proposal, challengeA, challengeB, revision, ...classification] = full.contributions;
        const minute = (offset: number) => new Date(Date.parse(full.createdAt) + offset * 1000).toISOString();
        return [
          { roundNumber: full.roundNumber, state: 'PROPOSE', contributions: [proposal!], decision: null, at: full.createdAt },
          { roundNumber: full.roundNumber, state: 'CHALLENGE', contributions: [challengeA!, challengeB!], decision: null, at: minute(2) },
          { roundNumber: full.roundNumber, state: 'REVISE', contributions: [revision!], decision: null, at: minute(3) },
          { roundNumber: full.roundNumber, state: 'COMMIT', contributions: classification, decision: full.decision, at: full.completedAt },
        ];
      };
      /** What the turn reads back as after its first `count` phases. */
      const partial = (full: StoredTurn, count: number): StoredTurn => {
        const phases = phasesOf(full).slice(0, count);
        return { ...full, state: phases.at(-1)!.state, contributions: phases.flatMap((phase) => phase.contributions), decision: phases.at(-1)!.decision, completedAt: phases.at(-1)!.at };
      };
      const writePhases = async (driver: StorageDriver, scope: StorageScope, threadId: string, phases: readonly TurnPhase[]) => {
        for (const phase of phases) await driver.appendPhase!(scope, threadId, phase);
      };
      /**
       * A rejected phase: a StorageError (naming the phase's state and round, unless the thread is unknown to the
       * scope) and a store left exactly as it was.
       */
      const refused = async (driver: StorageDriver, scope: StorageScope, threadId: string, phase: TurnPhase, what: string, unknownThread = false) => {
        const before = await snapshot(driver);
        const { message } = await rejectsWithStorageError(driver.appendPhase!(scope, threadId, phase), what);
        check(unknownThread || (message.includes(`round ${String(phase.roundNumber)}`) && message.includes(String(phase.state))), `${what}: the error must name the round and the phase (round ${String(phase.roundNumber)}, ${String(phase.state)}), got ${json(message)}`);
        check((await snapshot(driver)) === before, `${what} must write nothing`);
      };
      return [
        {
          name: 'appendPhase (when implemented): PROPOSE, CHALLENGE, REVISE and COMMIT build a turn equal to the same round written by appendTurn, round after round',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'appendPhase')) return;
            const [phased, whole, mixed] = [id(), id(), id()];
            await driver.createThread(ACME, newThread(phased, 'Q?', at(1), 'alice'));
            await seed(driver, ACME, newThread(whole, 'Q?', at(2), 'alice'), { turns: [turn(1), turn(2)] });
            for (const round of [1, 2]) {
              const phases = phasesOf(turn(round));
              for (const [index, phase] of phases.entries()) {
                await driver.appendPhase!(ACME, phased, phase);
                const read = await driver.getThread(ACME, phased);
                same(read?.turns.at(-1), partial(turn(round), index + 1), `after the ${phase.state} phase of round ${round}, the turn must hold exactly the phases stored so far`);
                check(read?.turns.length === round, `round ${round} must be one turn, got ${read?.turns.length} turns`);
                check(read.updatedAt === phase.at, `each phase must set the thread's updatedAt to its \`at\` (${phase.at}), got ${read.updatedAt}`);
              }
            }
            const [a, b] = [await driver.getThread(ACME, phased), await driver.getThread(ACME, whole)];
            same(a?.turns, b?.turns, 'rounds stored phase by phase must read back exactly as the same rounds written by appendTurn');
            check(a?.status === 'active' && a.outcome === null, 'phases must not finish the thread or add feedback');
            // A round without a classifier call (COMMIT adds no contribution) and after a round written whole.
            await seed(driver, ACME, newThread(mixed, 'Q?', at(3)), { turns: [turn(1)] });
            const third = turn(2, 'unclassified', { contributions: turn(2).contributions.slice(0, 4) });
            await writePhases(driver, ACME, mixed, phasesOf(third));
            same((await driver.getThread(ACME, mixed))?.turns, [turn(1), third], 'phases must continue a thread written with appendTurn, and a COMMIT phase may add no contribution');
          },
        },
        {
          name: 'appendPhase (when implemented): a round in progress reads back with its stored phases everywhere: get, list, search, cost, export, feedback, backup and restore',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'appendPhase')) return;
            const threadId = id();
            await driver.createThread(ACME, newThread(threadId, 'Shard the orders table?', at(1), 'alice'));
            await writePhases(driver, ACME, threadId, phasesOf(turn(1, 'Shard the orders table by tenant')));
            await writePhases(driver, ACME, threadId, phasesOf(turn(2, 'Shard by region')).slice(0, 2));
            const read = await driver.getThread(ACME, threadId);
            check(read !== null, 'getThread must find the thread');
            same(read.turns, [turn(1, 'Shard the orders table by tenant'), partial(turn(2, 'Shard by region'), 2)], 'a thread must read back with its committed rounds and the round in progress (state CHALLENGE, its first three contributions, no decision)');
            check(read.status === 'active' && read.updatedAt === read.turns[1]!.completedAt, `a thread in progress must stay active with updatedAt = its last phase, got ${json({ status: read.status, updatedAt: read.updatedAt })}`);
            const [summary] = (await list(driver, ACME)).threads;
            check(summary?.updatedAt === read.updatedAt, `listThreads must show the last phase's updatedAt, got ${json(summary)}`);
            if (driver.search) {
              const hits = await driver.search(ACME, 'tenant', { limit: 10 });
              check(hits.length === 1 && hits[0]!.decision === 'Shard the orders table by tenant', `recall must carry the latest decision (round 1's), not the round in progress, got ${json(hits)}`);
              check((await driver.search(ACME, 'region', { limit: 10 })).length === 0, 'the decision of a round not yet committed must not be searchable');
            }
            if (driver.costReport) {
              for (const groupBy of ['model', 'day'] as const) sameCost(await driver.costReport(ACME, { groupBy }), costRowsOf([read], groupBy), `costReport by ${groupBy} with a round in progress`);
            }
            same(await collect(driver.exportThreads(ACME)), [read], 'exportThreads must carry the round in progress as getThread reads it');
            await driver.saveOutcome(ACME, threadId, { result: 'partial', notes: null, at: at(200) });
            check((await driver.getThread(ACME, threadId))?.outcome?.roundNumber === 1, 'feedback must attach to the latest decision (round 1), not the round in progress');
            // A backup of the round in progress restores as it was, and the round then goes on.
            const backup = await collect(driver.exportThreads(ACME));
            await driver.deleteThread(ACME, threadId);
            await driver.importThreads(backup, { mode: 'merge' });
            same(await driver.getThread(ACME, threadId), backup[0], 'a restored round in progress must read back exactly');
            await writePhases(driver, ACME, threadId, phasesOf(turn(2, 'Shard by region')).slice(2));
            same((await driver.getThread(ACME, threadId))?.turns, [turn(1, 'Shard the orders table by tenant'), turn(2, 'Shard by region')], 'a restored round in progress must accept its next phases');
            if (driver.search) check((await driver.search(ACME, 'region', { limit: 10 })).length === 1, 'the decision of a round committed by its COMMIT phase must be searchable');
          },
        },
        {
          name: 'appendPhase (when implemented): rejects a phase out of order, a duplicate, a malformed phase and an unknown thread with a StorageError naming the round and states, writing nothing',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'appendPhase')) return;
            const threadId = id();
            const [propose, challenge, revise, commit] = phasesOf(turn(1));
            const next = phasesOf(turn(2));
            await refused(driver, ACME, id(), propose!, 'a phase of an unknown thread', true);
            await driver.createThread(ACME, newThread(threadId, 'Q?', at(1)));
            await refused(driver, ACME, threadId, challenge!, 'CHALLENGE before any PROPOSE');
            await refused(driver, ACME, threadId, commit!, 'COMMIT before any PROPOSE');
            await refused(driver, ACME, threadId, next[0]!, 'PROPOSE of round 2 on a thread without round 1');
            await refused(driver, ACME, threadId, { ...propose!, roundNumber: 0 }, 'PROPOSE of round 0');
            await refused(driver, ACME, threadId, { ...propose!, decision: commit!.decision }, 'a PROPOSE phase with a decision');
            await refused(driver, ACME, threadId, { ...propose!, state: 'DONE' as TurnPhase['state'] }, 'an unknown phase state');
            await driver.appendPhase!(ACME, threadId, propose!);
            await refused(driver, ACME, threadId, { ...propose!, contributions: [] }, 'PROPOSE of round 1 twice');
            await refused(driver, ACME, threadId, revise!, 'REVISE right after PROPOSE (CHALLENGE skipped)');
            await refused(driver, ACME, threadId, commit!, 'COMMIT right after PROPOSE');
            await refused(driver, ACME, threadId, next[0]!, 'PROPOSE of round 2 while round 1 is in progress');
            await refused(driver, ACME, threadId, { ...challenge!, decision: commit!.decision }, 'a CHALLENGE phase with a decision');
            await driver.appendPhase!(ACME, threadId, challenge!);
            await refused(driver, ACME, threadId, challenge!, 'CHALLENGE of round 1 twice');
            await refused(driver, ACME, threadId, propose!, 'PROPOSE of round 1 after its CHALLENGE');
            await driver.appendPhase!(ACME, threadId, revise!);
            await driver.appendPhase!(ACME, threadId, commit!);
            await refused(driver, ACME, threadId, commit!, 'COMMIT of round 1 twice');
            await refused(driver, ACME, threadId, challenge!, 'CHALLENGE of a committed round');
            await refused(driver, ACME, threadId, next[1]!, 'CHALLENGE of round 2 before its PROPOSE');
            await refused(driver, ACME, threadId, phasesOf(turn(3))[0]!, 'PROPOSE of round 3 after round 1 (round 2 skipped)');
            same((await driver.getThread(ACME, threadId))?.turns, [turn(1)], 'after every refused phase the thread must hold exactly the phases accepted');
            await writePhases(driver, ACME, threadId, next);
            same((await driver.getThread(ACME, threadId))?.turns, [turn(1), turn(2)], 'refused phases must not stop the right ones');
          },
        },
        {
          name: 'appendPhase (when implemented): isolates tenants: no phase reaches another tenant\'s thread, and the same id in two tenants builds two rounds',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'appendPhase')) return;
            const threadId = id();
            const [propose, challenge] = phasesOf(turn(1));
            await driver.createThread(ACME, newThread(threadId, 'Acme?', at(1)));
            await driver.appendPhase!(ACME, threadId, propose!);
            for (const scope of [GLOBEX, ACME_UPPER]) {
              await refused(driver, scope, threadId, challenge!, `a phase on the thread of another tenant (${scope.tenant})`, true);
              await refused(driver, scope, threadId, propose!, `PROPOSE on the thread id of another tenant (${scope.tenant})`, true);
            }
            await driver.createThread(GLOBEX, newThread(threadId, 'Globex?', at(2)));
            await writePhases(driver, GLOBEX, threadId, phasesOf(turn(1, 'globex decision')));
            same((await driver.getThread(GLOBEX, threadId))?.turns, [turn(1, 'globex decision')], "the other tenant's thread with the same id must take its own phases");
            same((await driver.getThread(ACME, threadId))?.turns, [partial(turn(1), 1)], "phases of another tenant's thread with the same id must not touch this one");
          },
        },
        {
          name: 'appendPhase (when implemented): of two concurrent writes of the same phase (from two connections when reopen is given) exactly one succeeds, whole',
          body: async (open, reopen) => {
            const driver = await open();
            if (!has(driver, 'appendPhase')) return;
            const other = await reopen(driver);
            const threadId = id();
            await driver.createThread(ACME, newThread(threadId, 'Q?', at(1)));
            const [first, second] = [phasesOf(turn(1, 'first writer')), phasesOf(turn(1, 'second writer'))];
            // Distinct contributions per writer, so the stored turn shows whose phase landed.
            const tagged = (phases: TurnPhase[], tag: string) => phases.map((phase) => ({ ...phase, contributions: phase.contributions.map((contribution) => ({ ...contribution, content: `${tag}: ${contribution.content}` })) }));
            const writers = [tagged(first, 'first'), tagged(second, 'second')];
            const expected: StoredContribution[] = [];
            for (const index of [0, 1, 2, 3]) {
              const results = await Promise.allSettled([driver.appendPhase!(ACME, threadId, writers[0]![index]!), other.appendPhase!(ACME, threadId, writers[1]![index]!)]);
              const winners = results.flatMap((result, writer) => (result.status === 'fulfilled' ? [writer] : []));
              const state = writers[0]![index]!.state;
              check(winners.length === 1, `exactly one of two concurrent ${state} phases must succeed, ${winners.length} did`);
              const loser = results.find((result) => result.status === 'rejected');
              check(StorageError.isInstance(loser?.reason), `the losing ${state} write must reject with a StorageError, got ${String(loser?.reason)}`);
              const won = writers[winners[0]!]![index]!;
              expected.push(...won.contributions);
              const read = await driver.getThread(ACME, threadId);
              check(read?.turns.length === 1, `round 1 must be one turn after the ${state} race, got ${read?.turns.length}`);
              same(read.turns[0]!.contributions, expected, `after the ${state} race the turn must hold the winners' contributions once each, in order`);
              check(read.turns[0]!.state === state && read.updatedAt === won.at, `after the ${state} race the turn must be at ${state} with the winner's time`);
              if (state === 'COMMIT') same(read.turns[0]!.decision, won.decision, 'the decision must be the winning COMMIT phase\'s');
            }
          },
        },
        // ---- startThread (optional): a thread created together with its first round ----
        {
          name: 'startThread (when implemented): creates a thread with round 1 in progress or committed, reading back exactly as createThread + appendTurn; appendPhase goes on from there',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'startThread')) return;
            for (const count of [1, 2, 3, 4]) {
              // A decision word that nothing else holds (the question has the digit too), so any-word search tells.
              const decision = `opening kiwi${count}`;
              const first = partial(turn(1, decision), count);
              const [started, seeded] = [id(), id()];
              await driver.startThread!(ACME, newThread(started, `Shard question ${count}?`, at(count), 'alice'), first);
              await seed(driver, ACME, newThread(seeded, `Shard question ${count}?`, at(count), 'alice'), { turns: [first] });
              const [a, b] = [await driver.getThread(ACME, started), await driver.getThread(ACME, seeded)];
              check(a !== null, `startThread with round 1 at ${first.state} must create the thread`);
              same({ ...a, id: seeded }, b, `a thread started with round 1 at ${first.state} must read back exactly as createThread + appendTurn of that round`);
              check(a.status === 'active' && a.updatedAt === first.completedAt, `a started thread must be active with updatedAt = its round's completedAt, got ${json({ status: a.status, updatedAt: a.updatedAt })}`);
              const summary = (await list(driver, ACME, { limit: 100 })).threads.find((thread) => thread.id === started);
              check(summary?.updatedAt === first.completedAt && summary.status === 'active', `listThreads must show the started thread, got ${json(summary)}`);
              if (driver.search) {
                check((await driver.search(ACME, `question ${count}`, { limit: 10 })).some((hit) => hit.threadId === started), 'the question of a started thread must be searchable');
                const decided = (await driver.search(ACME, `kiwi${count}`, { limit: 10 })).some((hit) => hit.threadId === started);
                check(decided === (first.state === 'COMMIT'), `the first round's decision must be searchable exactly when it is committed (state ${first.state}), got ${decided}`);
              }
              if (has(driver, 'appendPhase')) {
                await writePhases(driver, ACME, started, phasesOf(turn(1, decision)).slice(count));
                if (driver.search) check((await driver.search(ACME, `kiwi${count}`, { limit: 10 })).some((hit) => hit.threadId === started), `a round started at ${first.state} and committed by appendPhase must make its decision searchable`);
                await writePhases(driver, ACME, started, phasesOf(turn(2)));
                same((await driver.getThread(ACME, started))?.turns, [turn(1, decision), turn(2)], `appendPhase must go on from a round 1 started at ${first.state}`);
              } else {
                await driver.appendTurn(ACME, started, turn(2));
              }
              same(await collect(driver.exportThreads(ACME)).then((threads) => threads.find((thread) => thread.id === started)), await driver.getThread(ACME, started), 'exportThreads must carry a started thread as getThread reads it');
            }
          },
        },
        {
          name: 'startThread (when implemented): a duplicate id, a round other than 1 and a malformed round are StorageErrors that write nothing; the same id in another tenant is a thread of its own',
          body: async (open) => {
            const driver = await open();
            if (!has(driver, 'startThread')) return;
            const refusedStart = async (scope: StorageScope, thread: NewThread, first: StoredTurn, what: string) => {
              const before = await snapshot(driver);
              const { message } = await rejectsWithStorageError(driver.startThread!(scope, thread, first), what);
              check(message.includes(thread.id), `${what}: the error must name the thread, got ${json(message)}`);
              check((await snapshot(driver)) === before, `${what} must write nothing`);
            };
            const [made, started] = [id(), id()];
            await seed(driver, ACME, newThread(made, 'Made with createThread?', at(1)), { turns: [turn(1)] });
            await driver.startThread!(ACME, newThread(started, 'Started?', at(2)), turn(1));
            await refusedStart(ACME, newThread(made, 'Again?', at(3)), partial(turn(1), 1), 'startThread with the id of a thread made by createThread');
            await refusedStart(ACME, newThread(started, 'Again?', at(3)), turn(1), 'startThread with the id of a started thread');
            const fresh = id();
            await refusedStart(ACME, newThread(fresh, 'Q?', at(4)), turn(2), 'startThread with round 2');
            await refusedStart(ACME, newThread(fresh, 'Q?', at(4)), { ...partial(turn(1), 1), decision: turn(1).decision }, 'startThread with a round in progress that carries a decision');
            await refusedStart(ACME, newThread(fresh, 'Q?', at(4)), { ...turn(1), state: 'DONE' as StoredTurn['state'] }, 'startThread with an unknown state');
            await refusedStart(ACME, newThread(fresh, 'Q?', at(4)), { ...turn(1), completedAt: '' }, 'startThread without completedAt');
            check((await driver.getThread(ACME, fresh)) === null, 'refused starts must not create the thread');
            await driver.startThread!(GLOBEX, newThread(started, 'Globex started?', at(5)), turn(1, 'globex decision'));
            same((await driver.getThread(GLOBEX, started))?.turns, [turn(1, 'globex decision')], 'the same id in another tenant must start a thread of its own');
            check((await driver.getThread(ACME, started))?.question === 'Started?', "starting the same id in another tenant must not touch this tenant's thread");
          },
        },
        {
          name: 'startThread (when implemented): of two concurrent starts of one id (from two connections when reopen is given) exactly one succeeds, whole',
          body: async (open, reopen) => {
            const driver = await open();
            if (!has(driver, 'startThread')) return;
            const other = await reopen(driver);
            const threadId = id();
            const writes = [turn(1, 'first writer'), turn(1, 'second writer')];
            const results = await Promise.allSettled([driver.startThread!(ACME, newThread(threadId, 'first', at(1)), writes[0]!), other.startThread!(ACME, newThread(threadId, 'second', at(2)), writes[1]!)]);
            const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
            check(winners.length === 1, `exactly one of two concurrent startThread calls with one id must succeed, ${winners.length} did`);
            const loser = results.find((result) => result.status === 'rejected');
            check(StorageError.isInstance(loser?.reason), `the losing start must reject with a StorageError, got ${String(loser?.reason)}`);
            const read = await driver.getThread(ACME, threadId);
            check(read !== null && read.question === ['first', 'second'][winners[0]!], 'the stored thread must be the successful start');
            same(read.turns, [writes[winners[0]!]], 'the stored round must be the successful start\'s, whole');
          },
        },
      ];
    })(),
    {
      name: 'finishes threads as complete or failed, keeping their turns and the error',
      body: async (open) => {
        const driver = await open();
        const [ok, bad] = [id(), id()];
        await seed(driver, ACME, newThread(ok, 'ok', at(1)), { turns: [turn(1)] });
        await seed(driver, ACME, newThread(bad, 'bad', at(2)));
        await driver.finishThread(ACME, ok, { status: 'complete', at: at(300) });
        await driver.finishThread(ACME, bad, { status: 'failed', error: 'Provider error: boom', at: at(301) });
        const [okRead, badRead] = [await driver.getThread(ACME, ok), await driver.getThread(ACME, bad)];
        check(okRead?.status === 'complete' && okRead.error === null && okRead.updatedAt === at(300), `a complete thread must have status complete, error null and updatedAt = at, got ${json(okRead)}`);
        same(okRead.turns, [turn(1)], 'finishing must keep the turns');
        check(badRead?.status === 'failed' && badRead.error === 'Provider error: boom' && badRead.updatedAt === at(301), `a failed thread must keep its error, got ${json(badRead)}`);
        const complete = await list(driver, ACME, { status: 'complete' });
        check(json(idsOf(complete)) === json([ok]), `a finished thread must be listed under its new status, got ${json(idsOf(complete))}`);
      },
    },
    {
      name: 'failIdleThread (when implemented): marks only a thread still active and untouched since idleSince, atomically; true when it marked it',
      body: async (open, reopen) => {
        const driver = await open();
        if (!has(driver, 'failIdleThread')) return;
        const error = 'Interrupted: no progress for over 60 min.';
        const [idle, moved, done, other] = [id(), id(), id(), id()];
        await seed(driver, ACME, newThread(idle, 'idle', at(1)), { turns: [turn(1)] });
        await seed(driver, ACME, newThread(moved, 'moved on', at(2)), { turns: [turn(1)] });
        await seed(driver, ACME, newThread(done, 'done', at(3)), { finish: { status: 'complete', at: at(4) } });
        await seed(driver, GLOBEX, newThread(other, 'globex idle', at(5)));
        const idleSince = (await driver.getThread(ACME, idle))!.updatedAt;
        const before = await snapshot(driver);
        for (const [scope, threadId, since, what] of [
          [ACME, moved, at(2), 'a thread whose updatedAt moved on'],
          [ACME, done, at(4), 'a complete thread'],
          [ACME, id(), at(1), 'an unknown thread'],
          [ACME, other, at(5), "another tenant's thread"],
          [ACME_UPPER, idle, idleSince, 'the thread under another tenant'],
        ] as const) {
          check((await driver.failIdleThread!(scope, threadId, { idleSince: since, error, at: at(500) })) === false, `failIdleThread on ${what} must answer false`);
        }
        check((await snapshot(driver)) === before, 'failIdleThread must change nothing when it answers false');
        // Two sweeps at once (from two connections when reopen is given): exactly one marks the thread.
        const other2 = await reopen(driver);
        const results = await Promise.all([driver, other2].map((each) => each.failIdleThread!(ACME, idle, { idleSince, error, at: at(500) })));
        check(results.filter(Boolean).length === 1, `exactly one of two concurrent failIdleThread calls must mark the thread, got ${json(results)}`);
        const read = await driver.getThread(ACME, idle);
        check(read?.status === 'failed' && read.error === error && read.updatedAt === at(500), `a marked thread must be failed with the error and updatedAt = at, got ${json(read && { status: read.status, error: read.error, updatedAt: read.updatedAt })}`);
        same(read.turns, [turn(1)], 'marking must keep the turns');
        check((await driver.failIdleThread!(ACME, idle, { idleSince: at(500), error, at: at(600) })) === false, 'a thread already failed must not be marked again');
      },
    },
    {
      name: 'lists threads newest first with every summary field and a total, across pages',
      body: async (open) => {
        const driver = await open();
        const ids = [id(), id(), id(), id(), id()];
        const users = ['alice', 'bob', null, 'alice', 'carol'];
        for (const [index, threadId] of ids.entries()) await driver.createThread(ACME, newThread(threadId, `question ${index}`, at(index + 1), users[index]));
        await driver.finishThread(ACME, ids[1]!, { status: 'complete', at: at(50) });
        await driver.finishThread(ACME, ids[2]!, { status: 'failed', error: 'boom', at: at(51) });
        const all = await list(driver, ACME);
        const newestFirst = [...ids].reverse();
        check(json(idsOf(all)) === json(newestFirst), `newest first expected, got ${json(idsOf(all))}`);
        check(all.total === 5, `total must count every match, got ${all.total}`);
        const pick = ({ id: threadId, question, status, protocol, userId, createdAt, updatedAt }: ThreadSummary) => ({ id: threadId, question, status, protocol, userId, createdAt, updatedAt });
        same(
          all.threads.map(pick),
          newestFirst.map((threadId) => {
            const index = ids.indexOf(threadId);
            const status = index === 1 ? 'complete' : index === 2 ? 'failed' : 'active';
            return { id: threadId, question: `question ${index}`, status, protocol: 'consensus', userId: users[index], createdAt: at(index + 1), updatedAt: index === 1 ? at(50) : index === 2 ? at(51) : at(index + 1) };
          }),
          'summaries must carry id, question, status, protocol, userId, createdAt and updatedAt',
        );
        const paged: string[] = [];
        for (const offset of [0, 2, 4]) {
          const page = await list(driver, ACME, { limit: 2, offset });
          check(page.total === 5, `total must count every match, not the page: got ${page.total} at offset ${offset}`);
          check(page.threads.length === Math.min(2, 5 - offset), `limit 2 at offset ${offset} must return ${Math.min(2, 5 - offset)} threads, got ${page.threads.length}`);
          paged.push(...idsOf(page));
        }
        check(json(paged) === json(newestFirst), `paging broken: pages of 2 gave ${json(paged)}`);
        const beyond = await list(driver, ACME, { limit: 2, offset: 10 });
        check(beyond.threads.length === 0 && beyond.total === 5, `an offset past the end must return no threads and the total, got ${json(beyond)}`);
      },
    },
    {
      name: 'filters listings by status, id prefix and user, alone and combined, with the matching total',
      body: async (open) => {
        const driver = await open();
        const [one, two, three, four] = ['abcdef12-0000-7000-8000-000000000001', 'abcdef12-0000-7000-8000-000000000002', 'abcdef12-0000-7000-8000-000000000003', '99999999-0000-7000-8000-000000000004'];
        await seed(driver, ACME, newThread(one, 'one', at(1), 'alice'), { finish: { status: 'complete', at: at(10) } });
        await seed(driver, ACME, newThread(two, 'two', at(2), 'bob'));
        await seed(driver, ACME, newThread(three, 'three', at(3)), { finish: { status: 'failed', error: 'boom', at: at(11) } });
        await seed(driver, ACME, newThread(four, 'four', at(4), 'alice'));
        const expect = async (query: Partial<ThreadQuery>, ids: string[], total = ids.length) => {
          const page = await list(driver, ACME, query);
          check(json(idsOf(page)) === json(ids) && page.total === total, `listThreads(${json(query)}) must return ${json(ids)} with total ${total}, got ${json(idsOf(page))} with total ${page.total}`);
        };
        await expect({ status: 'complete' }, [one]);
        await expect({ status: 'active' }, [four, two]);
        await expect({ status: 'failed' }, [three]);
        await expect({ idPrefix: 'abcdef12' }, [three, two, one]);
        await expect({ idPrefix: 'abcdef12', limit: 1 }, [three], 3);
        await expect({ idPrefix: 'abcdef12', limit: 1, offset: 2 }, [one], 3);
        await expect({ idPrefix: four }, [four]);
        await expect({ idPrefix: '00000000' }, []);
        // A prefix is text, never a pattern: SQL wildcards must match only themselves.
        await expect({ idPrefix: '%' }, []);
        await expect({ idPrefix: '________' }, []);
        await expect({ idPrefix: 'abcdef1_' }, []);
        await expect({ userId: 'alice' }, [four, one]);
        await expect({ userId: 'nobody' }, []);
        await expect({ status: 'active', userId: 'alice' }, [four]);
        await expect({ idPrefix: 'abcdef12', status: 'active' }, [two]);
        await expect({ idPrefix: 'abcdef12', userId: 'alice' }, [one]);
        await expect({ idPrefix: 'abcdef12', userId: 'alice', status: 'active' }, []);
      },
    },
    {
      name: 'deletes a thread with everything under it: gone from get, list, search, cost and export; false the second time',
      body: async (open) => {
        const driver = await open();
        const [doomed, kept] = [id(), id()];
        await seed(driver, ACME, newThread(doomed, 'Shard the orders table?', at(1), 'alice'), {
          turns: [turn(1, 'Shard the orders table by tenant'), turn(2, 'Shard the orders table by region')],
          finish: { status: 'complete', at: at(300) },
          outcome: { result: 'success', notes: 'it worked', at: at(301) },
        });
        await seed(driver, ACME, newThread(kept, 'Pick a CDN', at(2), 'bob'), { turns: [turn(1, 'Use a CDN')] });
        check((await driver.deleteThread(ACME, doomed)) === true, 'deleteThread must return true when it deleted a thread');
        check((await driver.getThread(ACME, doomed)) === null, 'a deleted thread must not be found by getThread');
        const page = await list(driver, ACME);
        check(json(idsOf(page)) === json([kept]) && page.total === 1, `a deleted thread must not be listed or counted, got ${json(page)}`);
        check((await list(driver, ACME, { idPrefix: doomed })).total === 0, 'a deleted thread must not match an id prefix');
        if (driver.search) {
          const hits = await driver.search(ACME, 'orders', { limit: 10 });
          check(!hits.some((hit) => hit.threadId === doomed), `a deleted thread must not be found by search, got ${json(hits)}`);
        }
        if (driver.costReport) {
          const keptThread = await driver.getThread(ACME, kept);
          sameCost(await driver.costReport(ACME, { groupBy: 'user' }), costRowsOf([keptThread!], 'user'), 'costReport after a delete');
        }
        const exported = await collect(driver.exportThreads(ACME));
        check(json(exported.map((thread) => thread.id)) === json([kept]), `a deleted thread must not be exported, got ${json(exported.map((thread) => thread.id))}`);
        check((await driver.deleteThread(ACME, doomed)) === false, 'deleting the same thread again must return false');
        // Nothing was left under the id: the same id starts over empty.
        await driver.createThread(ACME, newThread(doomed, 'Reborn', at(3)));
        const reborn = await driver.getThread(ACME, doomed);
        check(reborn?.turns.length === 0 && reborn.outcome === null && reborn.status === 'active', `a re-created id must have no turns, outcome or old status left over, got ${json(reborn)}`);
        await driver.appendTurn(ACME, doomed, turn(1, 'fresh'));
        check((await driver.getThread(ACME, doomed))?.turns.length === 1, 'round 1 of a re-created id must be writable again');
      },
    },
    {
      name: "saves feedback on the latest decision's round and replaces it when given again, keeping createdAt",
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Q?', at(1)), { turns: [turn(1), turn(2), bareTurn(3)], finish: { status: 'complete', at: at(200) } });
        await driver.saveOutcome(ACME, threadId, { result: 'partial', notes: 'worked for reads', at: at(400) });
        same((await driver.getThread(ACME, threadId))?.outcome, { result: 'partial', notes: 'worked for reads', roundNumber: 2, createdAt: at(400), updatedAt: at(400) }, 'feedback must be attached to round 2, the latest round with a decision');
        await driver.saveOutcome(ACME, threadId, { result: 'failure', notes: null, at: at(500) });
        const replaced = await driver.getThread(ACME, threadId);
        same(replaced?.outcome, { result: 'failure', notes: null, roundNumber: 2, createdAt: at(400), updatedAt: at(500) }, 'feedback given again must replace the first, keeping its createdAt');
        check(replaced?.turns.length === 3 && replaced.status === 'complete', 'feedback must not change the turns or the status');
        const other = id();
        await seed(driver, ACME, newThread(other, 'Other?', at(2)), { turns: [turn(1)] });
        await driver.saveOutcome(ACME, other, { result: 'success', notes: null, at: at(600) });
        check((await driver.getThread(ACME, other))?.outcome?.result === 'success', 'feedback on one thread must be its own');
        check((await driver.getThread(ACME, threadId))?.outcome?.result === 'failure', "feedback on one thread must not touch another's");
      },
    },
    {
      name: 'rejects feedback on a thread without a decision, storing nothing',
      body: async (open) => {
        const driver = await open();
        const [empty, undecided] = [id(), id()];
        await seed(driver, ACME, newThread(empty, 'no rounds', at(1)));
        await seed(driver, ACME, newThread(undecided, 'no decision', at(2)), { turns: [bareTurn(1)] });
        for (const threadId of [empty, undecided]) {
          await rejectsWithStorageError(driver.saveOutcome(ACME, threadId, { result: 'success', notes: null, at: at(10) }), 'saveOutcome on a thread without a decision');
          check((await driver.getThread(ACME, threadId))?.outcome === null, 'rejected feedback must not be stored');
        }
      },
    },
    {
      name: 'search (when implemented) matches question or decision text case-insensitively, best match first, with the latest decision',
      body: async (open) => {
        const driver = await open();
        if (!driver.search) return;
        const [weak, unrelated, kafka, strong] = [id(), id(), id(), id()];
        await seed(driver, ACME, newThread(weak, 'Should we cache the orders?', at(1)));
        await seed(driver, ACME, newThread(unrelated, 'Pick a CDN', at(2)), { turns: [turn(1, 'Use Fastly for static assets')] });
        await seed(driver, ACME, newThread(kafka, 'Pick an event bus', at(3)), { turns: [turn(1, 'Use Kafka with log compaction')] });
        await seed(driver, ACME, newThread(strong, 'How do we shard the ORDERS table?', at(4)), {
          turns: [turn(1, 'Keep one orders table for now'), turn(2, 'Shard the orders table by tenant id', { decision: { content: 'Shard the orders table by tenant id', confidence: 0.9, rigor: 1, dissent: null, taxonomy: null } })],
          finish: { status: 'complete', at: at(300) },
        });
        await seed(driver, GLOBEX, newThread(id(), 'ORDERS everywhere: the orders table', at(5)), { turns: [turn(1, 'orders orders orders table')] });
        for (const query of ['orders', 'ORDERS', 'Orders']) {
          const hits = await driver.search(ACME, query, { limit: 10 });
          const ids = hits.map((hit) => hit.threadId);
          check(ids.includes(strong) && ids.includes(weak), `search(${json(query)}) must find both threads mentioning orders, got ${json(ids)}`);
          check(!ids.includes(unrelated) && !ids.includes(kafka), `search(${json(query)}) must not return threads that do not match, got ${json(ids)}`);
          check(ids.length === 2, `search(${json(query)}) must return only this tenant's two matches, got ${json(ids)}`);
          check(ids[0] === strong, `a thread matching in both question and decisions must outrank one matching once in its question, got ${json(ids)}`);
          for (const [index, hit] of hits.entries()) {
            check(typeof hit.score === 'number' && Number.isFinite(hit.score), `hit scores must be finite numbers, got ${json(hit.score)}`);
            if (index > 0) check(hit.score <= hits[index - 1]!.score, `scores must not increase down the list, got ${json(hits.map((item) => item.score))}`);
          }
          same(
            { ...hits[0], score: 0 },
            { threadId: strong, question: 'How do we shard the ORDERS table?', status: 'complete', createdAt: at(4), decision: 'Shard the orders table by tenant id', confidence: 0.9, rigor: 1, score: 0 },
            'a hit must carry the thread and its latest decision',
          );
          same({ ...hits[1], score: 0 }, { threadId: weak, question: 'Should we cache the orders?', status: 'active', createdAt: at(1), decision: null, confidence: null, rigor: null, score: 0 }, 'a thread without a decision has decision, confidence and rigor null');
        }
        const phrase = (await driver.search(ACME, 'orders table', { limit: 10 })).map((hit) => hit.threadId);
        check(phrase[0] === strong, `the thread matching every term must come first for "orders table", got ${json(phrase)}`);
        check(!phrase.includes(unrelated) && !phrase.includes(kafka), `"orders table" must not return threads matching neither term, got ${json(phrase)}`);
        const decisionOnly = await driver.search(ACME, 'KAFKA', { limit: 10 });
        check(json(decisionOnly.map((hit) => hit.threadId)) === json([kafka]), `a match in the decision text alone must be found, got ${json(decisionOnly.map((hit) => hit.threadId))}`);
        check(decisionOnly[0]!.decision === 'Use Kafka with log compaction' && decisionOnly[0]!.confidence === 0.85 && decisionOnly[0]!.rigor === 0.75, `the hit must carry the decision, got ${json(decisionOnly[0])}`);
        check((await driver.search(ACME, 'zeppelin', { limit: 10 })).length === 0, 'a query matching nothing must return no hits');
      },
    },
    {
      name: 'search (when implemented) honours the limit and accepts any text as a query',
      body: async (open) => {
        const driver = await open();
        if (!driver.search) return;
        const threadIds = [id(), id(), id()];
        for (const [index, threadId] of threadIds.entries()) await seed(driver, ACME, newThread(threadId, `Which database for service ${index}?`, at(index + 1)), { turns: [turn(1, 'Use a database')] });
        const all = await driver.search(ACME, 'database', { limit: 10 });
        check(all.length === 3, `all three matches expected, got ${all.length}`);
        const top = await driver.search(ACME, 'database', { limit: 1 });
        check(top.length === 1, `limit 1 must return one hit, got ${top.length}`);
        check((await driver.search(ACME, 'database', { limit: 2 })).length === 2, 'limit 2 must return two hits');
        for (const query of ['c++ "quoted" (paren) -minus *star OR AND NOT', "it's 100% _under_ \\back", 'orders:table NEAR(a b) ^caret', '%', '"']) {
          const hits = await driver.search(ACME, query, { limit: 5 }).then((found) => found, (error: unknown) => error);
          check(Array.isArray(hits), `search(${json(query)}) must return hits (maybe none), not fail: got ${String(hits)}`);
          check(!hits.some((hit) => !threadIds.includes(hit.threadId)), 'hits must be threads of the scope');
        }
      },
    },
    {
      name: 'costReport (when implemented) equals costRowsOf() for every groupBy, with and without inclusive since/until bounds',
      body: async (open) => {
        const driver = await open();
        if (!driver.costReport) return;
        const call = (model: StoredContribution['model'], costUsd: number, inputTokens: number, outputTokens: number): StoredContribution => ({ model, role: 'proposer', content: 'x', inputTokens, outputTokens, costUsd, latencyMs: 1, finishReason: 'stop', truncated: false });
        const round = (roundNumber: number, completedAt: string, contributions: StoredContribution[]): StoredTurn => ({ roundNumber, state: 'COMMIT', contributions, decision: { content: 'd', confidence: 0.8, rigor: 1, dissent: null, taxonomy: null }, createdAt: completedAt, completedAt });
        const threads: StoredThread[] = [
          storedThread(ACME, id(), { userId: 'alice', createdAt: '2026-03-01T09:00:00.000Z', outcome: null, turns: [
            round(1, '2026-03-01T10:00:00.000Z', [call('anthropic:claude-opus-4-6', 0.05, 1000, 2000), call('openai:gpt-5.2', 0.02, 500, 800)]),
            round(2, '2026-03-02T00:00:00.000Z', [call('anthropic:claude-opus-4-6', 0.04, 1100, 1900), call('mistral:mistral-small-latest', 0.0003, 90, 10)]),
          ] }),
          storedThread(ACME, id(), { userId: null, createdAt: '2026-03-02T08:00:00.000Z', outcome: null, turns: [round(1, '2026-03-02T23:59:59.999Z', [call('openai:gpt-5.2', 0.031, 700, 900), call('openai:gpt-5-mini', 0.0021, 300, 400)])] }),
          storedThread(ACME, id(), { userId: 'bob', createdAt: '2026-03-03T08:00:00.000Z', outcome: null, turns: [] }),
          storedThread(ACME, id(), { userId: 'bob', createdAt: '2026-03-04T08:00:00.000Z', outcome: null, turns: [round(1, '2026-03-04T12:00:00.000Z', [call('google:gemini-2.5-pro', 0.011, 400, 600)])] }),
        ];
        for (const thread of threads) await seed(driver, ACME, newThread(thread.id, thread.question, thread.createdAt, thread.userId), { turns: thread.turns });
        await seed(driver, GLOBEX, newThread(id(), 'other tenant', '2026-03-02T09:00:00.000Z', 'alice'), { turns: [round(1, '2026-03-02T10:00:00.000Z', [call('anthropic:claude-opus-4-6', 5, 9, 9), call('globex:secret', 7, 9, 9)])] });
        const bounds: { since?: string; until?: string }[] = [
          {},
          { since: '2026-03-02T00:00:00.000Z' },
          { until: '2026-03-02T23:59:59.999Z' },
          { since: '2026-03-02T00:00:00.000Z', until: '2026-03-02T23:59:59.999Z' },
          { since: '2026-03-01T10:00:00.001Z', until: '2026-03-04T11:59:59.999Z' },
          { since: '2026-04-01T00:00:00.000Z' },
          { until: '2026-02-28T23:59:59.999Z' },
        ];
        for (const groupBy of ['model', 'provider', 'user', 'day'] as const) {
          for (const bound of bounds) {
            const rows = await driver.costReport(ACME, { groupBy, ...bound });
            sameCost(rows, costRowsOf(threads, groupBy, bound.since, bound.until), `costReport(${json({ groupBy, ...bound })})`);
          }
        }
      },
    },
    {
      name: "exports a scope's complete threads oldest first, and every tenant's with 'all'",
      body: async (open) => {
        const driver = await open();
        const [a1, a2, a3, g1, g2] = [id(), id(), id(), id(), id()];
        await seed(driver, GLOBEX, newThread(g1, 'g1', at(1), 'bob'), { turns: [turn(1)] });
        await seed(driver, ACME, newThread(a1, 'a1', at(2), 'alice'), { turns: [turn(1), bareTurn(2)], finish: { status: 'failed', error: 'boom', at: at(300) } });
        await seed(driver, ACME, newThread(a2, 'a2', at(3)), { turns: [turn(1)], finish: { status: 'complete', at: at(301) }, outcome: { result: 'success', notes: 'good', at: at(302) } });
        await seed(driver, ACME, newThread(a3, 'a3', at(4), 'carol'));
        await seed(driver, GLOBEX, newThread(g2, 'g2', at(5)));
        for (const [scope, ids] of [[ACME, [a1, a2, a3]], [GLOBEX, [g1, g2]]] as const) {
          const exported = await collect(driver.exportThreads(scope));
          check(json(exported.map((thread) => thread.id)) === json(ids), `exportThreads(${scope.tenant}) must yield the tenant's threads oldest first, got ${json(exported.map((thread) => thread.id))}`);
          for (const thread of exported) same(thread, await driver.getThread(scope, thread.id), `exported thread ${thread.id} must be complete (turns, outcome, status, error) and equal getThread()`);
        }
        const all = await collect(driver.exportThreads('all'));
        check(all.length === 5, `exportThreads('all') must yield every tenant's threads, got ${all.length}`);
        for (const [scope, ids] of [[ACME, [a1, a2, a3]], [GLOBEX, [g1, g2]]] as const) {
          const ofTenant = all.filter((thread) => thread.tenant === scope.tenant);
          check(json(ofTenant.map((thread) => thread.id)) === json(ids), `exportThreads('all') must yield ${scope.tenant}'s threads oldest first, got ${json(ofTenant.map((thread) => thread.id))}`);
          for (const thread of ofTenant) same(thread, await driver.getThread(scope, thread.id), `exportThreads('all') thread ${thread.id} must equal getThread()`);
        }
        check((await collect(driver.exportThreads({ tenant: 'initech' }))).length === 0, 'an empty tenant exports nothing');
      },
    },
    {
      name: 'imports an export into an empty driver and reads, lists, searches, costs and exports it back identically',
      body: async (open) => {
        const source = await open();
        const [a1, a2, g1] = [id(), id(), id()];
        await seed(source, ACME, newThread(a1, 'Shard the orders table?', at(1), 'alice'), { turns: [turn(1), bareTurn(2)], finish: { status: 'failed', error: 'boom', at: at(300) } });
        await seed(source, ACME, newThread(a2, 'Pick a CDN', at(2)), { turns: [turn(1, 'Use Fastly')], finish: { status: 'complete', at: at(301) }, outcome: { result: 'success', notes: 'fast', at: at(302) } });
        await seed(source, GLOBEX, newThread(g1, 'Other tenant', at(3), 'bob'));
        const backup = await collect(source.exportThreads('all'));
        const target = await open();
        const result = await target.importThreads(backup, { mode: 'merge' });
        check(result.threads === 3, `importThreads must report the threads written, expected 3, got ${json(result)}`);
        for (const scope of [ACME, GLOBEX]) {
          same(await collect(target.exportThreads(scope)), await collect(source.exportThreads(scope)), `${scope.tenant}'s threads must survive export → import → export unchanged`);
          same(await list(target, scope), await list(source, scope), `${scope.tenant}'s listing must be the same after an import`);
        }
        same(await target.getThread(ACME, a1), await source.getThread(ACME, a1), 'an imported thread must read back whole');
        if (target.search) {
          const hits = await target.search(ACME, 'orders', { limit: 10 });
          check(hits.some((hit) => hit.threadId === a1), `imported threads must be searchable, got ${json(hits)}`);
        }
        if (target.costReport) sameCost(await target.costReport(ACME, { groupBy: 'model' }), costRowsOf(backup.filter((thread) => thread.tenant === 'acme'), 'model'), 'costReport over imported threads');
        // Imported rounds count as written, and the thread takes new ones.
        await rejectsWithStorageError(target.appendTurn(ACME, a1, turn(1, 'again')), 'appending an imported round again');
        await target.appendTurn(ACME, a1, turn(3));
        check((await target.getThread(ACME, a1))?.turns.length === 3, 'an imported thread must accept its next round');
        await target.saveOutcome(ACME, a2, { result: 'failure', notes: null, at: at(400) });
        same((await target.getThread(ACME, a2))?.outcome, { result: 'failure', notes: null, roundNumber: 1, createdAt: at(302), updatedAt: at(400) }, 'feedback on an imported thread must replace its imported feedback');
      },
    },
    {
      name: 'import merge upserts whole threads by id and keeps the others',
      body: async (open) => {
        const driver = await open();
        const [x, y, z] = [id(), id(), id()];
        await seed(driver, ACME, newThread(x, 'old x', at(1)), { turns: [turn(1, 'old one'), turn(2, 'old two')] });
        await seed(driver, ACME, newThread(y, 'y', at(2)), { turns: [turn(1)] });
        const keptY = await driver.getThread(ACME, y);
        const newX = storedThread(ACME, x, { question: 'new x', createdAt: at(1), turns: [turn(1, 'new one')], outcome: { result: 'success', notes: null, roundNumber: 1, createdAt: at(210), updatedAt: at(210) } });
        const newZ = storedThread(ACME, z, { createdAt: at(3), userId: null, status: 'failed', error: 'boom', outcome: null });
        const result = await driver.importThreads([newX, newZ], { mode: 'merge' });
        check(result.threads === 2, `importThreads must report 2 threads, got ${json(result)}`);
        same(await driver.getThread(ACME, x), newX, 'merge must replace an existing thread whole (its old round 2 gone)');
        same(await driver.getThread(ACME, z), newZ, 'merge must add a new thread with every field');
        same(await driver.getThread(ACME, y), keptY, 'merge must keep threads the backup does not mention');
        check((await list(driver, ACME)).total === 3, 'merge must leave three threads');
      },
    },
    {
      name: "import replace clears the backed-up tenants' threads first and leaves other tenants alone",
      body: async (open) => {
        const driver = await open();
        const [x, y, z, w] = [id(), id(), id(), id()];
        await seed(driver, ACME, newThread(x, 'x', at(1)), { turns: [turn(1)] });
        await seed(driver, ACME, newThread(y, 'y', at(2)));
        await seed(driver, GLOBEX, newThread(w, 'w', at(3)), { turns: [turn(1)] });
        const globexBefore = await collect(driver.exportThreads(GLOBEX));
        const restored = storedThread(ACME, z);
        const result = await driver.importThreads([restored], { mode: 'replace' });
        check(result.threads === 1, `importThreads must report 1 thread, got ${json(result)}`);
        const acme = await list(driver, ACME);
        check(json(idsOf(acme)) === json([z]) && acme.total === 1, `replace must leave only the backup's threads in the tenant, got ${json(idsOf(acme))}`);
        check((await driver.getThread(ACME, x)) === null, 'replace must delete the tenant’s old threads with their turns');
        same(await driver.getThread(ACME, z), restored, 'replace must write the backup whole');
        same(await collect(driver.exportThreads(GLOBEX)), globexBefore, 'replace must not touch a tenant missing from the backup');
        const before = await snapshot(driver);
        const empty = await driver.importThreads([], { mode: 'replace' });
        check(empty.threads === 0 && (await snapshot(driver)) === before, 'an empty backup restored with replace must change nothing');
        await driver.createThread(ACME, newThread(x, 'x again', at(4)));
        check((await driver.getThread(ACME, x))?.turns.length === 0, 'an id deleted by replace must start over empty');
      },
    },
    {
      name: 'import is idempotent: the same batch twice gives the same store, with merge and with replace',
      body: async (open) => {
        for (const mode of ['merge', 'replace'] as const) {
          const driver = await open();
          await seed(driver, ACME, newThread(id(), 'already there', at(1)), { turns: [turn(1)] });
          const batch = [storedThread(ACME, id(), { createdAt: at(2) }), storedThread(ACME, id(), { createdAt: at(3), turns: [bareTurn(1)], outcome: null }), storedThread(GLOBEX, id(), { createdAt: at(4) })];
          await driver.importThreads(batch, { mode });
          const once = await snapshot(driver);
          const totals = [(await list(driver, ACME)).total, (await list(driver, GLOBEX)).total];
          const again = await driver.importThreads(batch, { mode });
          check(again.threads === 3, `the second import must report 3 threads, got ${json(again)}`);
          check((await snapshot(driver)) === once, `importing the same batch twice with ${mode} must give the same store`);
          const after = [(await list(driver, ACME)).total, (await list(driver, GLOBEX)).total];
          check(json(after) === json(totals), `importing twice with ${mode} must not duplicate threads: totals ${json(totals)} became ${json(after)}`);
        }
      },
    },
    {
      name: 'import is all or nothing: a batch with one bad record writes nothing, with merge and with replace',
      body: async (open) => {
        const driver = await open();
        const [x, w] = [id(), id()];
        await seed(driver, ACME, newThread(x, 'x', at(1)), { turns: [turn(1)], outcome: { result: 'success', notes: null, at: at(200) } });
        await seed(driver, GLOBEX, newThread(w, 'w', at(2)));
        const before = await snapshot(driver);
        const fresh = id();
        const good = storedThread(ACME, fresh, { createdAt: at(3) });
        const badContributions = storedThread(ACME, id(), { createdAt: at(4), turns: [{ ...turn(1), contributions: 'not an array' as unknown as StoredContribution[] }] });
        const withoutId: Partial<StoredThread> = storedThread(GLOBEX, id(), { createdAt: at(5) });
        delete withoutId.id;
        const replacingX = storedThread(ACME, x, { question: 'overwritten' });
        for (const [what, bad] of [['a turn whose contributions is not an array', badContributions], ['a thread missing its id', withoutId as unknown as StoredThread]] as const) {
          for (const mode of ['merge', 'replace'] as const) {
            await rejectsWithStorageError(driver.importThreads([good, replacingX, bad], { mode }), `importThreads (${mode}) with ${what}`);
            check((await snapshot(driver)) === before, `a rejected import (${mode}, ${what}) must leave the store exactly as it was`);
            check((await driver.getThread(ACME, fresh)) === null, `a rejected import (${mode}, ${what}) must not write its good records`);
          }
        }
      },
    },
    {
      name: 'returns copies: changing what was read or what was passed in does not change what is stored',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        const input = newThread(threadId, 'Q?', at(1), 'alice');
        await driver.createThread(ACME, input);
        poke(input, ['question'], 'changed');
        const written = turn(1);
        await driver.appendTurn(ACME, threadId, written);
        poke(written, ['contributions', 0, 'content'], 'changed');
        poke(written, ['contributions', 0, 'providerMetadata', 'nested', 'depth'], 99);
        poke(written, ['decision', 'taxonomy', 'category'], 'changed');
        await driver.saveOutcome(ACME, threadId, { result: 'success', notes: 'n', at: at(200) });
        const stored = await driver.getThread(ACME, threadId);
        check(stored?.question === 'Q?', 'changing the object passed to createThread must not change what is stored');
        same(stored.turns[0], turn(1), 'changing a turn after appendTurn must not change the stored turn');
        const expected = canonical(stored);
        poke(stored, ['question'], 'changed');
        poke(stored, ['turns', 0, 'contributions', 0, 'content'], 'changed');
        poke(stored, ['turns', 0, 'contributions', 0, 'providerMetadata', 'citations', 0], 'changed');
        poke(stored, ['turns', 0, 'decision', 'content'], 'changed');
        poke(stored, ['turns', 0, 'decision', 'taxonomy', 'intent'], 'changed');
        poke(stored, ['outcome', 'notes'], 'changed');
        (stored.turns as StoredTurn[]).push(turn(9));
        check(canonical(await driver.getThread(ACME, threadId)) === expected, 'changing a thread returned by getThread must not change what is stored');
        const page = await list(driver, ACME);
        poke(page.threads[0], ['question'], 'changed');
        check((await list(driver, ACME)).threads[0]?.question === 'Q?', 'changing a listed summary must not change what is stored');
        const [exported] = await collect(driver.exportThreads(ACME));
        poke(exported, ['turns', 0, 'decision', 'content'], 'changed');
        poke(exported, ['turns', 0, 'contributions', 0, 'providerMetadata', 'nested', 'flag'], false);
        check(canonical(await driver.getThread(ACME, threadId)) === expected, 'changing an exported thread must not change what is stored');
        const imported = storedThread(ACME, id());
        await driver.importThreads([imported], { mode: 'merge' });
        const importedCopy = canonical(imported);
        poke(imported, ['question'], 'changed');
        poke(imported, ['turns', 0, 'contributions', 0, 'providerMetadata', 'citations', 0], 'changed');
        poke(imported, ['outcome', 'result'], 'failure');
        check(canonical(await driver.getThread(ACME, imported.id)) === importedCopy, 'changing the threads passed to importThreads must not change what is stored');
      },
    },
    {
      name: 'isolates tenants on reads: another tenant cannot get, list, count, search, cost or export a thread',
      body: async (open) => {
        const driver = await open();
        const [secret, own] = [id(), id()];
        await seed(driver, ACME, newThread(secret, 'Shard the orders table?', at(1), 'alice'), {
          turns: [turn(1, 'Shard the orders table by tenant')],
          finish: { status: 'complete', at: at(300) },
          outcome: { result: 'success', notes: null, at: at(301) },
        });
        await seed(driver, GLOBEX, newThread(own, 'Pick a CDN', at(2), 'bob'), { turns: [turn(1, 'Use a CDN', { contributions: [{ model: 'globex:cdn-model', role: 'proposer', content: 'cdn', inputTokens: 1, outputTokens: 2, costUsd: 0.5, latencyMs: 1, finishReason: 'stop', truncated: false }] })] });
        const ownThreads = [(await driver.getThread(GLOBEX, own))!];
        check((await driver.getThread(ACME, secret)) !== null, 'the owner tenant must read its thread');
        for (const scope of [GLOBEX, ACME_UPPER]) {
          const who = `tenant ${json(scope.tenant)}`;
          const mine = scope === GLOBEX ? ownThreads : [];
          check((await driver.getThread(scope, secret)) === null, `${who} can read tenant "acme"'s thread through getThread`);
          const page = await list(driver, scope);
          check(!idsOf(page).includes(secret) && page.total === mine.length, `${who} can list or count tenant "acme"'s thread: got ${json(idsOf(page))}, total ${page.total}`);
          for (const query of [{ idPrefix: secret }, { idPrefix: secret.slice(0, 8) }, { userId: 'alice' }, { status: 'complete' as const }]) {
            const filtered = await list(driver, scope, query);
            check(filtered.total === 0 && filtered.threads.length === 0, `${who} can list or count tenant "acme"'s thread with ${json(query)}: got ${json(filtered)}`);
          }
          if (driver.search) {
            const hits = await driver.search(scope, 'orders', { limit: 10 });
            check(hits.length === 0, `${who} can find tenant "acme"'s thread through search: got ${json(hits)}`);
          }
          if (driver.costReport) {
            for (const groupBy of ['model', 'provider', 'user', 'day'] as const) {
              sameCost(await driver.costReport(scope, { groupBy }), costRowsOf(mine, groupBy), `${who} costReport by ${groupBy} must count only its own threads`);
            }
          }
          const exported = await collect(driver.exportThreads(scope));
          check(json(exported.map((thread) => thread.id)) === json(mine.map((thread) => thread.id)), `${who} can export tenant "acme"'s thread: got ${json(exported.map((thread) => thread.id))}`);
        }
        check((await driver.getThread(ACME, own)) === null, 'tenant "acme" can read tenant "globex"\'s thread through getThread');
        check(json(idsOf(await list(driver, ACME))) === json([secret]), 'tenant "acme" must list only its own thread');
      },
    },
    {
      name: "isolates tenants on writes: another tenant cannot append to, finish, give feedback on or delete a thread",
      body: async (open) => {
        const driver = await open();
        const [secret, own] = [id(), id()];
        await seed(driver, ACME, newThread(secret, 'Shard the orders table?', at(1), 'alice'), { turns: [turn(1)] });
        await seed(driver, GLOBEX, newThread(own, 'Pick a CDN', at(2), 'bob'));
        const before = await driver.getThread(ACME, secret);
        for (const scope of [GLOBEX, ACME_UPPER]) {
          const who = `tenant ${json(scope.tenant)}`;
          await rejectsWithStorageError(driver.appendTurn(scope, secret, turn(2)), `${who} appending to tenant "acme"'s thread`);
          await rejectsWithStorageError(driver.finishThread(scope, secret, { status: 'failed', error: 'hijacked', at: at(400) }), `${who} finishing tenant "acme"'s thread`);
          await rejectsWithStorageError(driver.saveOutcome(scope, secret, { result: 'failure', notes: 'hijacked', at: at(401) }), `${who} giving feedback on tenant "acme"'s thread`);
          check((await driver.deleteThread(scope, secret)) === false, `${who} can delete tenant "acme"'s thread (deleteThread returned true)`);
          same(await driver.getThread(ACME, secret), before, `writes from ${who} must leave tenant "acme"'s thread unchanged`);
          check((await driver.getThread(scope, secret)) === null, `a rejected write from ${who} must not create a thread in that tenant`);
        }
        check(json(idsOf(await list(driver, GLOBEX))) === json([own]), 'tenant "globex" must still list only its own thread');
      },
    },
    {
      name: 'keeps the same thread id in two tenants as two independent threads',
      body: async (open) => {
        const driver = await open();
        const shared = id();
        await driver.createThread(ACME, newThread(shared, 'Acme question about orders', at(1), 'alice'));
        await driver.createThread(GLOBEX, newThread(shared, 'Globex question', at(2), 'bob'));
        await driver.appendTurn(ACME, shared, turn(1, 'Acme decision about orders'));
        await driver.appendTurn(GLOBEX, shared, turn(1, 'Globex decision'));
        await driver.appendTurn(GLOBEX, shared, turn(2, 'Globex second decision'));
        await driver.finishThread(GLOBEX, shared, { status: 'failed', error: 'boom', at: at(300) });
        await driver.saveOutcome(ACME, shared, { result: 'success', notes: null, at: at(301) });
        const [acme, globex] = [await driver.getThread(ACME, shared), await driver.getThread(GLOBEX, shared)];
        check(acme?.tenant === 'acme' && acme.question === 'Acme question about orders' && acme.userId === 'alice', `tenant "acme" must read its own thread, got ${json(acme)}`);
        check(acme.status === 'active' && acme.error === null && acme.turns.length === 1 && acme.turns[0]!.decision?.content === 'Acme decision about orders', `tenant "globex"'s writes leaked into tenant "acme"'s thread: ${json(acme)}`);
        check(acme.outcome?.result === 'success', 'tenant "acme"\'s feedback must be stored on its thread');
        check(globex?.tenant === 'globex' && globex.question === 'Globex question' && globex.status === 'failed' && globex.turns.length === 2 && globex.outcome === null, `tenant "acme"'s writes leaked into tenant "globex"'s thread: ${json(globex)}`);
        if (driver.search) {
          const hits = await driver.search(GLOBEX, 'orders', { limit: 10 });
          check(hits.length === 0, `search in tenant "globex" must not match tenant "acme"'s text under the shared id, got ${json(hits)}`);
        }
        const all = await collect(driver.exportThreads('all'));
        check(all.filter((thread) => thread.id === shared).length === 2, "exportThreads('all') must yield both threads with the shared id");
        check((await driver.deleteThread(GLOBEX, shared)) === true, 'tenant "globex" must delete its own thread');
        same(await driver.getThread(ACME, shared), acme, 'deleting the id in one tenant must not touch the other tenant’s thread');
        check((await list(driver, ACME)).total === 1 && (await list(driver, GLOBEX)).total === 0, 'each tenant must count only its own threads');
      },
    },
    {
      name: 'isolates tenants on import: restoring one tenant (merge or replace) never touches another',
      body: async (open) => {
        const driver = await open();
        const [shared, other] = [id(), id()];
        await seed(driver, ACME, newThread(shared, 'acme original', at(1), 'alice'), { turns: [turn(1)] });
        await seed(driver, GLOBEX, newThread(other, 'globex original', at(2)));
        const acmeBefore = await collect(driver.exportThreads(ACME));
        const globexCopy = storedThread(GLOBEX, shared, { question: 'globex restored' });
        await driver.importThreads([globexCopy], { mode: 'merge' });
        same(await collect(driver.exportThreads(ACME)), acmeBefore, 'a merge into tenant "globex" with an id tenant "acme" also has must not touch tenant "acme"');
        same(await driver.getThread(GLOBEX, shared), globexCopy, 'the merged thread must land in its own tenant');
        await driver.importThreads([{ ...globexCopy, question: 'globex replaced' }], { mode: 'replace' });
        same(await collect(driver.exportThreads(ACME)), acmeBefore, 'a replace of tenant "globex" must not touch tenant "acme"');
        check(json(idsOf(await list(driver, GLOBEX))) === json([shared]), 'a replace of tenant "globex" must clear only its old threads');
      },
    },

    // ---- identity records (optional methods: each case checks what the driver implements) ----
    {
      name: 'users (when implemented): create and read back every field by id and by email; a duplicate id or email in the tenant is rejected',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'getUser', 'getUserByEmail', 'listUsers')) return;
        const alice = newUser('u-alice', 'alice@example.com', at(1), { role: 'admin' });
        const bob = newUser('u-bob', 'bob@example.com', at(2), { passwordHash: null, active: false });
        await driver.createUser!(ACME, alice);
        await driver.createUser!(ACME, bob);
        same(await driver.getUser!(ACME, alice.id), { ...alice, tenant: 'acme', updatedAt: alice.createdAt }, 'a new user must read back with every field (updatedAt = createdAt)');
        same(await driver.getUserByEmail!(ACME, bob.email), { ...bob, tenant: 'acme', updatedAt: bob.createdAt }, 'getUserByEmail must find the user, with a null password hash and active false kept');
        check((await driver.getUser!(ACME, 'u-nobody')) === null && (await driver.getUserByEmail!(ACME, 'nobody@example.com')) === null, 'unknown users must read as null');
        await rejectsWithStorageError(driver.createUser!(ACME, newUser(alice.id, 'other@example.com', at(3))), 'creating a user with an existing id');
        await rejectsWithStorageError(driver.createUser!(ACME, newUser('u-alice-2', alice.email, at(3))), 'creating a user with an email another user of the tenant has');
        const page = await driver.listUsers!(ACME, { limit: 10, offset: 0 });
        check(page.total === 2, `rejected users must not be stored, got total ${page.total}`);
        same(await driver.getUser!(ACME, alice.id), { ...alice, tenant: 'acme', updatedAt: alice.createdAt }, 'a rejected duplicate must leave the original unchanged');
      },
    },
    {
      name: 'users (when implemented): list oldest first with paging and a total; update role, display name, active flag and password hash',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'getUser', 'listUsers', 'updateUser')) return;
        const ids = ['u3', 'u1', 'u2', 'u4'];
        for (const [index, userId] of ids.entries()) await driver.createUser!(ACME, newUser(userId, `${userId}@example.com`, at(index + 1)));
        const first = await driver.listUsers!(ACME, { limit: 3, offset: 0 });
        const second = await driver.listUsers!(ACME, { limit: 3, offset: 3 });
        check(first.total === 4 && second.total === 4, `listUsers must report the total of every user, got ${first.total} and ${second.total}`);
        check(json([...first.users, ...second.users].map((user) => user.id)) === json(ids), `users must be listed oldest first across pages, got ${json([...first.users, ...second.users].map((user) => user.id))}`);
        const updated = await driver.updateUser!(ACME, 'u1', { role: 'admin', at: at(50) });
        check(updated?.role === 'admin' && updated.updatedAt === at(50) && updated.displayName === 'User u1 — ünïcødé' && updated.passwordHash !== null && updated.active, `updateUser must change only the given fields and set updatedAt, got ${json(updated)}`);
        const cleared = await driver.updateUser!(ACME, 'u1', { displayName: 'Renamed', active: false, passwordHash: null, at: at(60) });
        same(cleared, { ...newUser('u1', 'u1@example.com', at(2)), role: 'admin', displayName: 'Renamed', active: false, passwordHash: null, tenant: 'acme', updatedAt: at(60) }, 'updateUser must set display name, active false and a null password hash');
        same(await driver.getUser!(ACME, 'u1'), cleared, 'the update must be stored');
        const rehashed = await driver.updateUser!(ACME, 'u1', { passwordHash: '$scrypt$N=2048,r=8,p=1$bmV3$bmV3', at: at(70) });
        check(rehashed?.passwordHash === '$scrypt$N=2048,r=8,p=1$bmV3$bmV3' && rehashed.displayName === 'Renamed' && rehashed.active === false, `updateUser must set a new password hash and keep the rest, got ${json(rehashed)}`);
        check((await driver.getUser!(ACME, 'u1'))?.sessionsEndedAt === undefined, 'a user whose sessions were never ended must have no sessionsEndedAt');
        const ended = await driver.updateUser!(ACME, 'u1', { sessionsEndedAt: at(75), at: at(75) });
        check(ended?.sessionsEndedAt === at(75) && ended.passwordHash === '$scrypt$N=2048,r=8,p=1$bmV3$bmV3', `updateUser must set sessionsEndedAt and keep the rest, got ${json(ended)}`);
        check((await driver.updateUser!(ACME, 'u1', { role: 'viewer', at: at(76) }))?.sessionsEndedAt === at(75), 'an update without sessionsEndedAt must keep it');
        same(await driver.getUser!(ACME, 'u1'), { ...ended, role: 'viewer', updatedAt: at(76) }, 'getUser must read sessionsEndedAt back');
        // ifSessionsEndedAt: a compare-and-set on it (null: never ended).
        const stale = await driver.updateUser!(ACME, 'u1', { sessionsEndedAt: at(77), ifSessionsEndedAt: null, at: at(77) });
        check(stale?.sessionsEndedAt === at(75) && stale.updatedAt === at(76), `a compare-and-set on sessionsEndedAt that misses must change nothing, got ${json(stale)}`);
        const moved = await driver.updateUser!(ACME, 'u1', { sessionsEndedAt: at(78), ifSessionsEndedAt: at(75), at: at(78) });
        check(moved?.sessionsEndedAt === at(78), `a compare-and-set on the stored sessionsEndedAt must write, got ${json(moved)}`);
        check((await driver.updateUser!(ACME, 'u2', { sessionsEndedAt: at(79), ifSessionsEndedAt: null, at: at(79) }))?.sessionsEndedAt === at(79), 'ifSessionsEndedAt: null must match a user whose sessions were never ended');
        check((await driver.updateUser!(ACME, 'u-missing', { role: 'admin', at: at(80) })) === null, 'updateUser of an unknown user must return null');
        check((await driver.listUsers!(ACME, { limit: 10, offset: 0 })).total === 4, 'updateUser of an unknown user must not create one');
      },
    },
    {
      name: 'users (when implemented): updateUser with ifPasswordHash is a compare-and-set on the stored hash (null included); a miss changes nothing and returns the user as stored',
      body: async (open, reopen) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'getUser', 'updateUser')) return;
        const [oldHash, resetHash, rehashA, rehashB] = ['$scrypt$N=1024,r=8,p=1$b2xk$b2xk', '$scrypt$N=2048,r=8,p=1$cmVz$cmVz', '$scrypt$N=2048,r=8,p=1$YQ$YQ', '$scrypt$N=2048,r=8,p=1$Yg$Yg'];
        await driver.createUser!(ACME, { ...newUser('cas', 'cas@example.com', at(1)), passwordHash: oldHash });
        // An admin's reset lands first; a re-hash of the old password must not overwrite it.
        await driver.updateUser!(ACME, 'cas', { passwordHash: resetHash, at: at(10) });
        const missed = await driver.updateUser!(ACME, 'cas', { passwordHash: rehashA, ifPasswordHash: oldHash, role: 'admin', at: at(11) });
        check(missed?.passwordHash === resetHash && missed.role === 'contributor' && missed.updatedAt === at(10), `a compare-and-set that misses must change nothing and return the user as stored, got ${json(missed)}`);
        same(await driver.getUser!(ACME, 'cas'), missed, 'a missed compare-and-set must leave the stored user as it was');
        const hit = await driver.updateUser!(ACME, 'cas', { passwordHash: rehashA, ifPasswordHash: resetHash, at: at(12) });
        check(hit?.passwordHash === rehashA && hit.updatedAt === at(12), `a compare-and-set on the stored hash must write, got ${json(hit)}`);
        // null means "no password": the guard matches only a user without one.
        check((await driver.updateUser!(ACME, 'cas', { passwordHash: rehashB, ifPasswordHash: null, at: at(13) }))?.passwordHash === rehashA, 'ifPasswordHash: null must not match a user with a password');
        await driver.updateUser!(ACME, 'cas', { passwordHash: null, at: at(14) });
        check((await driver.updateUser!(ACME, 'cas', { passwordHash: rehashB, ifPasswordHash: null, at: at(15) }))?.passwordHash === rehashB, 'ifPasswordHash: null must match a user without a password');
        check((await driver.updateUser!(ACME, 'nobody', { passwordHash: rehashB, ifPasswordHash: null, at: at(16) })) === null, 'a compare-and-set on an unknown user must return null');
        // Two re-hashes at once (from two connections when reopen is given): exactly one lands.
        const other = await reopen(driver);
        const results = await Promise.all([
          driver.updateUser!(ACME, 'cas', { passwordHash: rehashA, ifPasswordHash: rehashB, at: at(20) }),
          other.updateUser!(ACME, 'cas', { passwordHash: resetHash, ifPasswordHash: rehashB, at: at(21) }),
        ]);
        const stored = (await driver.getUser!(ACME, 'cas'))!.passwordHash;
        check([rehashA, resetHash].includes(stored!), `one of two concurrent compare-and-sets must land, stored ${json(stored)}`);
        check(results.filter((result) => result?.passwordHash === stored).length >= 1, `the winner must see its own hash, got ${json(results.map((result) => result?.passwordHash))}`);
        check(results.filter((result, index) => result?.passwordHash === [rehashA, resetHash][index]).length === 1, `exactly one of two concurrent compare-and-sets must report its write, got ${json(results.map((result) => result?.passwordHash))}`);
      },
    },
    {
      name: 'users (when implemented): isolate tenants: the same id and email live in two tenants; no cross-tenant read, list, count or update',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'getUser', 'getUserByEmail', 'listUsers', 'updateUser')) return;
        await driver.createUser!(ACME, newUser('u1', 'shared@example.com', at(1), { role: 'admin' }));
        await driver.createUser!(GLOBEX, newUser('u1', 'shared@example.com', at(2), { role: 'viewer' }));
        await driver.createUser!(ACME, newUser('u2', 'only-acme@example.com', at(3)));
        const before = await driver.getUser!(ACME, 'u2');
        for (const scope of [GLOBEX, ACME_UPPER]) {
          const who = `tenant ${json(scope.tenant)}`;
          check((await driver.getUser!(scope, 'u2')) === null && (await driver.getUserByEmail!(scope, 'only-acme@example.com')) === null, `${who} can read tenant "acme"'s user`);
          const page = await driver.listUsers!(scope, { limit: 10, offset: 0 });
          check(!page.users.some((user) => user.id === 'u2') && page.total === (scope === GLOBEX ? 1 : 0), `${who} can list or count tenant "acme"'s users: ${json(page)}`);
          check((await driver.updateUser!(scope, 'u2', { role: 'admin', active: false, at: at(90) })) === null, `${who} can update tenant "acme"'s user`);
        }
        same(await driver.getUser!(ACME, 'u2'), before, 'cross-tenant updates must leave the user unchanged');
        check((await driver.getUser!(ACME, 'u1'))?.role === 'admin' && (await driver.getUser!(GLOBEX, 'u1'))?.role === 'viewer', 'the same user id in two tenants must be two users');
        await driver.updateUser!(GLOBEX, 'u1', { role: 'contributor', at: at(91) });
        check((await driver.getUser!(ACME, 'u1'))?.role === 'admin', 'updating tenant "globex"\'s user must not touch tenant "acme"\'s user with the same id');
      },
    },
    {
      name: 'API keys (when implemented): create, find by id from any tenant with its tenant, list newest first (all or one user\'s); an unknown user or a duplicate id is rejected',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'createApiKey', 'findApiKey', 'listApiKeys')) return;
        await driver.createUser!(ACME, newUser('u1', 'u1@example.com', at(1)));
        await driver.createUser!(ACME, newUser('u2', 'u2@example.com', at(2)));
        await driver.createUser!(GLOBEX, newUser('g1', 'g1@example.com', at(3)));
        const k1 = newKey('key-one', 'u1', at(10), { scopes: ['admin'], expiresAt: at(1000) });
        const k2 = newKey('key-two', 'u2', at(11), { scopes: [] });
        const k3 = newKey('key-three', 'u1', at(12));
        for (const key of [k1, k2, k3]) await driver.createApiKey!(ACME, key);
        await driver.createApiKey!(GLOBEX, newKey('key-globex', 'g1', at(13)));
        const stored = (key: NewApiKey, tenant: string) => ({ ...key, scopes: [...key.scopes], tenant, revokedAt: null, lastUsedAt: null });
        same(await driver.findApiKey!('key-one'), stored(k1, 'acme'), 'findApiKey must return every field and the tenant');
        same(await driver.findApiKey!('key-globex'), stored(newKey('key-globex', 'g1', at(13)), 'globex'), 'findApiKey must find keys of any tenant');
        check((await driver.findApiKey!('key-missing')) === null, 'findApiKey must return null for an unknown id');
        same(await driver.listApiKeys!(ACME), [stored(k3, 'acme'), stored(k2, 'acme'), stored(k1, 'acme')], 'listApiKeys must list the tenant\'s keys newest first');
        same(await driver.listApiKeys!(ACME, { userId: 'u1' }), [stored(k3, 'acme'), stored(k1, 'acme')], 'listApiKeys with userId must list only that user\'s keys');
        await rejectsWithStorageError(driver.createApiKey!(ACME, newKey('key-one', 'u2', at(20))), 'creating a key with an existing id');
        await rejectsWithStorageError(driver.createApiKey!(ACME, newKey('key-globex', 'u2', at(20))), 'creating a key with an id another tenant uses');
        await rejectsWithStorageError(driver.createApiKey!(ACME, newKey('key-orphan', 'u-missing', at(20))), 'creating a key for an unknown user');
        await rejectsWithStorageError(driver.createApiKey!(GLOBEX, newKey('key-cross', 'u1', at(20))), 'creating a key in tenant "globex" for tenant "acme"\'s user');
        check((await driver.findApiKey!('key-orphan')) === null && (await driver.findApiKey!('key-cross')) === null, 'rejected keys must not be stored');
        check((await driver.listApiKeys!(ACME)).length === 3, 'rejected keys must not be listed');
      },
    },
    {
      name: 'API keys (when implemented): revoking keeps the first revokedAt; touching only moves lastUsedAt forward; unknown ids change nothing',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'createApiKey', 'findApiKey', 'revokeApiKey', 'touchApiKey')) return;
        await driver.createUser!(ACME, newUser('u1', 'u1@example.com', at(1)));
        await driver.createApiKey!(ACME, newKey('key-one', 'u1', at(10)));
        await driver.touchApiKey!(ACME, 'key-one', at(20));
        check((await driver.findApiKey!('key-one'))?.lastUsedAt === at(20), 'touchApiKey must set lastUsedAt');
        await driver.touchApiKey!(ACME, 'key-one', at(15));
        check((await driver.findApiKey!('key-one'))?.lastUsedAt === at(20), 'touchApiKey with an earlier time must not move lastUsedAt back');
        await driver.touchApiKey!(ACME, 'key-one', at(30));
        check((await driver.findApiKey!('key-one'))?.lastUsedAt === at(30), 'touchApiKey with a later time must move lastUsedAt forward');
        await driver.touchApiKey!(ACME, 'key-missing', at(30));
        const revoked = await driver.revokeApiKey!(ACME, 'key-one', at(40));
        check(revoked?.revokedAt === at(40) && revoked.id === 'key-one', `revokeApiKey must return the key with revokedAt set, got ${json(revoked)}`);
        const again = await driver.revokeApiKey!(ACME, 'key-one', at(50));
        check(again?.revokedAt === at(40), `revoking twice must keep the first revokedAt, got ${json(again?.revokedAt)}`);
        check((await driver.findApiKey!('key-one'))?.revokedAt === at(40), 'the revocation must be stored');
        check((await driver.revokeApiKey!(ACME, 'key-missing', at(50))) === null, 'revokeApiKey of an unknown key must return null');
      },
    },
    {
      name: 'API keys (when implemented): isolate tenants: another tenant cannot list, revoke or touch a key',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'createUser', 'createApiKey', 'findApiKey', 'listApiKeys', 'revokeApiKey', 'touchApiKey')) return;
        await driver.createUser!(ACME, newUser('u1', 'u1@example.com', at(1)));
        await driver.createUser!(GLOBEX, newUser('u1', 'u1@example.com', at(2)));
        await driver.createApiKey!(ACME, newKey('key-acme', 'u1', at(10)));
        const before = await driver.findApiKey!('key-acme');
        for (const scope of [GLOBEX, ACME_UPPER]) {
          const who = `tenant ${json(scope.tenant)}`;
          check((await driver.listApiKeys!(scope)).length === 0 && (await driver.listApiKeys!(scope, { userId: 'u1' })).length === 0, `${who} can list tenant "acme"'s key`);
          check((await driver.revokeApiKey!(scope, 'key-acme', at(20))) === null, `${who} can revoke tenant "acme"'s key`);
          await driver.touchApiKey!(scope, 'key-acme', at(21));
        }
        same(await driver.findApiKey!('key-acme'), before, 'another tenant\'s revoke or touch must leave the key unchanged');
      },
    },
    {
      name: 'provider keys (when implemented): put upserts (keeping createdAt), get returns the ciphertext, list shows metadata only, conditional put, delete',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'putProviderKey', 'getProviderKey', 'listProviderKeys', 'deleteProviderKey')) return;
        const write = (provider: string, ciphertext: string, when: string, keyId = 'k1') => ({ provider, ciphertext, iv: `iv-${ciphertext}`, tag: `tag-${ciphertext}`, keyId, at: when });
        check((await driver.putProviderKey!(ACME, write('openai', 'c1', at(1)))) === true, 'putProviderKey must return true when it writes');
        await driver.putProviderKey!(ACME, write('anthropic', 'c2', at(2)));
        same(await driver.getProviderKey!(ACME, 'openai'), { tenant: 'acme', provider: 'openai', ciphertext: 'c1', iv: 'iv-c1', tag: 'tag-c1', keyId: 'k1', createdAt: at(1), updatedAt: at(1) }, 'getProviderKey must return every field');
        await driver.putProviderKey!(ACME, write('openai', 'c3', at(5), 'k2'));
        same(await driver.getProviderKey!(ACME, 'openai'), { tenant: 'acme', provider: 'openai', ciphertext: 'c3', iv: 'iv-c3', tag: 'tag-c3', keyId: 'k2', createdAt: at(1), updatedAt: at(5) }, 'a second put must replace the key and keep createdAt');
        const listed = await driver.listProviderKeys!(ACME);
        same(listed, [
          { tenant: 'acme', provider: 'anthropic', keyId: 'k1', createdAt: at(2), updatedAt: at(2) },
          { tenant: 'acme', provider: 'openai', keyId: 'k2', createdAt: at(1), updatedAt: at(5) },
        ], 'listProviderKeys must list metadata by provider, without ciphertext, iv or tag');
        check((await driver.putProviderKey!(ACME, write('openai', 'c4', at(6)), { ifCiphertext: 'c1' })) === false, 'a conditional put with a stale ciphertext must return false');
        check((await driver.getProviderKey!(ACME, 'openai'))?.ciphertext === 'c3', 'a failed conditional put must write nothing');
        check((await driver.putProviderKey!(ACME, write('mistral', 'c5', at(6)), { ifCiphertext: 'c1' })) === false, 'a conditional put for a provider without a key must return false');
        check((await driver.getProviderKey!(ACME, 'mistral')) === null, 'a failed conditional put must not create a key');
        check((await driver.putProviderKey!(ACME, write('openai', 'c6', at(7), 'k3'), { ifCiphertext: 'c3' })) === true, 'a conditional put with the current ciphertext must write');
        same(await driver.getProviderKey!(ACME, 'openai'), { tenant: 'acme', provider: 'openai', ciphertext: 'c6', iv: 'iv-c6', tag: 'tag-c6', keyId: 'k3', createdAt: at(1), updatedAt: at(7) }, 'a conditional put must replace the key');
        check((await driver.deleteProviderKey!(ACME, 'openai')) === true && (await driver.deleteProviderKey!(ACME, 'openai')) === false, 'deleteProviderKey must return true once, then false');
        check((await driver.getProviderKey!(ACME, 'openai')) === null, 'a deleted key must be gone');
      },
    },
    {
      name: 'provider keys (when implemented): isolate tenants; only list("all") spans tenants',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'putProviderKey', 'getProviderKey', 'listProviderKeys', 'deleteProviderKey')) return;
        const write = (ciphertext: string) => ({ provider: 'openai', ciphertext, iv: 'iv', tag: 'tag', keyId: 'k1', at: at(1) });
        await driver.putProviderKey!(ACME, write('acme-secret'));
        await driver.putProviderKey!(GLOBEX, write('globex-secret'));
        check((await driver.getProviderKey!(GLOBEX, 'openai'))?.ciphertext === 'globex-secret' && (await driver.getProviderKey!(ACME, 'openai'))?.ciphertext === 'acme-secret', 'each tenant must read its own key');
        check((await driver.getProviderKey!(ACME_UPPER, 'openai')) === null && (await driver.listProviderKeys!(ACME_UPPER)).length === 0, 'tenant "ACME" can read tenant "acme"\'s key');
        check((await driver.putProviderKey!(GLOBEX, { ...write('hijack'), ciphertext: 'hijack' }, { ifCiphertext: 'acme-secret' })) === false, 'a conditional put must compare within its own tenant');
        check((await driver.deleteProviderKey!(ACME_UPPER, 'openai')) === false, 'tenant "ACME" can delete tenant "acme"\'s key');
        const listed = (await driver.listProviderKeys!(GLOBEX)).map((info) => `${info.tenant}/${info.provider}`);
        check(json(listed) === json(['globex/openai']), `tenant "globex" must list only its own key, got ${json(listed)}`);
        const everything = (await driver.listProviderKeys!('all')).map((info) => `${info.tenant}/${info.provider}`);
        check(json(everything) === json(['acme/openai', 'globex/openai']), `listProviderKeys('all') must list every tenant's keys by tenant, got ${json(everything)}`);
        await driver.deleteProviderKey!(GLOBEX, 'openai');
        check((await driver.getProviderKey!(ACME, 'openai'))?.ciphertext === 'acme-secret', 'deleting tenant "globex"\'s key must not touch tenant "acme"\'s');
      },
    },
    {
      name: 'audit (when implemented): appends link into a chain (seq 1, 2, 3…, prevHash from 64 zeros, hash of the canonical string, UUIDv7 ids) and read back exactly, in pages',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'appendAudit', 'listAudit')) return;
        const entries: AuditEntryInput[] = [
          auditEntry('run:start', { details: { models: 'openai:gpt-5.2,anthropic:claude', usd: 0.125, blind: true, none: null, '10': 'ten', '2': 'two' } }),
          auditEntry('thread:delete', { actor: null, outcome: 'deny', reason: 'denied by policy — ünïcødé', ip: '203.0.113.9', userAgent: 'duh-test/1.0 "quoted"', at: at(2) }),
          auditEntry('user:create', { outcome: 'failure', reason: null, ip: null, userAgent: null, details: {}, at: at(3) }),
          auditEntry('key:revoke', { outcome: 'allow', resource: 'api-key:k1', at: at(4) }),
        ];
        const returned: StoredAuditEvent[] = [];
        for (const entry of entries) returned.push(await driver.appendAudit!(ACME, entry));
        for (const [index, event] of returned.entries()) {
          const entry = entries[index]!;
          const expected = {
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            resource: entry.resource,
            outcome: entry.outcome,
            reason: entry.reason ?? null,
            ip: entry.ip ?? null,
            userAgent: entry.userAgent ?? null,
            details: { ...(entry.details ?? {}) },
            tenant: 'acme',
            seq: index + 1,
          };
          same({ ...event, id: undefined, prevHash: undefined, hash: undefined }, expected, `appendAudit must return entry ${index + 1} with every field (optional ones as null, details as given)`);
        }
        await checkChain(returned, 'acme', 'the entries appendAudit returned');
        const stored = await allAudit(driver, ACME);
        same(stored, returned, 'listAudit must return exactly what appendAudit returned, in ascending seq');
        await checkChain(stored, 'acme', 'the stored chain');
        same(await driver.listAudit!(ACME, { limit: 2 }), returned.slice(0, 2), 'listAudit must honour limit');
        same(await driver.listAudit!(ACME, { afterSeq: 2, limit: 10 }), returned.slice(2), 'listAudit must start after afterSeq');
        same(await driver.listAudit!(ACME, { afterSeq: 4, limit: 10 }), [], 'listAudit after the last seq must be empty');
        // Copies: changing what was read must not change what is stored.
        stored[0]!.details['usd'] = 99;
        stored[0]!.action = 'tampered';
        same(await allAudit(driver, ACME), returned, 'changing entries read from listAudit must not change what is stored');
      },
    },
    {
      name: 'audit (when implemented): rejects an invalid entry with a StorageError, writing nothing',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'appendAudit', 'listAudit')) return;
        await driver.appendAudit!(ACME, auditEntry('run:start'));
        const invalid: [string, AuditEntryInput][] = [
          ['an unknown outcome', auditEntry('run:start', { outcome: 'maybe' as AuditEntryInput['outcome'] })],
          ['an empty action', auditEntry('')],
          ['a timestamp that is not ISO 8601', auditEntry('run:start', { at: 'yesterday' })],
          ['a non-finite number in details', auditEntry('run:start', { details: { usd: Number.NaN } })],
          ['an object in details', auditEntry('run:start', { details: { nested: {} as unknown as string } })],
          ['a NUL character', auditEntry('run:start', { reason: 'bad\u0000reason' })],
        ];
        for (const [what, entry] of invalid) await rejectsWithStorageError(driver.appendAudit!(ACME, entry), `appending an entry with ${what}`);
        const stored = await allAudit(driver, ACME);
        check(stored.length === 1, `rejected entries must not be stored, got ${stored.length} entries`);
        await driver.appendAudit!(ACME, auditEntry('run:end', { at: at(9) }));
        await checkChain(await allAudit(driver, ACME), 'acme', 'the chain after rejected entries');
      },
    },
    {
      name: 'audit (when implemented): 20 concurrent appends (from two connections when reopen is given) form one unbroken chain',
      body: async (open, reopen) => {
        const driver = await open();
        if (!has(driver, 'appendAudit', 'listAudit')) return;
        await driver.appendAudit!(ACME, auditEntry('run:start')); // creates whatever the store keeps per tenant
        const other = await reopen(driver);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, index) => (index % 2 ? other : driver).appendAudit!(ACME, auditEntry(`concurrent:${index}`, { details: { index }, at: at(10 + index) }))),
        );
        const seqs = results.map((event) => event.seq).sort((a, b) => a - b);
        check(json(seqs) === json(Array.from({ length: 20 }, (_, index) => index + 2)), `concurrent appends must get seq 2..21 exactly once each, got ${json(seqs)}`);
        const stored = await allAudit(driver, ACME);
        check(stored.length === 21, `all 21 entries must be stored, got ${stored.length}`);
        await checkChain(stored, 'acme', 'the chain written concurrently');
        for (const event of results) same(stored[event.seq - 1], event, `appendAudit's answer for seq ${event.seq} must be what is stored`);
        const fresh = await driver.appendAudit!(GLOBEX, auditEntry('run:start'));
        check(fresh.seq === 1 && fresh.prevHash === AUDIT_GENESIS_HASH, 'a concurrent burst in one tenant must not advance another tenant\'s chain');
      },
    },
    {
      name: 'audit (when implemented): each tenant has its own chain; deleting or restoring threads leaves the audit log alone',
      body: async (open) => {
        const driver = await open();
        if (!has(driver, 'appendAudit', 'listAudit')) return;
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'audited?', at(1), 'alice'), { turns: [turn(1)] });
        await driver.appendAudit!(ACME, auditEntry('run:start', { resource: `thread:${threadId}` }));
        await driver.appendAudit!(GLOBEX, auditEntry('run:start', { resource: 'thread:globex' }));
        await driver.appendAudit!(ACME, auditEntry('thread:delete', { resource: `thread:${threadId}`, at: at(2) }));
        const [acme, globex] = [await allAudit(driver, ACME), await allAudit(driver, GLOBEX)];
        check(acme.length === 2 && globex.length === 1, `each tenant must keep its own entries, got ${acme.length} and ${globex.length}`);
        await checkChain(acme, 'acme', 'tenant "acme"\'s chain');
        await checkChain(globex, 'globex', 'tenant "globex"\'s chain');
        check((await allAudit(driver, ACME_UPPER)).length === 0, 'tenant "ACME" can read tenant "acme"\'s audit log');
        await driver.deleteThread(ACME, threadId);
        await driver.importThreads([storedThread(ACME, id())], { mode: 'replace' });
        same(await allAudit(driver, ACME), acme, 'deleting and restoring threads must not change the audit log');
      },
    },
  ];

  // ---- Votes, subtasks and cross-tenant cost reports: their own block of cases. Each passes at once for a driver
  // without the optional methods it needs (except the older-backup case, which every driver must pass).

  /** A vote with every field; `n` varies the numbers and the time. */
  const vote = (n: number, overrides: Partial<StoredVote> = {}): StoredVote => ({
    model: 'openai:gpt-5.2',
    content: `Vote ${n} — ünïcødé 🚀\nsecond line with "quotes" and a \\ backslash`,
    inputTokens: 100 * n,
    outputTokens: 250 * n,
    costUsd: 0.0012345678 * n,
    latencyMs: 321.5 + n,
    finishReason: 'stop',
    truncated: false,
    createdAt: at(400 + n),
    ...overrides,
  });
  const votesOf = (): StoredVote[] => [
    vote(1, { providerMetadata: { citations: ['https://example.com/v?a=1&b=2'], nested: { depth: 2, none: null } } }),
    vote(2, { model: 'perplexity:sonar-pro', finishReason: 'length', truncated: true }),
    vote(3, { model: 'anthropic:claude-opus-4-6', content: '', costUsd: 0, inputTokens: 0, outputTokens: 0 }),
  ];
  const subtask = (label: string, dependencies: string[] = [], overrides: Partial<StoredSubtask> = {}): StoredSubtask => ({
    label,
    description: `Answer ${label} — ünïcødé\n"quoted"`,
    dependencies,
    status: 'pending',
    sequenceOrder: 0,
    childThreadId: null,
    createdAt: at(300),
    updatedAt: at(300),
    ...overrides,
  });
  const hasVotes = (driver: StorageDriver) => has(driver, 'saveVotes');
  const hasSubtasks = (driver: StorageDriver) => has(driver, 'saveSubtasks', 'updateSubtask');
  /** A thread with votes and a plan (and a child thread for one subtask), through the driver's own operations. */
  const seedRecords = async (driver: StorageDriver, scope: StorageScope, threadId: string, createdAt = at(1)) => {
    const child = id();
    await seed(driver, scope, newThread(threadId, `Parent ${threadId}?`, createdAt, 'alice'), { turns: [turn(1)] });
    await seed(driver, scope, newThread(child, `Child of ${threadId}?`, at(2), 'alice'), { turns: [turn(1, 'child decision')] });
    if (hasVotes(driver)) await driver.saveVotes!(scope, threadId, votesOf());
    if (hasSubtasks(driver)) {
      await driver.saveSubtasks!(scope, threadId, [
        subtask('schema', [], { sequenceOrder: 1, status: 'complete', childThreadId: child, updatedAt: at(310) }),
        subtask('load', ['schema'], { sequenceOrder: 2 }),
      ]);
    }
    return child;
  };

  cases.push(
    {
      name: 'votes (when implemented): saveVotes appends every field exactly, in the order written, across calls; a new thread has none',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Vote on it?', at(1)), { turns: [turn(1)] });
        same((await driver.getThread(ACME, threadId))?.votes, [], 'a new thread must have no votes');
        same((await driver.getThread(ACME, threadId))?.subtasks, [], 'a new thread must have no subtasks');
        if (!hasVotes(driver)) return;
        const [first, second, third] = votesOf();
        await driver.saveVotes!(ACME, threadId, [first!, second!]);
        await driver.saveVotes!(ACME, threadId, []);
        await driver.saveVotes!(ACME, threadId, [third!]);
        const read = await driver.getThread(ACME, threadId);
        same(read?.votes, [first, second, third], 'votes must round-trip exactly, in the order written, across saveVotes calls');
        check(read?.updatedAt === third!.createdAt, `saveVotes must move the thread's updatedAt to the latest vote's createdAt, got ${json(read?.updatedAt)}`);
        same(read?.turns, [turn(1)], 'saving votes must not touch the turns');
      },
    },
    {
      name: 'votes (when implemented): a bad vote, an unknown thread or another tenant\'s thread is a StorageError that writes nothing',
      body: async (open) => {
        const driver = await open();
        if (!hasVotes(driver)) return;
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Vote?', at(1)));
        await driver.saveVotes!(ACME, threadId, [vote(1)]);
        const before = await snapshot(driver);
        const bad: [string, unknown][] = [
          ['a NaN costUsd', { ...vote(2), costUsd: Number.NaN }],
          ['a missing model', { ...vote(2), model: undefined }],
          ['a non-boolean truncated', { ...vote(2), truncated: 'no' }],
          ['a non-string content', { ...vote(2), content: 42 }],
        ];
        for (const [what, broken] of bad) {
          await rejectsWithStorageError(driver.saveVotes!(ACME, threadId, [vote(3), broken as StoredVote]), `saveVotes with ${what}`);
          check((await snapshot(driver)) === before, `a rejected saveVotes (${what}) must write nothing, not even the good votes of its batch`);
        }
        await rejectsWithStorageError(driver.saveVotes!(ACME, id(), [vote(3)]), 'saveVotes on an unknown thread');
        for (const scope of [GLOBEX, ACME_UPPER]) await rejectsWithStorageError(driver.saveVotes!(scope, threadId, [vote(3)]), `saveVotes from tenant ${json(scope.tenant)} on tenant "acme"'s thread`);
        check((await snapshot(driver)) === before, 'rejected saveVotes calls must leave the store exactly as it was');
        check((await driver.getThread(GLOBEX, threadId)) === null, 'a rejected saveVotes must not create the thread in the other tenant');
      },
    },
    {
      name: 'votes (when implemented): concurrent saveVotes on one thread each land once, every batch whole and in its order',
      body: async (open, reopen) => {
        const driver = await open();
        if (!hasVotes(driver)) return;
        const other = await reopen(driver);
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Vote?', at(1)));
        const batches = Array.from({ length: 6 }, (_, batch) => [1, 2, 3].map((n) => vote(n, { content: `batch ${batch} vote ${n}` })));
        await Promise.all(batches.map((batch, index) => (index % 2 ? other : driver).saveVotes!(ACME, threadId, batch)));
        const contents = ((await driver.getThread(ACME, threadId))?.votes ?? []).map((each) => each.content);
        check(contents.length === 18, `every concurrent vote must land exactly once, got ${contents.length}`);
        for (const [index] of batches.entries()) {
          const at_ = contents.indexOf(`batch ${index} vote 1`);
          check(at_ >= 0 && json(contents.slice(at_, at_ + 3)) === json([1, 2, 3].map((n) => `batch ${index} vote ${n}`)), `batch ${index} must be stored whole and in order, got ${json(contents)}`);
        }
      },
    },
    {
      name: 'subtasks (when implemented): saveSubtasks stores every field, reads back by sequenceOrder then order written, and later batches may depend on stored labels',
      body: async (open) => {
        const driver = await open();
        if (!hasSubtasks(driver)) return;
        const [threadId, child] = [id(), id()];
        await seed(driver, ACME, newThread(threadId, 'Decompose?', at(1)));
        await seed(driver, ACME, newThread(child, 'Child?', at(2)));
        const long = 'ü'.repeat(199) + '🚀'; // 200 characters (201 UTF-16 units)
        const b = subtask('b', ['a'], { sequenceOrder: 2, status: 'running', childThreadId: child, updatedAt: at(320) });
        const a = subtask('a', [], { sequenceOrder: 1 });
        const c = subtask(long, ['a'], { sequenceOrder: 1, status: 'failed' });
        await driver.saveSubtasks!(ACME, threadId, [b, a, c]);
        same((await driver.getThread(ACME, threadId))?.subtasks, [a, c, b], 'subtasks must round-trip exactly, by sequenceOrder, ties in the order written');
        const d = subtask('d', [long, 'b'], { sequenceOrder: 0, status: 'complete', createdAt: at(330), updatedAt: at(340) });
        await driver.saveSubtasks!(ACME, threadId, [d]);
        await driver.saveSubtasks!(ACME, threadId, []);
        const read = await driver.getThread(ACME, threadId);
        same(read?.subtasks, [d, a, c, b], 'a later batch may depend on stored subtasks, and reads stay in sequenceOrder');
        check(read?.updatedAt === at(340), `saveSubtasks must move the thread's updatedAt to the latest subtask updatedAt, got ${json(read?.updatedAt)}`);
      },
    },
    {
      name: 'subtasks (when implemented): duplicate labels, unknown or self dependencies, cycles, bad fields and unknown threads are StorageErrors that write nothing',
      body: async (open) => {
        const driver = await open();
        if (!hasSubtasks(driver)) return;
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Decompose?', at(1)));
        await driver.saveSubtasks!(ACME, threadId, [subtask('stored')]);
        const before = await snapshot(driver);
        const bad: [string, unknown[]][] = [
          ['a label used twice in the batch', [subtask('x'), subtask('x')]],
          ['a label already stored', [subtask('y'), subtask('stored')]],
          ['a dependency on an unknown label', [subtask('y', ['nowhere'])]],
          ['a subtask depending on itself', [subtask('y', ['y'])]],
          ['a cycle', [subtask('x', ['y']), subtask('y', ['z']), subtask('z', ['x'])]],
          ['a label of 201 characters', [subtask('x'.repeat(201))]],
          ['an empty label', [subtask('')]],
          ['an unknown status', [subtask('y', [], { status: 'done' as never })]],
          ['a fractional sequenceOrder', [subtask('y', [], { sequenceOrder: 1.5 })]],
          ['dependencies that are not an array', [{ ...subtask('y'), dependencies: 'stored' }]],
        ];
        for (const [what, batch] of bad) {
          await rejectsWithStorageError(driver.saveSubtasks!(ACME, threadId, [subtask('good'), ...batch] as StoredSubtask[]), `saveSubtasks with ${what}`);
          check((await snapshot(driver)) === before, `a rejected saveSubtasks (${what}) must write nothing, not even the good subtasks of its batch`);
        }
        await rejectsWithStorageError(driver.saveSubtasks!(ACME, id(), [subtask('good')]), 'saveSubtasks on an unknown thread');
        check((await snapshot(driver)) === before, 'saveSubtasks on an unknown thread must write nothing');
      },
    },
    {
      name: 'subtasks (when implemented): of two concurrent saveSubtasks with the same label, exactly one succeeds',
      body: async (open, reopen) => {
        const driver = await open();
        if (!hasSubtasks(driver)) return;
        const other = await reopen(driver);
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Decompose?', at(1)));
        const results = await Promise.allSettled([driver, other].map((each, index) => each.saveSubtasks!(ACME, threadId, [subtask('same', [], { description: `writer ${index}` }), subtask(`own ${index}`)])));
        const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
        check(winners.length === 1, `exactly one concurrent plan with the label "same" must be saved, ${winners.length} were`);
        const loser = results.find((result) => result.status === 'rejected');
        check(StorageError.isInstance(loser?.reason), `the losing saveSubtasks must reject with a StorageError, got ${String(loser?.reason)}`);
        same(
          (await driver.getThread(ACME, threadId))?.subtasks,
          [subtask('same', [], { description: `writer ${winners[0]}` }), subtask(`own ${winners[0]}`)],
          'only the successful plan must be stored, whole',
        );
      },
    },
    {
      name: 'subtasks (when implemented): childThreadId must name another thread of the same tenant, on save and on update',
      body: async (open) => {
        const driver = await open();
        if (!hasSubtasks(driver)) return;
        const [parent, child, foreign] = [id(), id(), id()];
        await seed(driver, ACME, newThread(parent, 'Parent?', at(1)));
        await seed(driver, ACME, newThread(child, 'Child?', at(2)));
        await seed(driver, GLOBEX, newThread(foreign, 'Globex thread', at(3)));
        await driver.saveSubtasks!(ACME, parent, [subtask('a', [], { childThreadId: child })]);
        const before = await snapshot(driver);
        for (const [what, bad] of [['a thread of another tenant', foreign], ['an unknown thread', id()], ['the parent thread itself', parent]] as const) {
          await rejectsWithStorageError(driver.saveSubtasks!(ACME, parent, [subtask('b', [], { childThreadId: bad })]), `saveSubtasks with ${what} as childThreadId`);
          await rejectsWithStorageError(driver.updateSubtask!(ACME, parent, 'a', { status: 'running', childThreadId: bad, at: at(500) }), `updateSubtask with ${what} as childThreadId`);
          check((await snapshot(driver)) === before, `a rejected write with ${what} as childThreadId must change nothing`);
        }
        await rejectsWithStorageError(driver.saveSubtasks!(ACME_UPPER, parent, [subtask('b')]), 'saveSubtasks from tenant "ACME" on tenant "acme"\'s thread');
        check((await snapshot(driver)) === before, 'a rejected cross-tenant saveSubtasks must change nothing');
      },
    },
    {
      name: 'subtasks (when implemented): updateSubtask sets status, updatedAt and (when given) childThreadId, returns the subtask, and null for an unknown label, thread or tenant',
      body: async (open) => {
        const driver = await open();
        if (!hasSubtasks(driver)) return;
        const [parent, child] = [id(), id()];
        await seed(driver, ACME, newThread(parent, 'Parent?', at(1)));
        await seed(driver, ACME, newThread(child, 'Child?', at(2)));
        const a = subtask('a', [], { sequenceOrder: 1 });
        const b = subtask('b', ['a'], { sequenceOrder: 2 });
        await driver.saveSubtasks!(ACME, parent, [a, b]);
        const running = await driver.updateSubtask!(ACME, parent, 'b', { status: 'running', childThreadId: child, at: at(500) });
        const expected = { ...b, status: 'running' as const, childThreadId: child, updatedAt: at(500) };
        same(running, expected, 'updateSubtask must return the subtask as stored after');
        const complete = await driver.updateSubtask!(ACME, parent, 'b', { status: 'complete', at: at(501) });
        same(complete, { ...expected, status: 'complete', updatedAt: at(501) }, 'an update without childThreadId must keep the child');
        const read = await driver.getThread(ACME, parent);
        same(read?.subtasks, [a, { ...expected, status: 'complete', updatedAt: at(501) }], 'the update must be stored, and only on that subtask');
        check(read?.updatedAt === at(501), `updateSubtask must move the thread's updatedAt to \`at\`, got ${json(read?.updatedAt)}`);
        same(await driver.updateSubtask!(ACME, parent, 'b', { status: 'failed', childThreadId: null, at: at(502) }), { ...expected, status: 'failed', childThreadId: null, updatedAt: at(502) }, 'childThreadId null must clear the child');
        const before = await snapshot(driver);
        await rejectsWithStorageError(driver.updateSubtask!(ACME, parent, 'a', { status: 'done' as never, at: at(503) }), 'updateSubtask with an unknown status');
        check((await driver.updateSubtask!(ACME, parent, 'nowhere', { status: 'running', at: at(503) })) === null, 'updateSubtask of an unknown label must return null');
        check((await driver.updateSubtask!(ACME, id(), 'a', { status: 'running', at: at(503) })) === null, 'updateSubtask on an unknown thread must return null');
        for (const scope of [GLOBEX, ACME_UPPER]) {
          check((await driver.updateSubtask!(scope, parent, 'a', { status: 'running', at: at(503) })) === null, `updateSubtask from tenant ${json(scope.tenant)} on tenant "acme"'s thread must return null`);
        }
        check((await snapshot(driver)) === before, 'updates that were refused or found nothing must change nothing');
      },
    },
    {
      name: 'votes and subtasks (when implemented): deleting a thread deletes them but not its child threads; a subtask keeps the id of a deleted child',
      body: async (open) => {
        const driver = await open();
        if (!hasVotes(driver) && !hasSubtasks(driver)) return;
        const [parent, other] = [id(), id()];
        const child = await seedRecords(driver, ACME, parent);
        const otherChild = await seedRecords(driver, ACME, other, at(3));
        const kept = await driver.getThread(ACME, other);
        check((await driver.deleteThread(ACME, parent)) === true, 'deleteThread must delete a thread with votes and subtasks');
        check((await driver.getThread(ACME, child)) !== null, 'deleting a parent thread must not delete the threads of its subtasks');
        same(await driver.getThread(ACME, other), kept, "deleting a thread must not touch another thread's votes and subtasks");
        await driver.createThread(ACME, newThread(parent, 'Reborn', at(4)));
        const reborn = await driver.getThread(ACME, parent);
        check(reborn?.votes.length === 0 && reborn.subtasks.length === 0, `a re-created id must have no votes or subtasks left over, got ${json(reborn)}`);
        if (hasSubtasks(driver)) {
          await driver.saveSubtasks!(ACME, parent, [subtask('schema'), subtask('load', ['schema'])]);
          check((await driver.getThread(ACME, parent))?.subtasks.length === 2, 'the labels of a deleted thread must be free again under its id');
          check((await driver.deleteThread(ACME, otherChild)) === true, 'a child thread must be deletable on its own');
          check((await driver.getThread(ACME, other))?.subtasks[0]?.childThreadId === otherChild, 'a subtask must keep the id of its deleted child thread (reading that id then finds nothing)');
        }
      },
    },
    {
      name: 'votes and subtasks (when implemented): export → import → export carries them exactly; merge replaces them whole; a bad plan in a backup writes nothing',
      body: async (open) => {
        const source = await open();
        if (!hasVotes(source) || !hasSubtasks(source)) return;
        const [a1, g1] = [id(), id()];
        await seedRecords(source, ACME, a1);
        await seedRecords(source, GLOBEX, g1, at(5));
        const backup = await collect(source.exportThreads('all'));
        check(backup.some((thread) => thread.votes.length === 3 && thread.subtasks.length === 2), 'exportThreads must carry votes and subtasks');
        const target = await open();
        await target.importThreads(backup, { mode: 'merge' });
        for (const scope of [ACME, GLOBEX]) same(await collect(target.exportThreads(scope)), await collect(source.exportThreads(scope)), `${scope.tenant}'s votes and subtasks must survive export → import → export unchanged`);
        const original = (await target.getThread(ACME, a1))!;
        const changed: StoredThread = { ...original, votes: [vote(9)], subtasks: [subtask('only', [], { childThreadId: null })] };
        await target.importThreads([changed], { mode: 'merge' });
        same(await target.getThread(ACME, a1), changed, "merge must replace a thread's votes and subtasks whole");
        await target.importThreads([original], { mode: 'replace' });
        same(await target.getThread(ACME, a1), original, 'replace must write the votes and subtasks of the backup');
        await target.saveVotes!(ACME, a1, [vote(10)]);
        same((await target.getThread(ACME, a1))?.votes, [...original.votes, vote(10)], 'an imported thread must take more votes after its imported ones');
        await target.saveSubtasks!(ACME, a1, [subtask('extra', ['load'], { sequenceOrder: 9 })]);
        check((await target.getThread(ACME, a1))?.subtasks.at(-1)?.label === 'extra', 'an imported plan must take more subtasks depending on imported labels');
        const before = await snapshot(target);
        const cyclic: StoredThread = { ...original, id: id(), subtasks: [subtask('x', ['y']), subtask('y', ['x'])] };
        const badVote: StoredThread = { ...original, id: id(), votes: [{ ...vote(1), inputTokens: Number.POSITIVE_INFINITY }] };
        for (const [what, bad] of [['a cyclic plan', cyclic], ['a vote with an infinite token count', badVote]] as const) {
          for (const mode of ['merge', 'replace'] as const) {
            await rejectsWithStorageError(target.importThreads([storedThread(ACME, id()), bad], { mode }), `importThreads (${mode}) with ${what}`);
            check((await snapshot(target)) === before, `a rejected import (${mode}, ${what}) must leave the store exactly as it was`);
          }
        }
      },
    },
    {
      name: 'imports a thread without votes and subtasks (a backup older than them): it reads back with none, and exports with none',
      body: async (open) => {
        const driver = await open();
        const threadId = id();
        const older: Partial<StoredThread> = storedThread(ACME, threadId);
        delete older.votes;
        delete older.subtasks;
        await driver.importThreads([older as StoredThread], { mode: 'merge' });
        const read = await driver.getThread(ACME, threadId);
        same(read, storedThread(ACME, threadId), 'a thread restored without votes and subtasks must read back with empty ones');
        same(await collect(driver.exportThreads(ACME)), [storedThread(ACME, threadId)], 'and export with empty ones');
      },
    },
    {
      name: 'votes and subtasks (when implemented) are copies: changing what was passed in or read back changes nothing stored',
      body: async (open) => {
        const driver = await open();
        if (!hasVotes(driver) || !hasSubtasks(driver)) return;
        const threadId = id();
        await seed(driver, ACME, newThread(threadId, 'Q?', at(1)));
        const votes = votesOf();
        const plan = [subtask('a'), subtask('b', ['a'])];
        await driver.saveVotes!(ACME, threadId, votes);
        await driver.saveSubtasks!(ACME, threadId, plan);
        const expected = canonical(await driver.getThread(ACME, threadId));
        poke(votes, [0, 'content'], 'changed');
        poke(votes, [0, 'providerMetadata', 'nested', 'depth'], 99);
        poke(plan, [1, 'dependencies', 0], 'changed');
        const read = (await driver.getThread(ACME, threadId))!;
        check(canonical(read) === expected, 'changing votes or subtasks after saving them must not change what is stored');
        poke(read, ['votes', 0, 'providerMetadata', 'citations', 0], 'changed');
        poke(read, ['subtasks', 1, 'dependencies', 0], 'changed');
        (read.votes as StoredVote[]).push(vote(7));
        const updated = await driver.updateSubtask!(ACME, threadId, 'a', { status: 'running', at: at(500) });
        poke(updated, ['label'], 'changed');
        const after = canonical(await driver.getThread(ACME, threadId));
        check(after !== expected && !after.includes('"changed"'), 'changing a thread or subtask read back must not change what is stored');
      },
    },
    {
      name: 'costReport (when implemented) counts votes as calls, bounded and dated by their createdAt, equal to costRowsOf() for every groupBy',
      body: async (open) => {
        const driver = await open();
        if (!driver.costReport || !hasVotes(driver)) return;
        const [a1, a2, g1] = [id(), id(), id()];
        await seed(driver, ACME, newThread(a1, 'a1', '2026-03-01T09:00:00.000Z', 'alice'), { turns: [turn(1, 'd', { completedAt: '2026-03-01T10:00:00.000Z' })] });
        await seed(driver, ACME, newThread(a2, 'a2', '2026-03-02T09:00:00.000Z'));
        await seed(driver, GLOBEX, newThread(g1, 'g1', '2026-03-02T09:00:00.000Z', 'alice'));
        await driver.saveVotes!(ACME, a1, [vote(1, { createdAt: '2026-03-01T11:00:00.000Z' }), vote(2, { model: 'anthropic:claude-opus-4-6', createdAt: '2026-03-02T00:00:00.000Z' })]);
        await driver.saveVotes!(ACME, a2, [vote(3, { model: 'google:gemini-2.5-pro', createdAt: '2026-03-02T23:59:59.999Z' })]);
        await driver.saveVotes!(GLOBEX, g1, [vote(4, { model: 'globex:secret', costUsd: 9, createdAt: '2026-03-02T10:00:00.000Z' })]);
        const threads = await collect(driver.exportThreads(ACME));
        const bounds: { since?: string; until?: string }[] = [{}, { since: '2026-03-02T00:00:00.000Z' }, { until: '2026-03-01T23:59:59.999Z' }, { since: '2026-03-01T10:30:00.000Z', until: '2026-03-02T00:00:00.000Z' }];
        for (const groupBy of ['model', 'provider', 'user', 'day', 'tenant'] as const) {
          for (const bound of bounds) {
            sameCost(await driver.costReport(ACME, { groupBy, ...bound }), costRowsOf(threads, groupBy, bound.since, bound.until), `costReport(${json({ groupBy, ...bound })}) with votes`);
          }
        }
        const byModel = await driver.costReport(ACME, { groupBy: 'model' });
        check(!byModel.some((row) => row.key === 'globex:secret'), `another tenant's votes must not be counted, got ${json(byModel)}`);
        check(byModel.find((row) => row.key === 'google:gemini-2.5-pro')?.calls === 1, `a vote must count as a call, got ${json(byModel)}`);
      },
    },
    {
      name: "costReport (when implemented) over 'all' groups every tenant's spending by tenant and equals costRowsOf() of exportThreads('all')",
      body: async (open) => {
        const driver = await open();
        if (!driver.costReport) return;
        await seed(driver, ACME, newThread(id(), 'acme', at(1), 'alice'), { turns: [turn(1), turn(2)] });
        await seed(driver, GLOBEX, newThread(id(), 'globex', at(2), 'bob'), { turns: [turn(1, 'g', { contributions: [{ model: 'globex:cdn-model', role: 'proposer', content: 'cdn', inputTokens: 1, outputTokens: 2, costUsd: 0.5, latencyMs: 1, finishReason: 'stop', truncated: false }] })] });
        const upper = id();
        await seed(driver, ACME_UPPER, newThread(upper, 'ACME', at(3)), { turns: [bareTurn(1)] });
        if (hasVotes(driver)) await driver.saveVotes!(ACME_UPPER, upper, [vote(5, { createdAt: at(200) })]);
        const everything = await collect(driver.exportThreads('all'));
        const byTenant = await driver.costReport('all', { groupBy: 'tenant' });
        sameCost(byTenant, costRowsOf(everything, 'tenant'), "costReport('all', { groupBy: 'tenant' })");
        check(json(byTenant.map((row) => row.key).sort()) === json(['ACME', 'acme', 'globex'].sort()), `every tenant must get its own row (tenants compare exactly), got ${json(byTenant.map((row) => row.key))}`);
        for (const groupBy of ['model', 'provider', 'user', 'day'] as const) {
          sameCost(await driver.costReport('all', { groupBy }), costRowsOf(everything, groupBy), `costReport('all', ${json({ groupBy })})`);
        }
        sameCost(await driver.costReport('all', { groupBy: 'tenant', since: at(106), until: at(125) }), costRowsOf(everything, 'tenant', at(106), at(125)), "costReport('all') with bounds");
        const own = await driver.costReport(GLOBEX, { groupBy: 'tenant' });
        same(own.map((row) => row.key), ['globex'], 'a per-tenant report grouped by tenant has only that tenant');
      },
    },
  );

  return pickCases('storageDriverConformance', cases, options.skip)
    .map(({ name, body }) => ({
      name,
      run: async () => {
        const opened: StorageDriver[] = [];
        const open = async () => {
          const driver = await options.create();
          opened.push(driver);
          return driver;
        };
        const reopen = async (driver: StorageDriver) => {
          if (!options.reopen) return driver;
          const again = await options.reopen(driver);
          if (again !== driver) opened.push(again);
          return again;
        };
        try {
          await body(open, reopen);
        } finally {
          for (const driver of opened) await driver.close?.();
        }
      },
    }));
}

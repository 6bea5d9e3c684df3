/**
 * In-memory storage: the default driver. Fast, dependency-free, and gone when the process exits. Use it for
 * tests, scripts and serverless functions that keep nothing; use SQLite or Postgres to keep runs.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { memoryStorage } from 'duh/storage/memory';
 * const duh = new Consensus({ models, storage: memoryStorage() });
 * ```
 *
 * @module
 */
import { InvalidOptionError, StorageError } from '../src/errors.js';
import {
  matchesRecall,
  type NewThread,
  type RecallHit,
  type StorageDriver,
  type StorageScope,
  type StoredThread,
  type StoredTurn,
  type ThreadPage,
  type ThreadQuery,
  toRecallHit,
} from '../src/storage.js';

const DRIVER_NAME = 'memory';

// Copies that share the (immutable) strings: far cheaper than structuredClone, which copies every text.
const copyTurn = (turn: StoredTurn): StoredTurn => ({
  ...turn,
  // Provider metadata is the one nested object a caller could mutate: copy it (it is small and rare).
  contributions: turn.contributions.map((contribution) =>
    contribution.providerMetadata ? { ...contribution, providerMetadata: structuredClone(contribution.providerMetadata) } : { ...contribution },
  ),
  decision: turn.decision ? { ...turn.decision, taxonomy: turn.decision.taxonomy ? { ...turn.decision.taxonomy } : null } : null,
});
const copyThread = (thread: StoredThread): StoredThread => ({
  ...thread,
  turns: thread.turns.map(copyTurn),
  outcome: thread.outcome ? { ...thread.outcome } : null,
});

/** Options for {@link memoryStorage}. */
export interface MemoryStorageOptions {
  /** Keep at most this many threads per tenant; the oldest are dropped first. Default: unlimited. */
  maxThreads?: number;
}

/** Create an in-memory storage driver. Every read returns a copy, so callers cannot corrupt what is stored. */
export function memoryStorage(options: MemoryStorageOptions = {}): StorageDriver {
  const { maxThreads } = options;
  if (maxThreads !== undefined && (!Number.isInteger(maxThreads) || maxThreads < 1)) {
    throw new InvalidOptionError('maxThreads', maxThreads, `The \`maxThreads\` option must be a positive integer, received ${String(maxThreads)}.`);
  }
  // Per tenant; insertion order is creation order, so iterating backwards is newest first.
  const tenants = new Map<string, Map<string, StoredThread>>();
  const threadsOf = (scope: StorageScope) => {
    let threads = tenants.get(scope.tenant);
    if (!threads) tenants.set(scope.tenant, (threads = new Map()));
    return threads;
  };
  const require = (scope: StorageScope, id: string): StoredThread => {
    const thread = tenants.get(scope.tenant)?.get(id);
    if (!thread) throw new StorageError(DRIVER_NAME, `Thread \`${id}\` does not exist; create it with createThread() first.`);
    return thread;
  };
  // By creation time then id (as the SQL drivers order), so restored older threads sort where they belong.
  const oldestFirst = (threads: Iterable<StoredThread>) =>
    [...threads].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const newestFirst = (scope: StorageScope) => oldestFirst(tenants.get(scope.tenant)?.values() ?? []).reverse();

  return {
    specificationVersion: 'v1',
    name: DRIVER_NAME,

    async createThread(scope, thread: NewThread): Promise<void> {
      const threads = threadsOf(scope);
      if (threads.has(thread.id)) throw new StorageError(DRIVER_NAME, `Thread \`${thread.id}\` already exists; thread ids must be unique.`);
      threads.set(thread.id, {
        id: thread.id,
        question: thread.question,
        protocol: thread.protocol,
        userId: thread.userId,
        createdAt: thread.createdAt,
        tenant: scope.tenant,
        status: 'active',
        updatedAt: thread.createdAt,
        error: null,
        turns: [],
        outcome: null,
      });
      if (maxThreads !== undefined && threads.size > maxThreads) {
        const oldest = threads.keys().next().value;
        if (oldest !== undefined) threads.delete(oldest);
      }
    },

    async appendTurn(scope, threadId, turn): Promise<void> {
      const thread = require(scope, threadId);
      if (thread.turns.some((existing) => existing.roundNumber === turn.roundNumber)) {
        throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` already has round ${turn.roundNumber}; rounds are written once.`);
      }
      threadsOf(scope).set(threadId, { ...thread, updatedAt: turn.completedAt, turns: [...thread.turns, copyTurn(turn)] });
    },

    async finishThread(scope, threadId, outcome): Promise<void> {
      const thread = require(scope, threadId);
      threadsOf(scope).set(threadId, { ...thread, status: outcome.status, error: outcome.error ?? null, updatedAt: outcome.at });
    },

    async getThread(scope, id): Promise<StoredThread | null> {
      const thread = tenants.get(scope.tenant)?.get(id);
      return thread ? copyThread(thread) : null;
    },

    async listThreads(scope, query: ThreadQuery): Promise<ThreadPage> {
      const matching = newestFirst(scope).filter(
        (thread) =>
          (query.status === undefined || thread.status === query.status) &&
          (query.idPrefix === undefined || thread.id.startsWith(query.idPrefix)) &&
          (query.userId === undefined || thread.userId === query.userId),
      );
      return {
        total: matching.length,
        threads: matching.slice(query.offset, query.offset + query.limit).map((thread) => ({
          id: thread.id,
          question: thread.question,
          status: thread.status,
          protocol: thread.protocol,
          userId: thread.userId,
          createdAt: thread.createdAt,
          updatedAt: thread.updatedAt,
        })),
      };
    },

    async deleteThread(scope, id): Promise<boolean> {
      return tenants.get(scope.tenant)?.delete(id) ?? false;
    },

    async saveOutcome(scope, threadId, outcome): Promise<void> {
      const thread = require(scope, threadId);
      const latest = [...thread.turns].reverse().find((turn) => turn.decision !== null);
      if (!latest) throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` has no decision yet; feedback needs a committed round.`);
      threadsOf(scope).set(threadId, {
        ...thread,
        outcome: { result: outcome.result, notes: outcome.notes, roundNumber: latest.roundNumber, createdAt: thread.outcome?.createdAt ?? outcome.at, updatedAt: outcome.at },
      });
    },

    async search(scope, query, { limit }): Promise<RecallHit[]> {
      const hits: RecallHit[] = [];
      for (const thread of newestFirst(scope)) {
        if (hits.length >= limit) break;
        if (matchesRecall(thread, query)) hits.push(toRecallHit(thread));
      }
      return hits;
    },

    async *exportThreads(scope): AsyncIterable<StoredThread> {
      const scopes = scope === 'all' ? [...tenants.keys()] : [scope.tenant];
      for (const tenant of scopes) for (const thread of oldestFirst(tenants.get(tenant)?.values() ?? [])) yield copyThread(thread);
    },

    async importThreads(threads, { mode }): Promise<{ threads: number }> {
      // Validate everything first so a bad record writes nothing.
      for (const [index, thread] of threads.entries()) {
        if (
          !thread ||
          typeof thread.id !== 'string' ||
          typeof thread.tenant !== 'string' ||
          !Array.isArray(thread.turns) ||
          !thread.turns.every(
            (turn) =>
              typeof turn === 'object' &&
              turn !== null &&
              typeof turn.roundNumber === 'number' &&
              Array.isArray(turn.contributions) &&
              turn.contributions.every((contribution: unknown) => typeof contribution === 'object' && contribution !== null && typeof (contribution as { content?: unknown }).content === 'string'),
          )
        ) {
          throw new StorageError(DRIVER_NAME, `Backup record ${index + 1} is not a thread (needs id, tenant and turns with a roundNumber and contributions); nothing was restored.`);
        }
      }
      // Copy everything before touching the store, so nothing can fail half-way through the swap.
      const copies = threads.map(copyThread);
      if (mode === 'replace') for (const tenant of new Set(copies.map((thread) => thread.tenant))) tenants.delete(tenant);
      for (const thread of copies) threadsOf({ tenant: thread.tenant }).set(thread.id, thread);
      return { threads: threads.length };
    },
  };
}

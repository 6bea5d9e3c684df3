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
  toRecallHit,
  type NewThread,
  type RecallHit,
  type StorageDriver,
  type StoredThread,
  type StoredTurn,
  type ThreadPage,
  type ThreadQuery,
} from '../src/storage.js';

const DRIVER_NAME = 'memory';

// Copies that share the (immutable) strings: far cheaper than structuredClone, which copies every text.
const copyTurn = (turn: StoredTurn): StoredTurn => ({
  ...turn,
  contributions: turn.contributions.map((contribution) => ({ ...contribution })),
  decision: turn.decision ? { ...turn.decision, taxonomy: turn.decision.taxonomy ? { ...turn.decision.taxonomy } : null } : null,
});
const copyThread = (thread: StoredThread): StoredThread => ({ ...thread, turns: thread.turns.map(copyTurn) });

/** Options for {@link memoryStorage}. */
export interface MemoryStorageOptions {
  /** Keep at most this many threads; the oldest are dropped first. Default: unlimited. */
  maxThreads?: number;
}

/** Create an in-memory storage driver. Every read returns a copy, so callers cannot corrupt what is stored. */
export function memoryStorage(options: MemoryStorageOptions = {}): StorageDriver {
  const { maxThreads } = options;
  if (maxThreads !== undefined && (!Number.isInteger(maxThreads) || maxThreads < 1)) {
    throw new InvalidOptionError('maxThreads', maxThreads, `The \`maxThreads\` option must be a positive integer, received ${String(maxThreads)}.`);
  }
  // Insertion order is creation order, so iterating backwards is newest first.
  const threads = new Map<string, StoredThread>();

  const require = (id: string): StoredThread => {
    const thread = threads.get(id);
    if (!thread) throw new StorageError(DRIVER_NAME, `Thread \`${id}\` does not exist; create it with createThread() first.`);
    return thread;
  };
  const newestFirst = () => [...threads.values()].reverse();

  return {
    specificationVersion: 'v1',
    name: DRIVER_NAME,

    async createThread(thread: NewThread): Promise<void> {
      if (threads.has(thread.id)) throw new StorageError(DRIVER_NAME, `Thread \`${thread.id}\` already exists; thread ids must be unique.`);
      threads.set(thread.id, {
        id: thread.id,
        question: thread.question,
        protocol: thread.protocol,
        createdAt: thread.createdAt,
        status: 'active',
        updatedAt: thread.createdAt,
        error: null,
        turns: [],
      });
      if (maxThreads !== undefined && threads.size > maxThreads) {
        const oldest = threads.keys().next().value;
        if (oldest !== undefined) threads.delete(oldest);
      }
    },

    async appendTurn(threadId: string, turn: StoredTurn): Promise<void> {
      const thread = require(threadId);
      if (thread.turns.some((existing) => existing.roundNumber === turn.roundNumber)) {
        throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` already has round ${turn.roundNumber}; rounds are written once.`);
      }
      threads.set(threadId, { ...thread, updatedAt: turn.completedAt, turns: [...thread.turns, copyTurn(turn)] });
    },

    async finishThread(threadId, outcome): Promise<void> {
      const thread = require(threadId);
      threads.set(threadId, { ...thread, status: outcome.status, error: outcome.error ?? null, updatedAt: outcome.at });
    },

    async getThread(id: string): Promise<StoredThread | null> {
      const thread = threads.get(id);
      return thread ? copyThread(thread) : null;
    },

    async listThreads(query: ThreadQuery): Promise<ThreadPage> {
      const matching = newestFirst().filter(
        (thread) =>
          (query.status === undefined || thread.status === query.status) &&
          (query.idPrefix === undefined || thread.id.startsWith(query.idPrefix)),
      );
      return {
        total: matching.length,
        threads: matching.slice(query.offset, query.offset + query.limit).map((thread) => ({
          id: thread.id,
          question: thread.question,
          status: thread.status,
          protocol: thread.protocol,
          createdAt: thread.createdAt,
          updatedAt: thread.updatedAt,
        })),
      };
    },

    async search(query: string, { limit }: { limit: number }): Promise<RecallHit[]> {
      const hits: RecallHit[] = [];
      for (const thread of newestFirst()) {
        if (hits.length >= limit) break;
        if (matchesRecall(thread, query)) hits.push(toRecallHit(thread));
      }
      return hits;
    },
  };
}

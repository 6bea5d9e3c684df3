// A storage driver that keeps every run in one JSON file, written against the StorageDriver contract v1.
// It implements the required methods and one optional one, `startThread` (a run's thread and its first round
// in one file write instead of two). Without `search` and `costReport`, duh's recall() and cost() scan the
// driver instead (see docs/storage.md). Run: npm run build && npx node examples/custom-storage.ts
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  Consensus,
  firstTurnProblem,
  StorageError,
  THREAD_STATUSES,
  type NewThread,
  type StorageDriver,
  type StorageScope,
  type StoredThread,
  type StoredTurn,
  type ThreadSummary,
} from 'duh';
import { demoPanel } from 'duh/testing';

const NAME = 'json-file';

/** The file: every tenant's threads, in the order they were created or restored. */
interface JsonFile {
  format: 'duh-json-file';
  version: 1;
  threads: StoredThread[];
}

export interface JsonFileStorageOptions {
  /** The JSON file. It (and its folder) is created on the first write. */
  path: string;
}

/** Oldest first by `createdAt` (ISO strings in UTC sort as text), then by place in the file. */
const oldestFirst = (threads: readonly StoredThread[]): StoredThread[] =>
  threads
    .map((thread, place) => ({ thread, place }))
    .sort((a, b) => (a.thread.createdAt < b.thread.createdAt ? -1 : a.thread.createdAt > b.thread.createdAt ? 1 : a.place - b.place))
    .map(({ thread }) => thread);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why a backup record cannot be restored, or undefined when it can. */
function problemOf(thread: unknown): string | undefined {
  if (!isObject(thread)) return 'it is not an object';
  for (const field of ['id', 'tenant', 'question', 'protocol', 'createdAt', 'updatedAt'] as const) {
    if (typeof thread[field] !== 'string' || thread[field] === '') return `\`${field}\` must be a non-empty string`;
  }
  if (!THREAD_STATUSES.includes(thread['status'] as never)) return '`status` must be active, complete or failed';
  if (!Array.isArray(thread['turns'])) return '`turns` must be an array';
  const rounds = new Set<unknown>();
  for (const turn of thread['turns'] as unknown[]) {
    if (!isObject(turn) || !Number.isInteger(turn['roundNumber']) || !Array.isArray(turn['contributions'])) return 'every turn needs an integer roundNumber and a contributions array';
    if (rounds.has(turn['roundNumber'])) return `round ${String(turn['roundNumber'])} appears twice`;
    rounds.add(turn['roundNumber']);
  }
  return undefined;
}

/**
 * Every run in one JSON file. Each write reads the file, changes the threads and replaces the file atomically
 * (a temp file renamed over it), one write at a time, so a failed write leaves the file as it was and readers
 * never see half a file. Good for a CLI or a small app in one process; use SQLite or Postgres beyond that.
 * It holds no handle between calls, so it needs no `close()`.
 */
export function jsonFileStorage({ path }: JsonFileStorageOptions): StorageDriver {
  const fail = (message: string, cause?: unknown) => new StorageError(NAME, message, cause === undefined ? undefined : { cause });
  const missing = (id: string) => fail(`Thread \`${id}\` does not exist; create it with createThread() first.`);

  /** Every thread in the file, freshly parsed: what a read returns is always the caller's own copy. */
  async function load(): Promise<StoredThread[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing written yet
      throw fail(`Could not read ${path}: ${(error as Error).message}.`, error);
    }
    let file: Partial<JsonFile>;
    try {
      file = JSON.parse(text) as Partial<JsonFile>;
    } catch (error) {
      throw fail(`${path} is not valid JSON (${(error as Error).message}).`, error);
    }
    if (file.format !== 'duh-json-file' || file.version !== 1 || !Array.isArray(file.threads)) throw fail(`${path} is not a duh JSON file of version 1.`);
    return file.threads;
  }

  // Writes run one at a time: load, change (which may throw to refuse the write), save. Only a save that
  // completes replaces the file.
  let queue: Promise<unknown> = Promise.resolve();
  function write<T>(change: (threads: StoredThread[]) => T): Promise<T> {
    const done = queue.then(async () => {
      const threads = await load();
      const result = change(threads);
      const file: JsonFile = { format: 'duh-json-file', version: 1, threads };
      const temp = `${path}.${process.pid}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(temp, JSON.stringify(file));
        await rename(temp, path);
      } catch (error) {
        throw fail(`Could not write ${path}: ${(error as Error).message}. Nothing was written.`, error);
      }
      return result;
    });
    queue = done.catch(() => {}); // the next write waits for this one, whatever its outcome
    return done;
  }

  const indexOf = (threads: readonly StoredThread[], scope: StorageScope, id: string) =>
    threads.findIndex((thread) => thread.tenant === scope.tenant && thread.id === id);
  /** Change one thread of the scope, or refuse the write when the scope has no such thread. */
  const update = (scope: StorageScope, id: string, change: (thread: StoredThread) => StoredThread) =>
    write((threads) => {
      const index = indexOf(threads, scope, id);
      if (index < 0) throw missing(id);
      threads[index] = change(threads[index]!);
    });

  /** Add a new thread (status `active`) with `turns`; its `updatedAt` is the last turn's `completedAt`. */
  const insert = (scope: StorageScope, { id, question, protocol, userId, createdAt }: NewThread, turns: StoredTurn[]) =>
    write((threads) => {
      if (indexOf(threads, scope, id) >= 0) throw fail(`Thread \`${id}\` already exists; thread ids must be unique.`);
      const updatedAt = turns.at(-1)?.completedAt ?? createdAt;
      threads.push({ id, question, protocol, userId, createdAt, tenant: scope.tenant, status: 'active', updatedAt, error: null, turns, outcome: null, votes: [], subtasks: [] });
    });

  return {
    specificationVersion: 'v1',
    name: NAME,

    async createThread(scope, thread) {
      await insert(scope, thread, []);
    },

    // Optional: the engine creates a run's thread with its first write (round 1's first phase) when a driver
    // has this, so a run costs one file write fewer and nothing waits on the file before the first model call.
    async startThread(scope, thread, first) {
      const problem = firstTurnProblem(first);
      if (problem) throw fail(`Thread \`${thread.id}\` cannot start with that round: ${problem}. Nothing was written.`);
      await insert(scope, thread, [structuredClone(first)]);
    },

    async appendTurn(scope, threadId, turn) {
      const copy = structuredClone(turn); // the caller may change its object once this returns
      await update(scope, threadId, (thread) => {
        if (thread.turns.some((existing) => existing.roundNumber === copy.roundNumber)) {
          throw fail(`Thread \`${threadId}\` already has round ${copy.roundNumber}; rounds are written once.`);
        }
        const turns = [...thread.turns, copy].sort((a, b) => a.roundNumber - b.roundNumber);
        return { ...thread, turns, updatedAt: copy.completedAt };
      });
    },

    async finishThread(scope, threadId, { status, error, at }) {
      await update(scope, threadId, (thread) => ({ ...thread, status, error: error ?? null, updatedAt: at }));
    },

    async getThread(scope, id) {
      return (await load()).find((thread) => thread.tenant === scope.tenant && thread.id === id) ?? null;
    },

    async listThreads(scope, { status, idPrefix, userId, limit, offset }) {
      const matching = oldestFirst(await load())
        .reverse() // newest first
        .filter(
          (thread) =>
            thread.tenant === scope.tenant &&
            (status === undefined || thread.status === status) &&
            (idPrefix === undefined || thread.id.startsWith(idPrefix)) &&
            (userId === undefined || thread.userId === userId),
        );
      const summary = ({ id, question, status, protocol, userId, createdAt, updatedAt }: StoredThread): ThreadSummary => ({ id, question, status, protocol, userId, createdAt, updatedAt });
      return { total: matching.length, threads: matching.slice(offset, offset + limit).map(summary) };
    },

    async deleteThread(scope, id) {
      return write((threads) => {
        const index = indexOf(threads, scope, id);
        if (index >= 0) threads.splice(index, 1); // the turns and the feedback live inside the thread
        return index >= 0;
      });
    },

    async saveOutcome(scope, threadId, { result, notes, at }) {
      await update(scope, threadId, (thread) => {
        const latest = thread.turns.findLast((turn) => turn.decision !== null);
        if (!latest) throw fail(`Thread \`${threadId}\` has no decision yet; feedback needs a committed round.`);
        // Feedback given again replaces the first, keeping when it was first given.
        const outcome = { result, notes, roundNumber: latest.roundNumber, createdAt: thread.outcome?.createdAt ?? at, updatedAt: at };
        return { ...thread, outcome };
      });
    },

    async *exportThreads(scope) {
      const threads = await load();
      yield* oldestFirst(threads.filter((thread) => scope === 'all' || thread.tenant === scope.tenant));
    },

    async importThreads(batch, { mode }) {
      // Check every record before writing anything: one bad record and nothing is restored.
      for (const [index, thread] of batch.entries()) {
        const problem = problemOf(thread);
        if (problem) throw fail(`Backup thread ${index + 1} cannot be restored: ${problem}. Nothing was restored.`);
      }
      const incoming = structuredClone(batch).map(
        (thread): StoredThread => ({
          id: thread.id,
          tenant: thread.tenant,
          question: thread.question,
          protocol: thread.protocol,
          userId: thread.userId ?? null,
          createdAt: thread.createdAt,
          updatedAt: thread.updatedAt,
          status: thread.status,
          error: thread.error ?? null,
          turns: [...thread.turns].sort((a, b) => a.roundNumber - b.roundNumber),
          outcome: thread.outcome ?? null,
          // Backups written before votes and subtasks existed have neither.
          votes: thread.votes ?? [],
          subtasks: thread.subtasks ?? [],
        }),
      );
      return write((threads) => {
        if (mode === 'replace') {
          const tenants = new Set(incoming.map((thread) => thread.tenant));
          threads.splice(0, threads.length, ...threads.filter((thread) => !tenants.has(thread.tenant)));
        }
        for (const thread of incoming) {
          const index = indexOf(threads, { tenant: thread.tenant }, thread.id); // merge: the backup's copy replaces the stored one
          if (index >= 0) threads[index] = thread;
          else threads.push(thread);
        }
        return { threads: incoming.length };
      });
    },
  };
}

/** Store a run in a JSON file, then read it back through a second driver, as after a restart. */
export async function demo(path = join(tmpdir(), `duh-json-file-demo-${process.pid}`, 'duh.json')): Promise<string> {
  const principal = { id: 'alice', tenant: 'acme' };
  const models = demoPanel({ latencyMs: 0, chunkDelayMs: 0 }); // scripted models: offline, nothing billed
  const duh = new Consensus({ models, storage: jsonFileStorage({ path }), rounds: 2 });
  const { threadId, decision } = await duh.ask('Should we shard the orders table by tenant?', { principal });

  const later = new Consensus({ models, storage: jsonFileStorage({ path }) });
  const [hit] = await later.recall('orders', { principal }); // no search(): the core scans the threads
  const spend = await later.cost({ principal, groupBy: 'provider' }); // no costReport(): the core sums an export
  const report = [
    `Stored thread ${threadId} in ${path}`,
    `Recalled "${hit?.question ?? ''}", whose latest decision is ${hit?.decision === decision ? 'the run\'s' : 'missing'}`,
    ...spend.map((row) => `${row.key.padEnd(10)} $${row.costUsd.toFixed(4)} in ${row.calls} calls`),
  ].join('\n');
  console.log(report);
  return report;
}

if (import.meta.main) await demo();

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
  auditCanonicalString,
  auditEntryProblem,
  auditEventId,
  auditEventOf,
  AUDIT_GENESIS_HASH,
  firstTurnProblem,
  matchesRecall,
  type NewThread,
  phaseOrderProblem,
  phaseShapeProblem,
  type ProviderKeyInfo,
  type StoredApiKey,
  type StoredAuditEvent,
  type StoredProviderKey,
  type StoredSubtask,
  type StoredVote,
  subtaskPlanProblem,
  subtasksInOrder,
  SUBTASK_STATUSES,
  latestTimestamp,
  voteProblem,
  type StoredUser,
  type RecallHit,
  type StorageDriver,
  type StorageScope,
  type StoredThread,
  type StoredTurn,
  type ThreadPage,
  type ThreadQuery,
  toRecallHit,
  type UserPage,
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
const copyVote = (vote: StoredVote): StoredVote => (vote.providerMetadata ? { ...vote, providerMetadata: structuredClone(vote.providerMetadata) } : { ...vote });
const copySubtask = (subtask: StoredSubtask): StoredSubtask => ({ ...subtask, dependencies: [...subtask.dependencies] });
const copyThread = (thread: StoredThread): StoredThread => ({
  ...thread,
  turns: thread.turns.map(copyTurn),
  outcome: thread.outcome ? { ...thread.outcome } : null,
  // Absent in threads from backups written before votes and subtasks existed.
  votes: (thread.votes ?? []).map(copyVote),
  subtasks: (thread.subtasks ?? []).map(copySubtask),
});
/** What is wrong with a backup thread's votes and subtasks (absent ones are none), or undefined. */
const recordsProblem = (thread: StoredThread): string | undefined => {
  const { votes, subtasks } = thread as Partial<StoredThread>;
  if (votes !== undefined && !Array.isArray(votes)) return '`votes` must be an array';
  for (const vote of votes ?? []) {
    const problem = voteProblem(vote);
    if (problem) return problem;
  }
  if (subtasks !== undefined && !Array.isArray(subtasks)) return '`subtasks` must be an array';
  return subtaskPlanProblem([], subtasks ?? []);
};
const copyKey = (key: StoredApiKey): StoredApiKey => ({ ...key, scopes: [...key.scopes] });
const copyEvent = (event: StoredAuditEvent): StoredAuditEvent => ({ ...event, details: { ...event.details } });
const providerInfo = ({ tenant, provider, keyId, createdAt, updatedAt }: StoredProviderKey): ProviderKeyInfo => ({ tenant, provider, keyId, createdAt, updatedAt });

/** Hex SHA-256 of a text's UTF-8 bytes, with WebCrypto (this driver runs in browsers too: no `node:` import). */
async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Per tenant; insertion order is creation order. */
interface TenantIdentity {
  users: Map<string, StoredUser>;
  /** email → user id. */
  emails: Map<string, string>;
  providerKeys: Map<string, StoredProviderKey>;
  audit: StoredAuditEvent[];
  /** The tail of the tenant's audit appends: each append waits for the previous one, so the chain never forks. */
  auditTail: Promise<unknown>;
}

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

  const identities = new Map<string, TenantIdentity>();
  /** API keys by id, across tenants (ids are unique across tenants; each row carries its tenant). */
  const apiKeys = new Map<string, StoredApiKey>();
  const identityOf = (scope: StorageScope): TenantIdentity => {
    let found = identities.get(scope.tenant);
    if (!found) identities.set(scope.tenant, (found = { users: new Map(), emails: new Map(), providerKeys: new Map(), audit: [], auditTail: Promise.resolve() }));
    return found;
  };
  const fail = (message: string) => new StorageError(DRIVER_NAME, message);
  const requireText = (value: unknown, field: string, what: string) => {
    if (typeof value !== 'string' || value === '') throw fail(`Cannot ${what}: \`${field}\` must be a non-empty string. Nothing was written.`);
  };
  /** Why a subtask cannot point at `child` (another thread of the same tenant, or null), or undefined. */
  const childProblem = (scope: StorageScope, parentId: string, child: string | null | undefined): string | undefined => {
    if (child === null || child === undefined) return undefined;
    if (typeof child !== 'string' || child === '') return 'needs a thread id or null as `childThreadId`';
    if (child === parentId) return 'cannot have its own parent thread as `childThreadId`';
    return tenants.get(scope.tenant)?.has(child) ? undefined : `names \`${child}\` as \`childThreadId\`, which is not a thread of this tenant`;
  };

  /** Store a new thread (status `active`) with `turns`; its `updatedAt` is the last turn's `completedAt`. */
  const insertThread = (scope: StorageScope, thread: NewThread, turns: StoredTurn[]) => {
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
      updatedAt: turns.at(-1)?.completedAt ?? thread.createdAt,
      error: null,
      turns,
      outcome: null,
      votes: [],
      subtasks: [],
    });
    if (maxThreads !== undefined && threads.size > maxThreads) {
      const oldest = threads.keys().next().value;
      if (oldest !== undefined) threads.delete(oldest);
    }
  };

  return {
    specificationVersion: 'v1',
    name: DRIVER_NAME,

    async createThread(scope, thread: NewThread): Promise<void> {
      insertThread(scope, thread, []);
    },

    async startThread(scope, thread: NewThread, first): Promise<void> {
      const problem = firstTurnProblem(first);
      if (problem) throw new StorageError(DRIVER_NAME, `Thread \`${String(thread?.id)}\` cannot start with that round: ${problem}. Nothing was written.`);
      insertThread(scope, thread, [copyTurn(first)]);
    },

    async appendTurn(scope, threadId, turn): Promise<void> {
      const thread = require(scope, threadId);
      if (thread.turns.some((existing) => existing.roundNumber === turn.roundNumber)) {
        throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` already has round ${turn.roundNumber}; rounds are written once.`);
      }
      threadsOf(scope).set(threadId, { ...thread, updatedAt: turn.completedAt, turns: [...thread.turns, copyTurn(turn)] });
    },

    async appendPhase(scope, threadId, phase): Promise<void> {
      const cannot = (problem: string) =>
        new StorageError(DRIVER_NAME, `Thread \`${threadId}\` cannot take the ${String(phase?.state)} phase of round ${String(phase?.roundNumber)}: ${problem}. Nothing was written.`);
      const shape = phaseShapeProblem(phase);
      if (shape) throw cannot(shape);
      const thread = require(scope, threadId);
      // The latest turn is the highest round (appendTurn and restores may have stored rounds out of order).
      const latest = thread.turns.reduce<StoredTurn | undefined>((highest, turn) => (highest && highest.roundNumber > turn.roundNumber ? highest : turn), undefined);
      const problem = phaseOrderProblem(latest, phase);
      if (problem) throw cannot(problem);
      // Everything below is synchronous: no other call can run between the check and the write.
      const added = copyTurn({ roundNumber: phase.roundNumber, state: phase.state, contributions: phase.contributions, decision: phase.decision, createdAt: phase.at, completedAt: phase.at });
      const turns =
        phase.state === 'PROPOSE'
          ? [...thread.turns, added]
          : thread.turns.map((turn) =>
              turn === latest ? { ...turn, state: added.state, contributions: [...turn.contributions, ...added.contributions], decision: added.decision, completedAt: added.completedAt } : turn,
            );
      threadsOf(scope).set(threadId, { ...thread, updatedAt: phase.at, turns });
    },

    async finishThread(scope, threadId, outcome): Promise<void> {
      const thread = require(scope, threadId);
      threadsOf(scope).set(threadId, { ...thread, status: outcome.status, error: outcome.error ?? null, updatedAt: outcome.at });
    },

    async failIdleThread(scope, threadId, outcome): Promise<boolean> {
      const thread = tenants.get(scope.tenant)?.get(threadId);
      if (thread?.status !== 'active' || thread.updatedAt !== outcome.idleSince) return false;
      threadsOf(scope).set(threadId, { ...thread, status: 'failed', error: outcome.error, updatedAt: outcome.at });
      return true;
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
        const problem = recordsProblem(thread);
        if (problem) throw new StorageError(DRIVER_NAME, `Backup record ${index + 1} (thread \`${thread.id}\`) cannot be restored: ${problem}; nothing was restored.`);
      }
      // Copy everything before touching the store, so nothing can fail half-way through the swap.
      const copies = threads.map((thread) => {
        const copy = copyThread(thread);
        return { ...copy, subtasks: subtasksInOrder(copy.subtasks) };
      });
      if (mode === 'replace') for (const tenant of new Set(copies.map((thread) => thread.tenant))) tenants.delete(tenant);
      for (const thread of copies) threadsOf({ tenant: thread.tenant }).set(thread.id, thread);
      return { threads: threads.length };
    },

    // ---- votes and subtasks ----

    async saveVotes(scope, threadId, votes): Promise<void> {
      if (!Array.isArray(votes)) throw fail(`Cannot save votes on thread \`${threadId}\`: votes must be an array. Nothing was written.`);
      for (const vote of votes) {
        const problem = voteProblem(vote);
        if (problem) throw fail(`Cannot save votes on thread \`${threadId}\`: ${problem}. Nothing was written.`);
      }
      const thread = require(scope, threadId);
      const latest = latestTimestamp(votes.map((vote) => vote.createdAt));
      threadsOf(scope).set(threadId, { ...thread, ...(latest === undefined ? {} : { updatedAt: latest }), votes: [...thread.votes, ...votes.map(copyVote)] });
    },

    async saveSubtasks(scope, threadId, subtasks): Promise<void> {
      const thread = require(scope, threadId);
      const problem = subtaskPlanProblem(thread.subtasks, subtasks);
      if (problem) throw fail(`Cannot save the subtasks of thread \`${threadId}\`: ${problem}. Nothing was written.`);
      for (const subtask of subtasks) {
        const child = childProblem(scope, threadId, subtask.childThreadId);
        if (child) throw fail(`Cannot save the subtasks of thread \`${threadId}\`: subtask \`${subtask.label}\` ${child}. Nothing was written.`);
      }
      const latest = latestTimestamp(subtasks.map((subtask) => subtask.updatedAt));
      threadsOf(scope).set(threadId, {
        ...thread,
        ...(latest === undefined ? {} : { updatedAt: latest }),
        subtasks: subtasksInOrder([...thread.subtasks, ...subtasks.map(copySubtask)]),
      });
    },

    async updateSubtask(scope, threadId, label, update): Promise<StoredSubtask | null> {
      if (!SUBTASK_STATUSES.includes(update?.status)) throw fail(`Cannot update subtask \`${label}\`: \`status\` must be one of ${SUBTASK_STATUSES.join(', ')}. Nothing was written.`);
      requireText(update.at, 'at', `update subtask \`${label}\``);
      const thread = tenants.get(scope.tenant)?.get(threadId);
      const index = thread?.subtasks.findIndex((subtask) => subtask.label === label) ?? -1;
      if (!thread || index < 0) return null;
      if (update.childThreadId !== undefined) {
        const child = childProblem(scope, threadId, update.childThreadId);
        if (child) throw fail(`Cannot update subtask \`${label}\` of thread \`${threadId}\`: it ${child}. Nothing was written.`);
      }
      const next: StoredSubtask = {
        ...thread.subtasks[index]!,
        status: update.status,
        ...(update.childThreadId !== undefined ? { childThreadId: update.childThreadId } : {}),
        updatedAt: update.at,
      };
      threadsOf(scope).set(threadId, { ...thread, updatedAt: update.at, subtasks: thread.subtasks.map((subtask, at) => (at === index ? next : subtask)) });
      return copySubtask(next);
    },

    async createUser(scope, user): Promise<void> {
      for (const field of ['id', 'email', 'role', 'createdAt'] as const) requireText(user?.[field], field, 'create the user');
      const identity = identityOf(scope);
      if (identity.users.has(user.id)) throw fail(`User \`${user.id}\` already exists; user ids must be unique.`);
      if (identity.emails.has(user.email)) throw fail(`Another user of this tenant already has the email \`${user.email}\`; emails are unique per tenant.`);
      identity.users.set(user.id, {
        id: user.id,
        email: user.email,
        displayName: user.displayName,
        role: user.role,
        passwordHash: user.passwordHash,
        active: user.active,
        createdAt: user.createdAt,
        tenant: scope.tenant,
        updatedAt: user.createdAt,
      });
      identity.emails.set(user.email, user.id);
    },

    async getUser(scope, id): Promise<StoredUser | null> {
      const user = identities.get(scope.tenant)?.users.get(id);
      return user ? { ...user } : null;
    },

    async getUserByEmail(scope, email): Promise<StoredUser | null> {
      const identity = identities.get(scope.tenant);
      const id = identity?.emails.get(email);
      const user = id === undefined ? undefined : identity?.users.get(id);
      return user ? { ...user } : null;
    },

    async listUsers(scope, query): Promise<UserPage> {
      const users = [...(identities.get(scope.tenant)?.users.values() ?? [])].sort((a, b) =>
        a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      );
      return { total: users.length, users: users.slice(query.offset, query.offset + query.limit).map((user) => ({ ...user })) };
    },

    async updateUser(scope, id, update): Promise<StoredUser | null> {
      const identity = identities.get(scope.tenant);
      const user = identity?.users.get(id);
      if (!identity || !user) return null;
      if (update.ifPasswordHash !== undefined && user.passwordHash !== update.ifPasswordHash) return { ...user };
      if (update.ifSessionsEndedAt !== undefined && (user.sessionsEndedAt ?? null) !== update.ifSessionsEndedAt) return { ...user };
      const next: StoredUser = {
        ...user,
        ...(update.role !== undefined ? { role: update.role } : {}),
        ...(update.displayName !== undefined ? { displayName: update.displayName } : {}),
        ...(update.active !== undefined ? { active: update.active } : {}),
        ...(update.passwordHash !== undefined ? { passwordHash: update.passwordHash } : {}),
        ...(update.sessionsEndedAt !== undefined ? { sessionsEndedAt: update.sessionsEndedAt } : {}),
        updatedAt: update.at,
      };
      identity.users.set(id, next);
      return { ...next };
    },

    async createApiKey(scope, key): Promise<void> {
      for (const field of ['id', 'userId', 'secretHash', 'createdAt'] as const) requireText(key?.[field], field, 'create the API key');
      if (!Array.isArray(key.scopes) || !key.scopes.every((each) => typeof each === 'string')) throw fail('Cannot create the API key: `scopes` must be an array of strings. Nothing was written.');
      if (apiKeys.has(key.id)) throw fail(`API key \`${key.id}\` already exists; key ids must be unique across tenants.`);
      if (!identities.get(scope.tenant)?.users.has(key.userId)) throw fail(`User \`${key.userId}\` does not exist in this tenant; create the user before its keys.`);
      apiKeys.set(key.id, {
        id: key.id,
        userId: key.userId,
        name: key.name,
        secretHash: key.secretHash,
        scopes: [...key.scopes],
        createdAt: key.createdAt,
        expiresAt: key.expiresAt,
        tenant: scope.tenant,
        revokedAt: null,
        lastUsedAt: null,
      });
    },

    async findApiKey(id): Promise<StoredApiKey | null> {
      const key = apiKeys.get(id);
      return key ? copyKey(key) : null;
    },

    async listApiKeys(scope, query = {}): Promise<StoredApiKey[]> {
      return [...apiKeys.values()]
        .filter((key) => key.tenant === scope.tenant && (query.userId === undefined || key.userId === query.userId))
        .sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : a.id > b.id ? -1 : a.id < b.id ? 1 : 0))
        .map(copyKey);
    },

    async revokeApiKey(scope, id, at): Promise<StoredApiKey | null> {
      const key = apiKeys.get(id);
      if (!key || key.tenant !== scope.tenant) return null;
      if (key.revokedAt === null) apiKeys.set(id, { ...key, revokedAt: at });
      return copyKey(apiKeys.get(id)!);
    },

    async touchApiKey(scope, id, at): Promise<void> {
      const key = apiKeys.get(id);
      if (!key || key.tenant !== scope.tenant || (key.lastUsedAt !== null && key.lastUsedAt >= at)) return;
      apiKeys.set(id, { ...key, lastUsedAt: at });
    },

    async putProviderKey(scope, key, options = {}): Promise<boolean> {
      for (const field of ['provider', 'ciphertext', 'iv', 'tag', 'keyId', 'at'] as const) requireText(key?.[field], field, 'store the provider key');
      const identity = identityOf(scope);
      const existing = identity.providerKeys.get(key.provider);
      if (options.ifCiphertext !== undefined && existing?.ciphertext !== options.ifCiphertext) return false;
      identity.providerKeys.set(key.provider, {
        tenant: scope.tenant,
        provider: key.provider,
        ciphertext: key.ciphertext,
        iv: key.iv,
        tag: key.tag,
        keyId: key.keyId,
        createdAt: existing?.createdAt ?? key.at,
        updatedAt: key.at,
      });
      return true;
    },

    async getProviderKey(scope, provider): Promise<StoredProviderKey | null> {
      const key = identities.get(scope.tenant)?.providerKeys.get(provider);
      return key ? { ...key } : null;
    },

    async listProviderKeys(scope): Promise<ProviderKeyInfo[]> {
      const chosen = scope === 'all' ? [...identities.keys()].sort() : [scope.tenant];
      return chosen.flatMap((tenant) => [...(identities.get(tenant)?.providerKeys.values() ?? [])].sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0)).map(providerInfo));
    },

    async deleteProviderKey(scope, provider): Promise<boolean> {
      return identities.get(scope.tenant)?.providerKeys.delete(provider) ?? false;
    },

    appendAudit(scope, entry): Promise<StoredAuditEvent> {
      const problem = auditEntryProblem(entry);
      if (problem) return Promise.reject(fail(`Cannot append the audit entry: ${problem}. Nothing was written.`));
      const identity = identityOf(scope);
      const event = auditEventOf(scope.tenant, auditEventId(Date.parse(entry.at)), entry);
      // Chain this append behind the tenant's previous one: seq and prevHash are read only once it has landed.
      const appended = identity.auditTail.then(async () => {
        const previous = identity.audit.at(-1);
        const linked = { ...event, seq: identity.audit.length + 1, prevHash: previous?.hash ?? AUDIT_GENESIS_HASH };
        const stored: StoredAuditEvent = { ...linked, hash: await sha256Hex(auditCanonicalString(linked)) };
        identity.audit.push(stored);
        return copyEvent(stored);
      });
      identity.auditTail = appended.catch(() => undefined);
      return appended;
    },

    async listAudit(scope, query): Promise<StoredAuditEvent[]> {
      const after = query.afterSeq ?? 0;
      const log = identities.get(scope.tenant)?.audit ?? [];
      // seq n sits at index n - 1.
      return log.slice(Math.max(0, after), Math.max(0, after) + Math.max(0, query.limit)).map(copyEvent);
    },
  };
}

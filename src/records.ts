/**
 * Reading and managing stored runs for a principal: list, fetch by id or prefix, delete, recall, feedback, cost
 * reports, exports, backups and restores. `Consensus` exposes these; every call is scoped to the principal's
 * tenant.
 *
 * @module
 */
import { parseModelRef } from './adapter.js';
import { backupLines, parseBackup } from './backup.js';
import type { Clock } from './clock.js';
import { InvalidOptionError, NotFoundError, StorageError } from './errors.js';
import { type AuditTrail, authorizeAudited } from './engine/audit.js';
import type { Policy, PolicyAction, PolicyResource } from './policy.js';
import { threadToJson, threadToMarkdown } from './export.js';
import type { Principal, PrincipalOption } from './principal.js';
import {
  COST_GROUPS,
  type CostGroup,
  type CostRow,
  DEFAULT_TENANT,
  matchesRecall,
  OUTCOME_RESULTS,
  type OutcomeResult,
  type RecallHit,
  type RestoreMode,
  type StorageDriver,
  type StorageScope,
  type StoredContribution,
  type StoredThread,
  THREAD_STATUSES,
  type ThreadPage,
  type ThreadStatus,
  toRecallHit,
} from './storage.js';

/** Shortest id prefix accepted by `threads.get()`. */
export const MIN_ID_PREFIX = 8;

/** Filters for `threads.list()`. */
export interface ListThreadsOptions extends PrincipalOption {
  status?: ThreadStatus;
  /** Only the principal's own threads. @default false */
  mine?: boolean;
  /** @default 20 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/** Options for `recall()`. */
export interface RecallOptions extends PrincipalOption {
  /** @default 10 */
  limit?: number;
}

/** Options for `feedback()`. */
export interface FeedbackOptions extends PrincipalOption {
  notes?: string;
}

/** Options for `cost()`. */
export interface CostOptions extends PrincipalOption {
  /** @default 'model' */
  groupBy?: CostGroup;
  /** ISO date or timestamp, inclusive. */
  since?: string;
  /** ISO date or timestamp, inclusive (a date covers the whole day). */
  until?: string;
  /**
   * Every tenant's spending instead of the principal's tenant's (the policy is asked with `allTenants`; `rbac()`
   * allows it only to `crossTenantRoles`). Usually with `groupBy: 'tenant'`. @default false
   */
  allTenants?: boolean;
}

/** Options for `export()`. */
export interface ExportOptions extends PrincipalOption {
  /** @default 'markdown' */
  format?: 'json' | 'markdown';
  /** Markdown only: `decision` leaves out the rounds. @default 'full' */
  content?: 'full' | 'decision';
  /** Markdown only. @default true */
  includeDissent?: boolean;
}

/** Options for `backup()`. */
export interface BackupOptions extends PrincipalOption {
  /** Every tenant instead of the principal's. @default false */
  allTenants?: boolean;
}

/** Options for `restore()`. */
export interface RestoreOptions extends PrincipalOption {
  /** `merge` upserts by id; `replace` first deletes the backed-up tenants' threads. @default 'merge' */
  mode?: RestoreMode;
}

/** Stored runs, read back. */
export interface ThreadsApi {
  /** Threads, newest first, with the total matching the filter. */
  list(options?: ListThreadsOptions): Promise<ThreadPage>;
  /**
   * A thread by full id or by a unique prefix of at least 8 characters.
   * @throws {NotFoundError} when nothing matches (also for another tenant's thread)
   * @throws {InvalidOptionError} when the prefix is too short or matches several threads
   */
  get(idOrPrefix: string, options?: PrincipalOption): Promise<StoredThread>;
  /** Delete a thread (by id or prefix) with everything under it. @throws {NotFoundError} */
  delete(idOrPrefix: string, options?: PrincipalOption): Promise<void>;
  /**
   * Mark `failed` every `active` thread of the tenant not updated for `olderThanMs`: runs whose process died (a
   * crash, a kill, a serverless timeout) and never closed their thread. Their stored rounds (the last one maybe
   * in progress) stay readable. A live run moves `updatedAt` with every stored phase (every round with a driver
   * without `appendPhase`): choose `olderThanMs` above your longest phase (calls × timeout), or your longest
   * round for such drivers, or a live run may be marked; it still closes itself as `complete` when it ends.
   * Resolves to the ids marked.
   */
  sweep(options: SweepOptions): Promise<string[]>;
}

/** Options for `threads.sweep()`. */
export interface SweepOptions extends PrincipalOption {
  /** How long an `active` thread must have gone without an update, in milliseconds (at least 1000). */
  olderThanMs: number;
}

/** Check a `principal` option (undefined means anonymous in the default tenant). */
export function checkPrincipal(principal: Principal | undefined): Principal | undefined {
  if (principal === undefined) return undefined;
  if (typeof principal !== 'object' || principal === null || typeof principal.tenant !== 'string' || !principal.tenant || typeof principal.id !== 'string' || !principal.id) {
    throw new InvalidOptionError('principal', principal, 'The `principal` option must be `{ id, tenant, roles? }` with a non-empty `id` and `tenant`.');
  }
  return principal;
}

/** The storage scope a principal works in. */
export const scopeOf = (principal: Principal | undefined): StorageScope => ({ tenant: checkPrincipal(principal)?.tenant ?? DEFAULT_TENANT });

function integerOption(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be an integer between ${min} and ${max}, received ${String(value)}.`);
  }
  return value;
}

function isoOption(option: string, value: string | undefined, endOfDay: boolean): string | undefined {
  if (value === undefined) return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(dateOnly ? `${value}T00:00:00.000Z` : value);
  if (Number.isNaN(ms)) throw new InvalidOptionError(option, value, `The \`${option}\` option must be an ISO date like 2026-11-26, received ${JSON.stringify(value)}.`);
  return new Date(dateOnly && endOfDay ? ms + 86_399_999 : ms).toISOString();
}

/**
 * Cost rows computed from threads (for drivers without `costReport`, and the reference drivers' reports must
 * equal): every contribution, bounded and dated by its turn's `completedAt`, and every vote, by its `createdAt`.
 */
export function costRowsOf(threads: Iterable<StoredThread>, groupBy: CostGroup, since?: string, until?: string): CostRow[] {
  const rows = new Map<string, CostRow>();
  const add = (thread: StoredThread, call: Pick<StoredContribution, 'model' | 'costUsd' | 'inputTokens' | 'outputTokens'>, at: string) => {
    if ((since && at < since) || (until && at > until)) return;
    const key =
      groupBy === 'model' ? call.model
      : groupBy === 'provider' ? (parseModelRef(call.model)?.provider ?? call.model)
      : groupBy === 'user' ? (thread.userId ?? 'anonymous')
      : groupBy === 'tenant' ? thread.tenant
      : at.slice(0, 10);
    const row = rows.get(key) ?? { key, costUsd: 0, inputTokens: 0, outputTokens: 0, calls: 0 };
    row.costUsd += call.costUsd;
    row.inputTokens += call.inputTokens;
    row.outputTokens += call.outputTokens;
    row.calls++;
    rows.set(key, row);
  };
  for (const thread of threads) {
    for (const turn of thread.turns) for (const contribution of turn.contributions) add(thread, contribution, turn.completedAt);
    // Absent in threads read from an older backup.
    for (const vote of thread.votes ?? []) add(thread, vote, vote.createdAt);
  }
  return [...rows.values()].sort((a, b) => b.costUsd - a.costUsd || a.key.localeCompare(b.key));
}

/** The records API over one storage driver. */
export class Records {
  readonly #storage: StorageDriver;
  readonly #clock: Clock;
  readonly #policy: Policy | undefined;
  readonly #audit: AuditTrail | undefined;

  constructor(storage: StorageDriver, clock: Clock, policy?: Policy, audit?: AuditTrail) {
    this.#storage = storage;
    this.#clock = clock;
    this.#policy = policy;
    this.#audit = audit;
  }

  /** Ask the policy; a denial is audited and thrown as `PolicyDeniedError`. */
  #authorize(options: PrincipalOption, action: PolicyAction, resource: PolicyResource): Promise<void> {
    return authorizeAudited(this.#policy, this.#audit, { scope: { tenant: resource.tenant }, principal: options.principal, origin: options.origin }, action, resource);
  }

  /** Audit a change or an export that was allowed and done. */
  #done(options: PrincipalOption, action: PolicyAction, resource: string, details?: Record<string, string | number | boolean | null>): void {
    this.#audit?.record({ scope: scopeOf(options.principal), principal: options.principal, origin: options.origin }, action, resource, 'success', undefined, details);
  }

  /** A thread, for reading or changing it: resolved in the principal's tenant, then checked with the policy. */
  async #thread(options: PrincipalOption, idOrPrefix: string, action: PolicyAction): Promise<StoredThread> {
    const scope = scopeOf(options.principal);
    const thread = await this.#resolve(scope, idOrPrefix);
    await this.#authorize(options, action, { type: 'thread', tenant: scope.tenant, id: thread.id, ownerId: thread.userId });
    return thread;
  }

  readonly threads: ThreadsApi = {
    list: async (options: ListThreadsOptions = {}) => {
      const scope = scopeOf(options.principal);
      await this.#authorize(options, 'thread:list', { type: 'tenant', tenant: scope.tenant });
      if (options.status !== undefined && !THREAD_STATUSES.includes(options.status)) {
        throw new InvalidOptionError('status', options.status, `The \`status\` option must be one of ${THREAD_STATUSES.join(', ')}, received ${String(options.status)}.`);
      }
      if (options.mine && !options.principal) throw new InvalidOptionError('mine', true, 'The `mine` option needs a `principal`.');
      return this.#storage.listThreads(scope, {
        ...(options.status ? { status: options.status } : {}),
        ...(options.mine && options.principal ? { userId: options.principal.id } : {}),
        limit: integerOption('limit', options.limit, 20, 1, 1000),
        offset: integerOption('offset', options.offset, 0, 0, Number.MAX_SAFE_INTEGER),
      });
    },
    get: async (idOrPrefix: string, options: PrincipalOption = {}) => this.#thread(options, idOrPrefix, 'thread:read'),
    delete: async (idOrPrefix: string, options: PrincipalOption = {}) => {
      const thread = await this.#thread(options, idOrPrefix, 'thread:delete');
      if (!(await this.#storage.deleteThread(scopeOf(options.principal), thread.id))) throw new NotFoundError('thread', idOrPrefix);
      this.#done(options, 'thread:delete', `thread:${thread.id}`);
    },
    sweep: async (options: SweepOptions) => {
      const scope = scopeOf((options as SweepOptions | undefined)?.principal);
      if (typeof options !== 'object' || options === null || options.olderThanMs === undefined) {
        throw new InvalidOptionError('olderThanMs', undefined, 'threads.sweep() needs `{ olderThanMs }`, e.g. { olderThanMs: 3_600_000 } for an hour.');
      }
      const olderThanMs = integerOption('olderThanMs', options.olderThanMs, 0, 1000, Number.MAX_SAFE_INTEGER);
      await this.#authorize(options, 'thread:sweep', { type: 'tenant', tenant: scope.tenant });
      const now = this.#clock.now();
      const cutoff = new Date(now - olderThanMs).toISOString();
      const stale: { id: string; updatedAt: string }[] = [];
      // Collect first, then mark: marking changes what an `active` listing returns.
      for (let offset = 0; ; offset += 200) {
        const page = await this.#storage.listThreads(scope, { status: 'active', limit: 200, offset });
        for (const thread of page.threads) if (thread.updatedAt < cutoff) stale.push({ id: thread.id, updatedAt: thread.updatedAt });
        if (offset + 200 >= page.total) break;
      }
      const at = new Date(now).toISOString();
      const minutes = Math.round(olderThanMs / 60_000);
      const error = `Interrupted: the run stopped without closing its thread (no progress for over ${minutes >= 1 ? `${minutes} min` : `${Math.round(olderThanMs / 1000)} s`}).`;
      const failIdle = typeof this.#storage.failIdleThread === 'function' ? this.#storage.failIdleThread.bind(this.#storage) : undefined;
      const marked: string[] = [];
      for (const { id, updatedAt } of stale) {
        if (failIdle) {
          // One compare-and-set: a run that wrote or finished since the listing is left alone.
          if (await failIdle(scope, id, { idleSince: updatedAt, error, at })) marked.push(id);
          continue;
        }
        // Without it, look again just before marking: a run that finished (or moved on) since the listing keeps
        // its status. A run that finishes between this read and the write below still ends up `failed`.
        const current = await this.#storage.getThread(scope, id);
        if (current?.status !== 'active' || current.updatedAt >= cutoff) continue;
        marked.push(id);
        await this.#storage.finishThread(scope, id, { status: 'failed', error, at });
      }
      if (marked.length) this.#done(options, 'thread:sweep', `tenant:${scope.tenant}`, { threads: marked.length });
      return marked;
    },
  };

  async #resolve(scope: StorageScope, idOrPrefix: string): Promise<StoredThread> {
    if (typeof idOrPrefix !== 'string' || !idOrPrefix.trim()) {
      throw new InvalidOptionError('id', idOrPrefix, 'Pass a thread id, or a prefix of at least 8 characters.');
    }
    const id = idOrPrefix.trim();
    const exact = await this.#storage.getThread(scope, id);
    if (exact) return exact;
    if (id.length < MIN_ID_PREFIX) {
      throw new InvalidOptionError('id', id, `The id prefix \`${id}\` is too short; use at least ${MIN_ID_PREFIX} characters.`);
    }
    const page = await this.#storage.listThreads(scope, { idPrefix: id, limit: 2, offset: 0 });
    if (page.total === 0) throw new NotFoundError('thread', id);
    if (page.total > 1) throw new InvalidOptionError('id', id, `The id prefix \`${id}\` matches ${page.total} threads; use more characters.`);
    const found = await this.#storage.getThread(scope, page.threads[0]!.id);
    if (!found) throw new NotFoundError('thread', id);
    return found;
  }

  async recall(query: string, options: RecallOptions = {}): Promise<RecallHit[]> {
    const scope = scopeOf(options.principal);
    if (typeof query !== 'string' || !query.trim()) throw new InvalidOptionError('query', query, 'The recall `query` must be a non-empty string.');
    const limit = integerOption('limit', options.limit, 10, 1, 1000);
    await this.#authorize(options, 'recall', { type: 'tenant', tenant: scope.tenant });
    if (this.#storage.search) return this.#storage.search(scope, query.trim(), { limit });
    // The driver cannot search: scan pages of threads instead.
    const hits: RecallHit[] = [];
    for (let offset = 0; hits.length < limit; offset += 100) {
      const page = await this.#storage.listThreads(scope, { limit: 100, offset });
      for (const summary of page.threads) {
        const thread = await this.#storage.getThread(scope, summary.id);
        if (thread && matchesRecall(thread, query.trim())) hits.push(toRecallHit(thread));
        if (hits.length >= limit) break;
      }
      if (offset + 100 >= page.total) break;
    }
    return hits;
  }

  async feedback(idOrPrefix: string, result: OutcomeResult, options: FeedbackOptions = {}): Promise<StoredThread> {
    const scope = scopeOf(options.principal);
    if (!OUTCOME_RESULTS.includes(result)) {
      throw new InvalidOptionError('result', result, `The feedback \`result\` must be one of ${OUTCOME_RESULTS.join(', ')}, received ${JSON.stringify(result)}.`);
    }
    // The updated thread is handed back, so feedback needs the right to read it as well.
    const thread = await this.#thread(options, idOrPrefix, 'thread:read');
    await this.#authorize(options, 'thread:feedback', { type: 'thread', tenant: scope.tenant, id: thread.id, ownerId: thread.userId });
    if (!thread.turns.some((turn) => turn.decision !== null)) {
      throw new InvalidOptionError('id', idOrPrefix, `Thread \`${thread.id}\` has no decision yet; feedback is about a committed decision.`);
    }
    await this.#storage.saveOutcome(scope, thread.id, { result, notes: options.notes ?? null, at: new Date(this.#clock.now()).toISOString() });
    this.#done(options, 'thread:feedback', `thread:${thread.id}`, { result });
    return this.#resolve(scope, thread.id);
  }

  async cost(options: CostOptions = {}): Promise<CostRow[]> {
    const own = scopeOf(options.principal);
    const groupBy = options.groupBy ?? 'model';
    if (!COST_GROUPS.includes(groupBy)) {
      throw new InvalidOptionError('groupBy', groupBy, `The \`groupBy\` option must be ${COST_GROUPS.join(', ')}.`);
    }
    const since = isoOption('since', options.since, false);
    const until = isoOption('until', options.until, true);
    const allTenants = options.allTenants === true;
    await this.#authorize(options, 'cost:read', { type: 'tenant', tenant: own.tenant, ...(allTenants ? { allTenants } : {}) });
    const scope = allTenants ? 'all' : own;
    if (this.#storage.costReport) return this.#storage.costReport(scope, { groupBy, ...(since ? { since } : {}), ...(until ? { until } : {}) });
    const threads: StoredThread[] = [];
    for await (const thread of this.#storage.exportThreads(scope)) threads.push(thread);
    return costRowsOf(threads, groupBy, since, until);
  }

  async export(idOrPrefix: string, options: ExportOptions = {}): Promise<string> {
    const format = options.format ?? 'markdown';
    if (format !== 'json' && format !== 'markdown') throw new InvalidOptionError('format', format, 'The `format` option must be json or markdown.');
    const thread = await this.#thread(options, idOrPrefix, 'thread:export');
    const exportedAt = new Date(this.#clock.now()).toISOString();
    this.#done(options, 'thread:export', `thread:${thread.id}`, { format });
    if (format === 'json') return `${JSON.stringify(threadToJson(thread, exportedAt), null, 2)}\n`;
    return threadToMarkdown(thread, {
      exportedAt,
      ...(options.content ? { content: options.content } : {}),
      ...(options.includeDissent !== undefined ? { includeDissent: options.includeDissent } : {}),
    });
  }

  backup(options: BackupOptions = {}): AsyncIterable<string> {
    const tenant = scopeOf(options.principal).tenant;
    const scope = options.allTenants ? 'all' : { tenant };
    const lines = () => backupLines(this.#storage.exportThreads(scope), new Date(this.#clock.now()).toISOString());
    if (!this.#policy && !this.#audit?.enabled) return lines();
    // Asked when the backup is first read: an iterable cannot reject before it is iterated.
    const authorize = () => this.#authorize(options, 'backup:read', { type: 'tenant', tenant, allTenants: options.allTenants === true });
    const done = () => this.#done(options, 'backup:read', options.allTenants ? 'tenant:*' : `tenant:${tenant}`);
    return {
      async *[Symbol.asyncIterator]() {
        await authorize();
        // Audited as soon as it is allowed: a reader that stops early has still read what it read.
        done();
        yield* lines();
      },
    };
  }

  async restore(backup: string | AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: RestoreOptions = {}): Promise<{ threads: number }> {
    const mode = options.mode ?? 'merge';
    if (mode !== 'merge' && mode !== 'replace') throw new InvalidOptionError('mode', mode, 'The restore `mode` must be merge or replace.');
    let text = '';
    if (typeof backup === 'string') text = backup;
    else {
      // Byte chunks (a file stream) are decoded as one UTF-8 stream, so a character split across chunks survives.
      const decoder = new TextDecoder('utf-8', { fatal: true });
      for await (const chunk of backup as AsyncIterable<string | Uint8Array>) {
        text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      }
      text += decoder.decode();
    }
    const threads = parseBackup(text, this.#storage.name);
    const tenant = scopeOf(options.principal).tenant;
    const allTenants = threads.some((thread) => thread.tenant !== tenant);
    await this.#authorize(options, 'backup:restore', { type: 'tenant', tenant, allTenants });
    try {
      const restored = await this.#storage.importThreads(threads, { mode });
      this.#done(options, 'backup:restore', allTenants ? 'tenant:*' : `tenant:${tenant}`, { threads: restored.threads, mode });
      return restored;
    } catch (error) {
      if (StorageError.isInstance(error)) throw error;
      throw new StorageError(this.#storage.name, `Could not restore the backup: ${(error as Error).message}. Nothing was restored.`, { cause: error });
    }
  }
}

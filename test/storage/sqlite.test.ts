// The SQLite driver: the shared conformance suite on a temp file and on ':memory:', plus what only SQL can get
// wrong (transactions, migrations, concurrent connections, FTS5, passed-in databases) and an end-to-end run.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, StorageError } from '../../src/errors.js';
import { costRowsOf } from '../../src/records.js';
import type { CostGroup, NewThread, StorageDriver, StorageScope, StoredThread, StoredTurn } from '../../src/storage.js';
import { storageDriverConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { recallMatchExpression, sqliteStorage, SQLITE_SCHEMA_VERSION } from '../../storage/sqlite.js';

const root = mkdtempSync(join(tmpdir(), 'duh-sqlite-'));
let fileCounter = 0;
const tempFile = () => join(root, `case-${++fileCounter}.db`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const opened: StorageDriver[] = [];
afterEach(async () => {
  for (const driver of opened.splice(0)) await driver.close?.();
});
/** A driver closed after the test. */
const track = (driver: StorageDriver) => {
  opened.push(driver);
  return driver;
};

const A: StorageScope = { tenant: 'acme' };
const B: StorageScope = { tenant: 'globex' };
const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
let idCounter = 0;
const newId = () => `0190a1b2-${String(++idCounter).padStart(4, '0')}-7e5f-8a9b-c3d4e5f6a7b8`;
const thread = (overrides: Partial<NewThread> = {}): NewThread => ({ id: newId(), question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(0), ...overrides });
const turn = (round: number, decision: string | null = `decision ${round}`, completedAt = at(round)): StoredTurn => ({
  roundNumber: round,
  state: 'COMMIT',
  contributions: [
    { model: 'a:x', role: 'proposer', content: 'p', inputTokens: 10, outputTokens: 20, costUsd: 0.25, latencyMs: 5, finishReason: 'stop', truncated: false },
    {
      model: 'b:y',
      role: 'challenger',
      content: 'c',
      inputTokens: 11,
      outputTokens: 21,
      costUsd: 0.5,
      latencyMs: 6.5,
      finishReason: 'length',
      truncated: true,
      framing: 'flaw',
      sycophantic: true,
      providerMetadata: { citations: ['https://example.com'], nested: { n: 1 } },
    },
  ],
  decision: decision === null ? null : { content: decision, confidence: 0.7, rigor: 1, dissent: '[b:y]: c', taxonomy: round % 2 ? { intent: 'technical', category: 'db', genus: '' } : null },
  createdAt: completedAt,
  completedAt,
});
const rejection = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
const expectStorageError = async (promise: Promise<unknown>, pattern?: RegExp) => {
  const error = await rejection(promise);
  expect(StorageError.isInstance(error), `expected a StorageError, got ${String(error)}`).toBe(true);
  if (pattern) expect((error as Error).message).toMatch(pattern);
  return error as StorageError;
};
/**
 * Put a file's recall index back as schema version 3 wrote it (one FTS5 row per thread: its question and every
 * decision joined by newlines, at `threads.recall_rowid`; no `turns.recall_rowid`), and forget version 4.
 */
const rollBackRecallToVersion3 = (db: DatabaseSync) =>
  db.exec(`
    ALTER TABLE users DROP COLUMN sessions_ended_at;
    DROP TABLE recall_texts;
    ALTER TABLE turns DROP COLUMN recall_rowid;
    CREATE VIRTUAL TABLE threads_recall USING fts5 (question, decisions, tokenize = 'unicode61 remove_diacritics 2');
    INSERT INTO threads_recall (rowid, question, decisions)
      SELECT t.recall_rowid, t.question, coalesce((SELECT group_concat(decision, char(10)) FROM (SELECT u.decision FROM turns u
        WHERE u.tenant = t.tenant AND u.thread_id = t.id AND u.decision IS NOT NULL ORDER BY u.round_number)), '')
      FROM threads t;
    DELETE FROM duh_migrations WHERE version >= 4;
  `);
const exportAll = async (driver: StorageDriver, scope: StorageScope | 'all' = 'all') => {
  const threads: StoredThread[] = [];
  for await (const stored of driver.exportThreads(scope)) threads.push(stored);
  return threads;
};

describe('storageDriverConformance', () => {
  describe('on a fresh temp file per case (a second driver on the same file as the other connection)', () => {
    const pathOf = new WeakMap<StorageDriver, string>();
    const create = () => {
      const path = tempFile();
      const driver = track(sqliteStorage({ path }));
      pathOf.set(driver, path);
      return driver;
    };
    for (const check of storageDriverConformance({ create, reopen: (driver) => track(sqliteStorage({ path: pathOf.get(driver)! })) })) it(check.name, check.run);
  });
  describe("on ':memory:'", () => {
    for (const check of storageDriverConformance({ create: () => track(sqliteStorage({ path: ':memory:' })) })) it(check.name, check.run);
  });
});

describe.each([
  ['a temp file', () => tempFile()],
  [':memory:', () => ':memory:'],
])('sqliteStorage on %s', (_label, pathOf) => {
  const create = () => track(sqliteStorage({ path: pathOf() }));

  it('creates threads, reads them back, and rejects a duplicate id keeping the original', async () => {
    const driver = create();
    expect(driver.specificationVersion).toBe('v1');
    expect(driver.name).toBe('sqlite');
    const created = thread({ question: 'first', userId: 'u1' });
    await driver.createThread(A, created);
    expect(await driver.getThread(A, created.id)).toEqual({
      ...created,
      tenant: 'acme',
      status: 'active',
      updatedAt: created.createdAt,
      error: null,
      turns: [],
      outcome: null,
      votes: [],
      subtasks: [],
    });
    await expectStorageError(driver.createThread(A, { ...created, question: 'second' }), /already exists/);
    expect((await driver.getThread(A, created.id))?.question).toBe('first');
    expect(await driver.getThread(A, newId())).toBeNull();
  });

  it('round-trips every turn field exactly (decision or none, taxonomy or none, provider metadata) and writes a round once', async () => {
    const driver = create();
    const { id } = thread();
    await driver.createThread(A, thread({ id }));
    const turns = [turn(1), turn(2), turn(3, null)];
    for (const each of turns) await driver.appendTurn(A, id, each);
    const read = await driver.getThread(A, id);
    expect(read?.turns).toEqual(turns);
    expect(JSON.stringify(read?.turns[0])).toBe(JSON.stringify(turns[0])); // same keys, same order
    expect(read?.updatedAt).toBe(at(3));
    await expectStorageError(driver.appendTurn(A, id, turn(2, 'again')), /already has round 2/);
    await expectStorageError(driver.appendTurn(A, newId(), turn(1)), /does not exist/);
  });

  it('a failed appendTurn leaves the thread exactly as it was (duplicate round, or a failure half-way through)', async () => {
    const driver = create();
    const { id } = thread();
    await driver.createThread(A, thread({ id }));
    await driver.appendTurn(A, id, turn(1));
    const before = await driver.getThread(A, id);

    await expectStorageError(driver.appendTurn(A, id, turn(1, 'zebra duplicate', at(50))), /rounds are written once/);
    // The turn row and the first contribution are written before this contribution's metadata fails to serialise.
    const broken = turn(2, 'zebra broken', at(60));
    const poisoned: StoredTurn = { ...broken, contributions: [broken.contributions[0]!, { ...broken.contributions[1]!, providerMetadata: { big: 1n } }] };
    const error = await expectStorageError(driver.appendTurn(A, id, poisoned), /Nothing was written/);
    expect(error.message).toMatch(/^\[sqlite\] Could not save round 2/);

    expect(await driver.getThread(A, id)).toEqual(before);
    expect(await driver.search!(A, 'zebra', { limit: 10 })).toEqual([]);
    await driver.appendTurn(A, id, turn(2)); // round 2 is still free
    expect((await driver.getThread(A, id))?.turns.map((each) => each.roundNumber)).toEqual([1, 2]);
  });

  it('finishes threads as complete or failed, keeping the error', async () => {
    const driver = create();
    const [ok, bad] = [thread(), thread()];
    await driver.createThread(A, ok);
    await driver.createThread(A, bad);
    await driver.finishThread(A, ok.id, { status: 'complete', at: at(5) });
    await driver.finishThread(A, bad.id, { status: 'failed', error: 'boom', at: at(6) });
    expect(await driver.getThread(A, ok.id)).toMatchObject({ status: 'complete', error: null, updatedAt: at(5) });
    expect(await driver.getThread(A, bad.id)).toMatchObject({ status: 'failed', error: 'boom', updatedAt: at(6) });
    await expectStorageError(driver.finishThread(A, newId(), { status: 'complete', at: at(7) }), /does not exist/);
  });

  it('lists newest first with status, id-prefix and user filters, paging and a total of every match', async () => {
    const driver = create();
    const made = [thread({ createdAt: at(1), userId: 'u1' }), thread({ createdAt: at(2), userId: 'u2' }), thread({ createdAt: at(3), userId: 'u1' })];
    const odd = [thread({ id: 'pre*fix?[x]-1', createdAt: at(4) }), thread({ id: 'prefab-2', createdAt: at(5) }), thread({ id: 'PRE-3', createdAt: at(6) })];
    for (const each of [...made, ...odd]) await driver.createThread(A, each);
    await driver.finishThread(A, made[0]!.id, { status: 'complete', at: at(9) });
    const all = await driver.listThreads(A, { limit: 10, offset: 0 });
    expect(all.total).toBe(6);
    expect(all.threads.map((each) => each.id)).toEqual([...made, ...odd].map((each) => each.id).reverse());
    expect(all.threads[5]).toEqual({ id: made[0]!.id, question: 'Q?', status: 'complete', protocol: 'consensus', userId: 'u1', createdAt: at(1), updatedAt: at(9) });
    const page = await driver.listThreads(A, { limit: 2, offset: 1 });
    expect([page.total, page.threads.map((each) => each.id)]).toEqual([6, [odd[1]!.id, odd[0]!.id]]);
    expect((await driver.listThreads(A, { status: 'complete', limit: 10, offset: 0 })).total).toBe(1);
    const mine = await driver.listThreads(A, { userId: 'u1', limit: 1, offset: 0 });
    expect([mine.total, mine.threads.map((each) => each.id)]).toEqual([2, [made[2]!.id]]);
    // The prefix is literal and case-sensitive: GLOB wildcards in it match only themselves.
    expect((await driver.listThreads(A, { idPrefix: 'pre*fix?[x]', limit: 10, offset: 0 })).threads.map((each) => each.id)).toEqual(['pre*fix?[x]-1']);
    expect((await driver.listThreads(A, { idPrefix: 'pre', limit: 10, offset: 0 })).total).toBe(2);
    expect((await driver.listThreads(A, { idPrefix: 'pre?', limit: 10, offset: 0 })).total).toBe(0);
    expect((await driver.listThreads(A, { idPrefix: made[1]!.id.slice(0, 13), limit: 10, offset: 0 })).threads.map((each) => each.id)).toEqual([made[1]!.id]);
  });

  it('deletes a thread with its turns, contributions, outcome and recall entry', async () => {
    const driver = create();
    const [gone, kept] = [thread({ question: 'walrus one' }), thread({ question: 'walrus two' })];
    for (const each of [gone, kept]) {
      await driver.createThread(A, each);
      await driver.appendTurn(A, each.id, turn(1));
      await driver.saveOutcome(A, each.id, { result: 'success', notes: null, at: at(10) });
    }
    expect(await driver.deleteThread(A, gone.id)).toBe(true);
    expect(await driver.deleteThread(A, gone.id)).toBe(false);
    expect(await driver.getThread(A, gone.id)).toBeNull();
    expect((await driver.search!(A, 'walrus', { limit: 10 })).map((hit) => hit.threadId)).toEqual([kept.id]);
    expect((await driver.costReport!(A, { groupBy: 'model' })).reduce((sum, row) => sum + row.calls, 0)).toBe(2);
    expect((await driver.getThread(A, kept.id))?.outcome?.result).toBe('success');
    // A thread can be created again under the deleted id.
    await driver.createThread(A, gone);
    expect((await driver.getThread(A, gone.id))?.turns).toEqual([]);
  });

  it('saves feedback on the latest decision and replaces it, keeping when it was first given', async () => {
    const driver = create();
    const { id } = thread();
    await driver.createThread(A, thread({ id }));
    await expectStorageError(driver.saveOutcome(A, id, { result: 'success', notes: null, at: at(1) }), /no decision yet/);
    await driver.appendTurn(A, id, turn(1));
    await driver.appendTurn(A, id, turn(2));
    await driver.appendTurn(A, id, turn(3, null));
    await driver.saveOutcome(A, id, { result: 'partial', notes: 'meh', at: at(20) });
    await driver.saveOutcome(A, id, { result: 'failure', notes: null, at: at(30) });
    expect((await driver.getThread(A, id))?.outcome).toEqual({ result: 'failure', notes: null, roundNumber: 2, createdAt: at(20), updatedAt: at(30) });
    await expectStorageError(driver.saveOutcome(A, newId(), { result: 'success', notes: null, at: at(1) }), /does not exist/);
  });

  it('keeps tenants apart in every operation', async () => {
    const driver = create();
    const secret = thread({ question: 'secret walrus plan', userId: 'u1' });
    await driver.createThread(A, secret);
    await driver.appendTurn(A, secret.id, turn(1, 'walrus decision'));
    await driver.saveOutcome(A, secret.id, { result: 'success', notes: null, at: at(5) });

    expect(await driver.getThread(B, secret.id)).toBeNull();
    expect(await driver.listThreads(B, { limit: 10, offset: 0 })).toEqual({ threads: [], total: 0 });
    expect(await driver.listThreads(B, { idPrefix: secret.id.slice(0, 8), limit: 10, offset: 0 })).toEqual({ threads: [], total: 0 });
    expect(await driver.search!(B, 'walrus', { limit: 10 })).toEqual([]);
    expect(await driver.search!(B, '??', { limit: 10 })).toEqual([]);
    for (const groupBy of ['model', 'provider', 'user', 'day'] as const) expect(await driver.costReport!(B, { groupBy })).toEqual([]);
    expect(await exportAll(driver, B)).toEqual([]);
    await expectStorageError(driver.appendTurn(B, secret.id, turn(2)));
    await expectStorageError(driver.finishThread(B, secret.id, { status: 'failed', error: 'x', at: at(9) }));
    await expectStorageError(driver.saveOutcome(B, secret.id, { result: 'failure', notes: null, at: at(9) }));
    expect(await driver.deleteThread(B, secret.id)).toBe(false);

    // The same id in another tenant is another thread.
    await driver.createThread(B, { ...secret, question: 'public' });
    expect((await driver.getThread(B, secret.id))?.question).toBe('public');
    const untouched = await driver.getThread(A, secret.id);
    expect(untouched).toMatchObject({ tenant: 'acme', question: 'secret walrus plan', status: 'active', outcome: { result: 'success' } });
    expect(untouched?.turns).toHaveLength(1);
  });

  it('recalls with FTS5: ranked by bm25 (score = -bm25, higher first), prefix and case/diacritic-insensitive terms, latest decision', async () => {
    const driver = create();
    const strong = thread({ question: 'Kafka kafka Kafka?', createdAt: at(1) });
    const weak = thread({ question: 'Which message broker for billing, given our team, budget, latency goals and the existing Postgres?', createdAt: at(2) });
    const viaDecision = thread({ question: 'Pick a queue', createdAt: at(3) });
    const accented = thread({ question: 'Le café est prêt', createdAt: at(4) });
    const unrelated = thread({ question: 'Unrelated', createdAt: at(5) });
    for (const each of [strong, weak, viaDecision, accented, unrelated]) await driver.createThread(A, each);
    await driver.appendTurn(A, weak.id, turn(1, 'Kafka, probably'));
    await driver.appendTurn(A, viaDecision.id, turn(1, 'Use Kafka with compaction'));
    await driver.appendTurn(A, viaDecision.id, turn(2, 'Use Kafka with tiered storage'));
    await driver.appendTurn(A, viaDecision.id, turn(3, null));

    const hits = await driver.search!(A, 'KAFKA', { limit: 10 });
    expect(hits.map((hit) => hit.threadId).sort()).toEqual([strong.id, weak.id, viaDecision.id].sort());
    expect(hits[0]!.threadId).toBe(strong.id); // three occurrences in a short question
    for (const [index, hit] of hits.entries()) {
      expect(hit.score).toBeGreaterThan(0);
      if (index > 0) expect(hit.score).toBeLessThanOrEqual(hits[index - 1]!.score);
    }
    expect(hits.find((hit) => hit.threadId === viaDecision.id)).toEqual({
      threadId: viaDecision.id,
      question: 'Pick a queue',
      status: 'active',
      createdAt: at(3),
      decision: 'Use Kafka with tiered storage',
      confidence: 0.7,
      rigor: 1,
      score: expect.any(Number),
    });
    expect(hits.find((hit) => hit.threadId === strong.id)).toMatchObject({ decision: null, confidence: null, rigor: null });
    expect(await driver.search!(A, 'kafka', { limit: 1 })).toHaveLength(1);
    expect((await driver.search!(A, 'compact', { limit: 10 })).map((hit) => hit.threadId)).toEqual([viaDecision.id]); // prefix
    expect((await driver.search!(A, 'CAFE', { limit: 10 })).map((hit) => hit.threadId)).toEqual([accented.id]); // diacritics
    expect((await driver.search!(A, 'kafka billing', { limit: 10 })).map((hit) => hit.threadId)).toEqual([weak.id]); // every term
    expect(await driver.search!(A, 'kafka zzz', { limit: 10 })).toEqual([]);
  });

  it('never lets the query become FTS5 syntax, and falls back to a substring match without word characters', async () => {
    const driver = create();
    const plain = thread({ question: 'tenant sharding OR NOT', createdAt: at(1) });
    const punct = thread({ question: 'What does ?! mean in C++ -- really', createdAt: at(2) });
    for (const each of [plain, punct]) await driver.createThread(A, each);
    for (const query of ['"', '""', 'tenant"', 'tenant OR zzz', 'NOT tenant', 'tenant AND', 'NEAR(tenant sharding)', 'question:tenant', 'decisions : x', '^tenant', 'tenant*', '-tenant', '+', '(', ')', '{question}: tenant', 'a\u0000b', '\u0301']) {
      await expect(driver.search!(A, query, { limit: 10 }), query).resolves.toBeInstanceOf(Array);
    }
    // Operators are words like any other: `OR` is a term that must appear, not a disjunction.
    expect((await driver.search!(A, 'tenant OR zzz', { limit: 10 })).map((hit) => hit.threadId)).toEqual([]);
    expect((await driver.search!(A, 'tenant OR', { limit: 10 })).map((hit) => hit.threadId)).toEqual([plain.id]);
    expect((await driver.search!(A, 'question:tenant', { limit: 10 })).map((hit) => hit.threadId)).toEqual([]);
    // Only punctuation: substring match, newest first, score 0.
    const fallback = await driver.search!(A, '?!', { limit: 10 });
    expect(fallback.map((hit) => [hit.threadId, hit.score])).toEqual([[punct.id, 0]]);
    expect((await driver.search!(A, '-- ++', { limit: 10 })).map((hit) => hit.threadId)).toEqual([]);
    expect((await driver.search!(A, '--', { limit: 10 })).map((hit) => hit.threadId)).toEqual([punct.id]);
    expect(recallMatchExpression('Shard by "tenant" OR region*')).toBe('"Shard"* "by"* "tenant"* "OR"* "region"*');
    expect(recallMatchExpression('?! -- ()')).toBeUndefined();
  });

  it('reports cost in SQL exactly as costRowsOf does, for every grouping and inclusive bounds', async () => {
    const driver = create();
    const contribution = (model: string, costUsd: number, inputTokens: number) => ({
      model: model as `${string}:${string}`,
      role: 'proposer' as const,
      content: 'x',
      inputTokens,
      outputTokens: inputTokens * 2,
      costUsd,
      latencyMs: 1,
      finishReason: 'stop' as const,
      truncated: false,
    });
    const costTurn = (round: number, completedAt: string, contributions: StoredTurn['contributions']): StoredTurn => ({ ...turn(round), contributions, createdAt: completedAt, completedAt });
    const specs: Array<{ userId: string | null; turns: StoredTurn[] }> = [
      { userId: 'alice', turns: [costTurn(1, '2026-03-01T10:00:00.000Z', [contribution('openai:gpt', 0.5, 10), contribution('anthropic:claude', 0.25, 5)])] },
      {
        userId: null,
        turns: [
          costTurn(1, '2026-03-01T23:59:59.999Z', [contribution('openai:mini', 0.125, 1), contribution('nocolon', 0.5, 3), contribution(':lead', 0.25, 1)]),
          costTurn(2, '2026-03-02T00:00:00.000Z', [contribution('trail:', 0.25, 2), contribution('Zeta:z', 0.25, 2), contribution('alpha:a', 0.25, 2)]),
        ],
      },
      { userId: 'bob', turns: [costTurn(1, '2026-03-03T08:00:00.000Z', [contribution('a:b:c', 1, 7), contribution('openai:gpt', 0, 0)])] },
      { userId: '', turns: [costTurn(1, '2026-03-04T08:00:00.000Z', [contribution('Openai:GPT', 0.25, 1)])] },
    ];
    for (const [index, spec] of specs.entries()) {
      const created = thread({ userId: spec.userId, createdAt: at(index) });
      await driver.createThread(A, created);
      for (const each of spec.turns) await driver.appendTurn(A, created.id, each);
    }
    const stored = await exportAll(driver, A);
    const bounds: Array<[string | undefined, string | undefined]> = [[undefined, undefined], ['2026-03-01T23:59:59.999Z', undefined], [undefined, '2026-03-02T00:00:00.000Z'], ['2026-03-02T00:00:00.000Z', '2026-03-03T08:00:00.000Z'], ['2027-01-01T00:00:00.000Z', undefined]];
    for (const groupBy of ['model', 'provider', 'user', 'day'] as CostGroup[]) {
      for (const [since, until] of bounds) {
        const expected = costRowsOf(stored, groupBy, since, until);
        const actual = await driver.costReport!(A, { groupBy, ...(since ? { since } : {}), ...(until ? { until } : {}) });
        expect(actual, `${groupBy} ${since} ${until}`).toEqual(expected);
      }
    }
    expect((await driver.costReport!(A, { groupBy: 'provider' })).map((row) => row.key)).toEqual(['a', 'openai', 'nocolon', ':lead', 'alpha', 'anthropic', 'Openai', 'trail:', 'Zeta']);
  });

  it('exports oldest first, per tenant or for all tenants, across many pages', async () => {
    const driver = create();
    const ids: string[] = [];
    for (let index = 0; index < 230; index++) {
      const scope = index % 3 === 0 ? B : A;
      const created = thread({ createdAt: new Date(Date.UTC(2026, 0, 1) + (229 - index) * 1000).toISOString() });
      ids.push(`${scope.tenant}/${created.id}`);
      await driver.createThread(scope, created);
    }
    const everything = await exportAll(driver, 'all');
    expect(everything.map((each) => `${each.tenant}/${each.id}`)).toEqual([...ids].reverse());
    const acme = await exportAll(driver, A);
    expect(acme.map((each) => `${each.tenant}/${each.id}`)).toEqual([...ids].reverse().filter((key) => key.startsWith('acme/')));
    expect(acme.every((each) => each.tenant === 'acme')).toBe(true);
  });

  it('restores all or nothing: merge upserts by id, replace empties only the backed-up tenants, and both are idempotent', async () => {
    const source = create();
    const first = thread({ question: 'first', createdAt: at(1), userId: 'u1' });
    const second = thread({ question: 'second', createdAt: at(2) });
    await source.createThread(A, first);
    await source.appendTurn(A, first.id, turn(1, 'narwhal'));
    await source.appendTurn(A, first.id, turn(2));
    await source.saveOutcome(A, first.id, { result: 'partial', notes: 'n', at: at(9) });
    await source.finishThread(A, first.id, { status: 'complete', at: at(10) });
    await source.createThread(B, second);
    const backup = await exportAll(source, 'all');

    const target = create();
    const local = thread({ question: 'local only' });
    await target.createThread(A, local);
    await target.createThread(A, { ...first, question: 'stale copy' });
    expect(await target.importThreads(backup, { mode: 'merge' })).toEqual({ threads: 2 });
    expect(await target.importThreads(backup, { mode: 'merge' })).toEqual({ threads: 2 });
    expect(await target.getThread(A, first.id)).toEqual(backup[0]);
    expect(await target.getThread(A, local.id)).not.toBeNull();
    expect((await target.search!(A, 'narwhal', { limit: 5 })).map((hit) => hit.threadId)).toEqual([first.id]);
    expect((await target.search!(A, 'stale', { limit: 5 }))).toEqual([]);

    await target.createThread({ tenant: 'other' }, thread({ question: 'other tenant' }));
    await target.importThreads([backup[0]!], { mode: 'replace' });
    await target.importThreads([backup[0]!], { mode: 'replace' });
    expect((await exportAll(target, A)).map((each) => each.id)).toEqual([first.id]);
    expect((await exportAll(target, B)).map((each) => each.id)).toEqual([second.id]); // not in that backup: untouched
    expect(await exportAll(target, { tenant: 'other' })).toHaveLength(1);
    expect(await target.search!(A, 'local', { limit: 5 })).toEqual([]);
  });

  it('writes nothing when a restore is invalid or fails part-way (even in replace mode)', async () => {
    const driver = create();
    const kept = thread({ question: 'kept' });
    await driver.createThread(A, kept);
    await driver.appendTurn(A, kept.id, turn(1));
    const before = await exportAll(driver, 'all');
    const good: StoredThread = { ...thread({ question: 'new' }), tenant: 'acme', status: 'complete', updatedAt: at(1), error: null, turns: [turn(1)], outcome: null, votes: [], subtasks: [] };

    const invalid = [good, { ...good, id: newId(), turns: [turn(1), turn(1)] }];
    await expectStorageError(driver.importThreads(invalid, { mode: 'replace' }), /Backup thread 2 .*round 1 appears twice.*Nothing was restored/);
    await expectStorageError(driver.importThreads([{ ...good, status: 'done' as never }], { mode: 'merge' }), /`status` must be one of/);
    await expectStorageError(driver.importThreads([{ ...good, turns: [{ ...turn(1), contributions: [{ ...turn(1).contributions[0]!, costUsd: Number.NaN }] }] }], { mode: 'merge' }), /costUsd must be a finite number/);
    // Valid on its face but fails in SQL half-way through the second thread: the replace's deletes roll back too.
    const failing = { ...good, id: newId(), turns: [{ ...turn(1), contributions: [{ ...turn(1).contributions[0]!, providerMetadata: { big: 2n } }] }] };
    await expectStorageError(driver.importThreads([good, failing], { mode: 'replace' }), /Nothing was written/);
    expect(await exportAll(driver, 'all')).toEqual(before);
  });
});

describe('sqliteStorage options and lifecycle', () => {
  it('validates its options at once', () => {
    const database = new DatabaseSync(':memory:');
    expect(() => sqliteStorage({ path: 'x.db', database })).toThrow(InvalidOptionError);
    expect(() => sqliteStorage({ path: '' })).toThrow(/`path` option/);
    expect(() => sqliteStorage({ busyTimeoutMs: -1 })).toThrow(/`busyTimeoutMs`/);
    expect(() => sqliteStorage({ database: {} as never })).toThrow(/`database` option/);
    database.close();
  });

  it('opens nothing until first used, then creates the file and its folder, in WAL mode', async () => {
    const path = join(root, 'nested', 'deeper', 'lazy.db');
    const driver = track(sqliteStorage({ path }));
    expect(existsSync(path)).toBe(false);
    expect(await driver.listThreads(A, { limit: 1, offset: 0 })).toEqual({ threads: [], total: 0 });
    expect(existsSync(path)).toBe(true);
    const probe = new DatabaseSync(path);
    expect(probe.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    probe.close();
  });

  it('rejects every call after close(), and close() is idempotent', async () => {
    const driver = sqliteStorage({ path: tempFile() });
    await driver.createThread(A, thread());
    await driver.close?.();
    await driver.close?.();
    await expectStorageError(driver.listThreads(A, { limit: 1, offset: 0 }), /was closed/);
    await sqliteStorage({ path: tempFile() }).close?.(); // never opened: nothing to close
  });

  it('uses a passed-in database without closing it, and joins a transaction the caller has open', async () => {
    const database = new DatabaseSync(':memory:');
    const driver = sqliteStorage({ database });
    const kept = thread();
    await driver.createThread(A, kept);
    await driver.close?.();
    expect(database.isOpen).toBe(true);
    expect(database.prepare('SELECT count(*) AS n FROM threads').get()).toEqual({ n: 1 });

    const again = sqliteStorage({ database });
    database.exec('BEGIN');
    await again.createThread(A, thread({ id: 'rolled-back' }));
    expect(await again.getThread(A, 'rolled-back')).not.toBeNull();
    database.exec('ROLLBACK');
    expect(await again.getThread(A, 'rolled-back')).toBeNull();
    expect(await again.getThread(A, kept.id)).not.toBeNull();
    await again.close?.();
    database.close();
  });

  it('migrates once, records the version, and refuses a file from a newer duh', async () => {
    const path = tempFile();
    for (let open = 0; open < 3; open++) {
      const driver = sqliteStorage({ path });
      await driver.createThread(A, thread());
      await driver.close?.();
    }
    const probe = new DatabaseSync(path);
    expect(probe.prepare('SELECT version FROM duh_migrations ORDER BY version').all()).toEqual(
      Array.from({ length: SQLITE_SCHEMA_VERSION }, (_, index) => ({ version: index + 1 })),
    );
    expect(probe.prepare('SELECT count(*) AS n FROM threads').get()).toEqual({ n: 3 });
    probe.prepare('INSERT INTO duh_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(99, 'future', at(0));
    probe.close();
    await expectStorageError(track(sqliteStorage({ path })).listThreads(A, { limit: 1, offset: 0 }), /schema version 99.*Upgrade duh/);
  });

  it('two drivers opening one new file together both migrate safely and see each other', async () => {
    const path = tempFile();
    const [one, two] = [track(sqliteStorage({ path })), track(sqliteStorage({ path }))];
    const [x, y] = [thread(), thread()];
    await Promise.all([one.createThread(A, x), two.createThread(A, y)]);
    await Promise.all([one.appendTurn(A, y.id, turn(1)), two.appendTurn(A, y.id, turn(2)), one.appendTurn(A, x.id, turn(1))]);
    expect((await two.getThread(A, y.id))?.turns.map((each) => each.roundNumber)).toEqual([1, 2]);
    expect((await one.listThreads(A, { limit: 10, offset: 0 })).total).toBe(2);
    const probe = new DatabaseSync(path);
    expect(probe.prepare('SELECT count(*) AS n FROM duh_migrations').get()).toEqual({ n: SQLITE_SCHEMA_VERSION });
    probe.close();
  });

  it('deletes every row under a thread even on a passed-in connection with foreign keys off', async () => {
    const database = new DatabaseSync(':memory:');
    const driver = sqliteStorage({ database });
    const [gone, kept] = [thread(), thread()];
    await driver.createThread(A, gone);
    await driver.createThread(A, kept);
    await driver.createThread(B, thread({ id: gone.id }));
    database.exec('PRAGMA foreign_keys = OFF');
    for (const [scope, id] of [[A, gone.id], [A, kept.id], [B, gone.id]] as const) {
      await driver.appendTurn(scope, id, turn(1));
      await driver.saveOutcome(scope, id, { result: 'success', notes: null, at: at(9) });
    }
    const count = (table: string) => (database.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant = 'acme' AND thread_id = ?`).get(gone.id) as { n: number }).n;
    expect(await driver.deleteThread(A, gone.id)).toBe(true);
    expect([count('turns'), count('contributions'), count('outcomes')]).toEqual([0, 0, 0]);
    await driver.importThreads([{ ...(await driver.getThread(A, kept.id))!, id: 'restored' }], { mode: 'replace' });
    expect((database.prepare("SELECT count(*) AS n FROM contributions WHERE tenant = 'acme'").get() as { n: number }).n).toBe(2);
    expect((await driver.getThread(B, gone.id))?.turns).toHaveLength(1);
    await driver.close?.();
    database.close();
  });

  it('re-reads the schema version under the write lock: a migration another process finished after the first check is not run again', async () => {
    const path = tempFile();
    const first = sqliteStorage({ path });
    await first.createThread(A, thread({ id: 'before' }));
    await first.close?.();
    // A connection whose first look at duh_migrations is stale, as if the other process committed just after it.
    const real = new DatabaseSync(path);
    let stale = true;
    const database = {
      prepare(sql: string) {
        if (stale && sql.includes("name = 'duh_migrations'")) {
          stale = false;
          return { get: () => undefined, all: () => [], run: () => ({ changes: 0, lastInsertRowid: 0 }) };
        }
        return real.prepare(sql);
      },
      exec: (sql: string) => real.exec(sql),
      close: () => real.close(),
      get isTransaction() {
        return real.isTransaction;
      },
    };
    const driver = sqliteStorage({ database });
    expect((await driver.listThreads(A, { limit: 10, offset: 0 })).total).toBe(1);
    expect(stale).toBe(false);
    expect(real.prepare('SELECT count(*) AS n FROM duh_migrations').get()).toEqual({ n: SQLITE_SCHEMA_VERSION });
    await driver.close?.();
    real.close();
  });

  it('a write blocked past busyTimeoutMs fails with a StorageError that says so, and writes nothing', async () => {
    const path = tempFile();
    const driver = track(sqliteStorage({ path, busyTimeoutMs: 20 }));
    const existing = thread();
    await driver.createThread(A, existing);
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN IMMEDIATE');
    const error = await expectStorageError(driver.appendTurn(A, existing.id, turn(1)), /locked.*raise `busyTimeoutMs`.*Nothing was written/);
    expect(error.driver).toBe('sqlite');
    holder.exec('ROLLBACK');
    holder.close();
    expect((await driver.getThread(A, existing.id))?.turns).toEqual([]);
    await driver.appendTurn(A, existing.id, turn(1));
  });

  it('says which Node it needs when node:sqlite cannot be imported', async () => {
    vi.resetModules();
    vi.doMock('node:sqlite', () => {
      throw new Error('No such built-in module: node:sqlite');
    });
    try {
      const fresh = (await import('../../storage/sqlite.js')) as typeof import('../../storage/sqlite.js');
      const driver = fresh.sqliteStorage({ path: tempFile() });
      await expectStorageError(driver.listThreads(A, { limit: 1, offset: 0 }), /needs the built-in `node:sqlite` module.*Node 22\.13 or later.*better-sqlite3/);
    } finally {
      vi.doUnmock('node:sqlite');
      vi.resetModules();
    }
  });
});

describe('two worker threads (real concurrency) on one new file', () => {
  // Each worker loads the driver's TypeScript source through Node's type stripping; `.js` specifiers map to `.ts`.
  const workerSource = `
    import { registerHooks } from 'node:module';
    import { parentPort, workerData } from 'node:worker_threads';
    registerHooks({
      resolve(specifier, context, next) {
        try { return next(specifier, context); }
        catch (error) { if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context); throw error; }
      },
    });
    const { sqliteStorage } = await import(workerData.module);
    const driver = sqliteStorage({ path: workerData.path });
    // Start together: both workers open (and migrate) the new file at the same instant.
    const gate = new Int32Array(workerData.gate);
    Atomics.add(gate, 0, 1);
    Atomics.notify(gate, 0);
    for (let seen = Atomics.load(gate, 0); seen < 2; seen = Atomics.load(gate, 0)) Atomics.wait(gate, 0, seen, 50);
    const scope = { tenant: 'acme' };
    const reply = (message) => parentPort.postMessage(message);
    try {
      // Opening migrates; both workers do it at the same moment.
      await driver.createThread(scope, { id: 'own-' + workerData.index, question: 'worker ' + workerData.index, protocol: 'consensus', userId: null, createdAt: new Date().toISOString() });
      reply({ ready: true });
      await new Promise((go) => parentPort.once('message', go));
      for (let round = workerData.index + 1; round <= 40; round += 2) {
        await driver.appendTurn(scope, 'shared', workerData.turn(round));
      }
      reply({ done: true });
    } catch (error) {
      reply({ error: String(error && error.stack || error) });
    } finally {
      await driver.close();
    }
  `;

  it('both migrate once, and every round each appends to a shared thread lands', async () => {
    const path = tempFile();
    const module = pathToFileURL(resolve(import.meta.dirname, '../../storage/sqlite.ts')).href;
    const turnFn = `(round) => (${JSON.stringify(turn(0))} && { ...${JSON.stringify(turn(0))}, roundNumber: round })`;
    const source = workerSource.replace('workerData.turn(round)', `(${turnFn})(round)`);
    const gate = new SharedArrayBuffer(4);
    const workers = [0, 1].map((index) => new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { path, module, index, gate }, execArgv: [] }));
    const next = (worker: Worker) =>
      new Promise<Record<string, unknown>>((settle, reject) => {
        worker.once('message', settle);
        worker.once('error', reject);
      });
    try {
      const ready = await Promise.all(workers.map(next));
      expect(ready, JSON.stringify(ready)).toEqual([{ ready: true }, { ready: true }]);
      const main = track(sqliteStorage({ path }));
      await main.createThread(A, thread({ id: 'shared' }));
      const done = workers.map(next);
      for (const worker of workers) worker.postMessage('go');
      expect(await Promise.all(done)).toEqual([{ done: true }, { done: true }]);
      const shared = await main.getThread(A, 'shared');
      expect(shared?.turns.map((each) => each.roundNumber)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
      expect(shared?.turns[7]?.contributions).toEqual(turn(0).contributions);
      expect((await main.listThreads(A, { limit: 10, offset: 0 })).total).toBe(3);
      const probe = new DatabaseSync(path);
      expect(probe.prepare('SELECT count(*) AS n FROM duh_migrations').get()).toEqual({ n: SQLITE_SCHEMA_VERSION });
      probe.close();
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});

describe('identity tables (schema version 2)', () => {
  it('upgrades a version-1 file in place: threads survive and the identity tables appear', async () => {
    const path = tempFile();
    const first = sqliteStorage({ path });
    const kept = thread({ question: 'written before the upgrade' });
    await first.createThread(A, kept);
    await first.appendTurn(A, kept.id, turn(1));
    await first.close?.();
    // Roll the file back to version 1, as an older duh left it.
    const probe = new DatabaseSync(path);
    rollBackRecallToVersion3(probe);
    probe.exec('DROP TABLE votes; DROP TABLE subtasks; DROP TABLE audit_events; DROP TABLE provider_keys; DROP TABLE api_keys; DROP TABLE users; DELETE FROM duh_migrations WHERE version >= 2;');
    probe.close();
    const upgraded = track(sqliteStorage({ path }));
    expect(await upgraded.getThread(A, kept.id)).toMatchObject({ question: 'written before the upgrade', turns: [turn(1)] });
    await upgraded.createUser!(A, { id: 'u1', email: 'u1@example.com', displayName: 'U', role: 'admin', passwordHash: null, active: true, createdAt: at(1) });
    expect((await upgraded.appendAudit!(A, { at: at(2), actor: 'u1', action: 'user:create', resource: 'user:u1', outcome: 'success' })).seq).toBe(1);
    const check = new DatabaseSync(path);
    expect(check.prepare('SELECT version FROM duh_migrations ORDER BY version').all()).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }]);
    check.close();
    expect((await upgraded.search!(A, 'upgrade', { limit: 10 })).map((hit) => hit.threadId)).toEqual([kept.id]);
  });
});

describe('recall rows (schema version 4)', () => {
  it('upgrades a version-3 file in place: every thread, turn and decision survives, and recall finds the same threads', async () => {
    const path = tempFile();
    const first = sqliteStorage({ path });
    const both = thread({ question: 'Which walrus broker?', createdAt: at(1) });
    const decided = thread({ question: 'Pick a queue', createdAt: at(2) });
    const open = thread({ question: 'Walrus or otter?', createdAt: at(3) });
    const other = thread({ id: both.id, question: 'Walrus in another tenant', createdAt: at(4) });
    for (const each of [both, decided, open]) await first.createThread(A, each);
    await first.createThread(B, other);
    await first.appendTurn(A, both.id, turn(1, 'Use a walrus broker'));
    await first.appendTurn(A, both.id, turn(2, 'Use a zebra broker'));
    await first.appendTurn(A, decided.id, turn(1, 'Use walrus queues with compaction'));
    await first.appendTurn(A, decided.id, turn(2, null));
    await first.appendTurn(B, other.id, turn(1, 'Use zebra'));
    const queries = ['walrus', 'zebra', 'compaction', 'walrus zebra', 'queue compaction', 'otter', 'broker', 'zzz'];
    const recall = async (driver: StorageDriver) => {
      const found: Record<string, string[]> = {};
      for (const query of queries) for (const scope of [A, B]) found[`${scope.tenant}:${query}`] = (await driver.search!(scope, query, { limit: 10 })).map((hit) => hit.threadId).sort();
      return found;
    };
    const expected = await recall(first);
    const before = await exportAll(first);
    await first.close?.();

    const probe = new DatabaseSync(path);
    rollBackRecallToVersion3(probe);
    expect(probe.prepare('SELECT count(*) AS n FROM threads_recall').get()).toEqual({ n: 4 });
    probe.close();
    const upgraded = track(sqliteStorage({ path }));
    expect(await exportAll(upgraded)).toEqual(before);
    expect(await recall(upgraded)).toEqual(expected);
    expect(expected['acme:walrus zebra']).toEqual([both.id]); // the words of one thread may sit in different texts
    expect(expected['acme:walrus']).toEqual([both.id, decided.id, open.id].sort());
    expect(expected['globex:zebra']).toEqual([other.id]);
    // One row per question and per decision; each decision's row is remembered by its turn.
    const check = new DatabaseSync(path);
    expect(check.prepare('SELECT version FROM duh_migrations ORDER BY version').all()).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }]);
    expect(check.prepare('SELECT count(*) AS n FROM recall_texts').get()).toEqual({ n: 4 + 4 });
    expect(check.prepare('SELECT count(*) AS n FROM turns WHERE (decision IS NULL) <> (recall_rowid IS NULL)').get()).toEqual({ n: 0 });
    expect(check.prepare('SELECT count(*) AS n FROM turns u JOIN recall_texts r ON r.rowid = u.recall_rowid AND r.text = u.decision AND r.tenant = u.tenant AND r.thread_id = u.thread_id').get()).toEqual({ n: 4 });
    check.close();
    // New writes after the upgrade take rowids past the rebuilt ones, and deleting a thread deletes all its rows.
    await upgraded.appendTurn(A, decided.id, turn(3, 'Zebra after all'));
    expect((await upgraded.search!(A, 'zebra', { limit: 10 })).map((hit) => hit.threadId).sort()).toEqual([both.id, decided.id].sort());
    expect(await upgraded.deleteThread(A, both.id)).toBe(true);
    expect((await upgraded.search!(A, 'walrus', { limit: 10 })).map((hit) => hit.threadId).sort()).toEqual([decided.id, open.id].sort());
    expect((await upgraded.search!(B, 'walrus', { limit: 10 })).map((hit) => hit.threadId)).toEqual([other.id]);
    const after = new DatabaseSync(path);
    expect(after.prepare('SELECT count(*) AS n FROM recall_texts').get()).toEqual({ n: 8 + 1 - 3 });
    after.close();
  });

  it('keeps one recall row per question and per decision through merge and replace restores, deletes and phases', async () => {
    const path = tempFile();
    const driver = track(sqliteStorage({ path }));
    const rows = () => {
      const db = new DatabaseSync(path);
      try {
        return (db.prepare('SELECT count(*) AS n FROM recall_texts').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const one = thread({ question: 'Walrus one' });
    const two = thread({ question: 'Walrus two' });
    for (const each of [one, two]) {
      await driver.createThread(A, each);
      await driver.appendTurn(A, each.id, turn(1, 'otter decision'));
      await driver.appendTurn(A, each.id, turn(2, null));
    }
    expect(rows()).toBe(4);
    const backup = await exportAll(driver);
    for (let again = 0; again < 2; again++) {
      await driver.importThreads(backup, { mode: 'merge' });
      expect(rows()).toBe(4);
      await driver.importThreads(backup.slice(0, 1), { mode: 'replace' });
      expect(rows()).toBe(2);
      await driver.importThreads(backup, { mode: 'merge' });
      expect(rows()).toBe(4);
    }
    expect((await driver.search!(A, 'walrus otter', { limit: 10 })).map((hit) => hit.threadId).sort()).toEqual([one.id, two.id].sort());
    const three = thread({ question: 'Walrus three' });
    await driver.createThread(A, three);
    for (const state of ['PROPOSE', 'CHALLENGE', 'REVISE'] as const) await driver.appendPhase!(A, three.id, { roundNumber: 1, state, contributions: [], decision: null, at: at(1) });
    expect(rows()).toBe(5);
    await driver.appendPhase!(A, three.id, { roundNumber: 1, state: 'COMMIT', contributions: [], decision: { content: 'otter', confidence: 1, rigor: 1, dissent: null, taxonomy: null }, at: at(2) });
    expect(rows()).toBe(6);
    expect(await driver.deleteThread(A, three.id)).toBe(true);
    expect(await driver.deleteThread(A, one.id)).toBe(true);
    expect(rows()).toBe(2);
  });

  it('keeps the audit log when threads are deleted or a tenant is restored with replace', async () => {
    const driver = create();
    const t = thread();
    await driver.createThread(A, t);
    await driver.appendAudit!(A, { at: at(1), actor: null, action: 'run:start', resource: `thread:${t.id}`, outcome: 'success' });
    await driver.deleteThread(A, t.id);
    await driver.importThreads([], { mode: 'replace' });
    expect((await driver.listAudit!(A, { limit: 10 })).map((event) => event.resource)).toEqual([`thread:${t.id}`]);
  });

  function create() {
    return track(sqliteStorage({ path: tempFile() }));
  }
});

describe('audit appends from two worker threads (real concurrency) on one file', () => {
  const workerSource = `
    import { registerHooks } from 'node:module';
    import { parentPort, workerData } from 'node:worker_threads';
    registerHooks({
      resolve(specifier, context, next) {
        try { return next(specifier, context); }
        catch (error) { if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context); throw error; }
      },
    });
    const { sqliteStorage } = await import(workerData.module);
    const driver = sqliteStorage({ path: workerData.path });
    const gate = new Int32Array(workerData.gate);
    Atomics.add(gate, 0, 1);
    Atomics.notify(gate, 0);
    for (let seen = Atomics.load(gate, 0); seen < 2; seen = Atomics.load(gate, 0)) Atomics.wait(gate, 0, seen, 50);
    try {
      for (let index = 0; index < 25; index++) {
        await driver.appendAudit({ tenant: 'acme' }, { at: new Date().toISOString(), actor: 'worker-' + workerData.index, action: 'run:start', resource: 'thread:' + index, outcome: 'success', details: { index } });
      }
      parentPort.postMessage({ done: true });
    } catch (error) {
      parentPort.postMessage({ error: String(error && error.stack || error) });
    } finally {
      await driver.close();
    }
  `;

  it('interleave into one unbroken chain of 50 entries', async () => {
    const path = tempFile();
    const module = pathToFileURL(resolve(import.meta.dirname, '../../storage/sqlite.ts')).href;
    const gate = new SharedArrayBuffer(4);
    const workers = [0, 1].map((index) => new Worker(new URL(`data:text/javascript,${encodeURIComponent(workerSource)}`), { workerData: { path, module, index, gate }, execArgv: [] }));
    try {
      const results = await Promise.all(workers.map((worker) => new Promise((settle, reject) => (worker.once('message', settle), worker.once('error', reject)))));
      expect(results).toEqual([{ done: true }, { done: true }]);
      const events = await track(sqliteStorage({ path })).listAudit!(A, { limit: 100 });
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
      expect(new Set(events.map((event) => event.actor))).toEqual(new Set(['worker-0', 'worker-1']));
      const { verifyAuditChain } = await import('../../src/identity/audit.js');
      expect(await verifyAuditChain(track(sqliteStorage({ path })), A)).toMatchObject({ ok: true, entries: 50 });
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});

describe('end to end with Consensus', () => {
  it('stores a run in the file; a new driver on the reopened file reads it back, recalls it, costs it and takes feedback', async () => {
    const path = tempFile();
    const models = () => [
      new MockAdapter({ ref: 'a:one', info: { outputPricePerMTok: 5 }, reply: (_request, { system }) => (system.includes('independent experts') ? 'Use sharding by tenant.' : 'A fair point.') }),
      new MockAdapter({ ref: 'b:two' }),
    ];
    const principal = { id: 'user-7', tenant: 'acme' };
    const writer = new Consensus({ models: models(), rounds: 2, storage: sqliteStorage({ path }) });
    const result = await writer.ask('How should we shard the orders table?', { principal });
    await writer.storage.close?.();

    const storage = track(sqliteStorage({ path }));
    const reader = new Consensus({ models: models(), storage });
    const stored = await reader.threads.get(result.threadId.slice(0, 13), { principal });
    expect(stored).toMatchObject({ id: result.threadId, tenant: 'acme', userId: 'user-7', status: 'complete', question: 'How should we shard the orders table?' });
    expect(stored.turns).toHaveLength(result.rounds.length);
    expect(stored.turns.at(-1)?.decision).toEqual({ content: result.decision, confidence: result.confidence, rigor: result.rigor, dissent: result.dissent, taxonomy: result.taxonomy });
    const first = result.rounds[0]!;
    expect(stored.turns[0]!.contributions.map((each) => each.role)).toEqual([
      'proposer',
      ...first.challenges.map(() => 'challenger'),
      'reviser',
      ...(first.classification ? ['classifier'] : []),
    ]);
    expect(stored.turns[0]!.contributions[1]).toMatchObject({ framing: first.challenges[0]!.framing, sycophantic: first.challenges[0]!.sycophantic });
    await expect(reader.threads.get(result.threadId)).rejects.toThrow(); // another tenant (the default one) sees nothing

    const hits = await reader.recall('shard orders', { principal });
    expect(hits.map((hit) => hit.threadId)).toEqual([result.threadId]);
    expect(hits[0]!.decision).toBe(result.decision);
    const byModel = await reader.cost({ principal });
    expect(byModel.reduce((sum, row) => sum + row.calls, 0)).toBe(result.usage.calls);
    expect(byModel.reduce((sum, row) => sum + row.costUsd, 0)).toBeCloseTo(result.cost.totalUsd, 12);
    expect(await reader.cost({ principal, groupBy: 'user' })).toEqual([expect.objectContaining({ key: 'user-7', calls: result.usage.calls })]);
    const withFeedback = await reader.feedback(result.threadId, 'success', { principal, notes: 'worked' });
    expect(withFeedback.outcome).toMatchObject({ result: 'success', notes: 'worked', roundNumber: result.rounds.length });

    // A backup of the file restores into a fresh in-memory database unchanged.
    let backup = '';
    for await (const line of reader.backup({ allTenants: true })) backup += line;
    const copy = track(sqliteStorage({ path: ':memory:' }));
    await new Consensus({ models: models(), storage: copy }).restore(backup);
    expect(await copy.getThread({ tenant: 'acme' }, result.threadId)).toEqual(await storage.getThread({ tenant: 'acme' }, result.threadId));
  });
});

// ---- rounds stored phase by phase (appendPhase) ----

describe('appendPhase', () => {
  const [proposal, challenge] = turn(1).contributions;

  it('a phase that fails half-way through leaves the thread exactly as it was: no state change, no contribution, no recall text', async () => {
    const driver = track(sqliteStorage({ path: tempFile() }));
    const { id } = thread();
    await driver.createThread(A, thread({ id }));
    await driver.appendPhase!(A, id, { roundNumber: 1, state: 'PROPOSE', contributions: [proposal!], decision: null, at: at(1) });
    const before = await driver.getThread(A, id);
    // The turn's state is updated and the first challenge inserted before the second one fails to serialise.
    const poisoned = { ...challenge!, providerMetadata: { big: 1n } };
    const error = await expectStorageError(driver.appendPhase!(A, id, { roundNumber: 1, state: 'CHALLENGE', contributions: [challenge!, poisoned], decision: null, at: at(2) }), /Nothing was written/);
    expect(error.message).toMatch(/^\[sqlite\] Could not save the CHALLENGE phase of round 1 of thread/);
    expect(await driver.getThread(A, id)).toEqual(before);
    // The same phase, whole, still goes in after it, at the positions after the proposal.
    await driver.appendPhase!(A, id, { roundNumber: 1, state: 'CHALLENGE', contributions: [challenge!, challenge!], decision: null, at: at(3) });
    const after = await driver.getThread(A, id);
    expect(after?.turns[0]).toMatchObject({ state: 'CHALLENGE', contributions: [proposal, challenge, challenge], completedAt: at(3), createdAt: at(1) });
    expect(after?.updatedAt).toBe(at(3));
  });

  it('a COMMIT phase adds the decision to recall, in the same transaction', async () => {
    const driver = track(sqliteStorage({ path: ':memory:' }));
    const { id } = thread({ question: 'Which queue?' });
    await driver.createThread(A, thread({ id, question: 'Which queue?' }));
    const decision = { content: 'Use a zebra queue', confidence: 0.8, rigor: 0.5, dissent: null, taxonomy: null };
    for (const [state, contributions] of [['PROPOSE', [proposal!]], ['CHALLENGE', [challenge!]], ['REVISE', [proposal!]]] as const) {
      await driver.appendPhase!(A, id, { roundNumber: 1, state, contributions, decision: null, at: at(1) });
      expect(await driver.search!(A, 'zebra', { limit: 10 })).toEqual([]);
    }
    await driver.appendPhase!(A, id, { roundNumber: 1, state: 'COMMIT', contributions: [], decision, at: at(2) });
    expect((await driver.search!(A, 'zebra', { limit: 10 })).map((hit) => [hit.threadId, hit.decision])).toEqual([[id, 'Use a zebra queue']]);
  });
});

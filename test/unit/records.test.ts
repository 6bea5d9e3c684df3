// The records API of `Consensus` (src/records.ts): threads, recall, feedback, cost, export, backup and restore,
// each scoped to the principal's tenant.
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, NotFoundError, PolicyDeniedError, StorageError } from '../../src/errors.js';
import { rbac } from '../../src/policy/rbac.js';
import type { Principal } from '../../src/principal.js';
import { costRowsOf } from '../../src/records.js';
import type { StorageDriver, StoredThread, ThreadPage } from '../../src/storage.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter, type MockResponder } from '../../src/testing/mock-adapter.js';
import { memoryStorage } from '../../storage/memory.js';

const alice: Principal = { id: 'alice', tenant: 'acme' };
const bob: Principal = { id: 'bob', tenant: 'acme' };
const carol: Principal = { id: 'carol', tenant: 'globex' };

const DAY = 86_400_000;
/** Runs start at noon UTC; the ManualClock does not move during a run, so every timestamp of a run is this. */
const START = Date.UTC(2026, 10, 24, 12);
const iso = (ms: number) => new Date(ms).toISOString();

/** Every call uses 1000 input and 100 output tokens: opus costs $0.0075 a call, gpt $0.0012. */
const usage = { inputTokens: 1000, outputTokens: 100 };
const reply: MockResponder = (_request, { system, prompt }) => {
  if (prompt.startsWith('Classify')) return { text: '{"intent":"creative","category":"databases","genus":null}', usage };
  if (system.includes('expert advisor')) return { text: 'Shard by customer id.', usage };
  if (system.includes('independent experts challenged')) return { text: 'Shard by customer id, with monthly partitions.', usage };
  if (system.includes('rigorous analyst')) return { text: 'Customer id skews: one customer has half the orders.', usage };
  return { text: 'Consider partitioning by month instead.', usage };
};
const models = () => [
  new MockAdapter({ ref: 'anthropic:opus', info: { inputPricePerMTok: 5, outputPricePerMTok: 25 }, reply }),
  new MockAdapter({ ref: 'openai:gpt', info: { inputPricePerMTok: 1, outputPricePerMTok: 2 }, reply }),
];
const RUN_COST = 3 * 0.0075 + 2 * 0.0012;

function setup(storage: StorageDriver = memoryStorage()) {
  const clock = new ManualClock({ start: START });
  return { duh: new Consensus({ models: models(), storage, rounds: 1, clock }), clock, storage };
}

const ids = (page: ThreadPage) => page.threads.map((thread) => thread.id);
const text = async (lines: AsyncIterable<string>) => {
  let all = '';
  for await (const line of lines) all += line;
  return all;
};
const everything = async (storage: StorageDriver) => {
  const threads: StoredThread[] = [];
  for await (const thread of storage.exportThreads('all')) threads.push(thread);
  return threads;
};
const invalidOption = (option: string) => (error: unknown) =>
  InvalidOptionError.isInstance(error) && error.option === option && error.message.includes(`\`${option}\``);
const notFound = (error: unknown) => NotFoundError.isInstance(error);
const storageError = (pattern: RegExp) => (error: unknown) => StorageError.isInstance(error) && pattern.test(error.message);

describe('records are isolated by tenant', () => {
  it('threads.list/get, recall, cost, export, backup, feedback and delete of one tenant never show the other', async () => {
    const { duh } = setup();
    const mine = await duh.ask('Which database for orders?', { principal: alice });
    const theirs = await duh.ask('Which database for invoices?', { principal: carol });
    const anonymous = await duh.ask('Which database for logs?');

    expect(ids(await duh.threads.list({ principal: alice }))).toEqual([mine.threadId]);
    expect((await duh.threads.list({ principal: alice })).total).toBe(1);
    expect(ids(await duh.threads.list({ principal: carol }))).toEqual([theirs.threadId]);
    expect(ids(await duh.threads.list())).toEqual([anonymous.threadId]);

    await expect(duh.threads.get(mine.threadId, { principal: alice })).resolves.toMatchObject({ tenant: 'acme', userId: 'alice', question: 'Which database for orders?' });
    await expect(duh.threads.get(theirs.threadId, { principal: carol })).resolves.toMatchObject({ tenant: 'globex', userId: 'carol' });
    await expect(duh.threads.get(anonymous.threadId)).resolves.toMatchObject({ tenant: 'default', userId: null });
    await expect(duh.threads.get(theirs.threadId, { principal: alice })).rejects.toSatisfy(notFound);
    await expect(duh.threads.get(mine.threadId, { principal: carol })).rejects.toSatisfy(notFound);
    await expect(duh.threads.get(mine.threadId)).rejects.toSatisfy(notFound);
    // The three ids share their time prefix; within one tenant the prefix is unique, so it resolves.
    const prefix = mine.threadId.slice(0, 13);
    expect(theirs.threadId.startsWith(prefix) && anonymous.threadId.startsWith(prefix)).toBe(true);
    expect((await duh.threads.get(prefix, { principal: alice })).id).toBe(mine.threadId);
    expect((await duh.threads.get(prefix, { principal: carol })).id).toBe(theirs.threadId);

    expect((await duh.recall('database', { principal: alice })).map((hit) => hit.threadId)).toEqual([mine.threadId]);
    expect((await duh.recall('invoices', { principal: alice }))).toEqual([]);
    expect((await duh.recall('database', { principal: carol })).map((hit) => hit.threadId)).toEqual([theirs.threadId]);

    expect((await duh.cost({ principal: alice, groupBy: 'user' })).map((row) => row.key)).toEqual(['alice']);
    expect((await duh.cost({ principal: carol, groupBy: 'user' })).map((row) => row.key)).toEqual(['carol']);
    expect((await duh.cost({ groupBy: 'user' })).map((row) => row.key)).toEqual(['anonymous']);
    const [aliceCost] = await duh.cost({ principal: alice, groupBy: 'user' });
    expect(aliceCost!.costUsd).toBeCloseTo(mine.cost.totalUsd, 12);

    await expect(duh.export(theirs.threadId, { principal: alice })).rejects.toSatisfy(notFound);
    await expect(duh.export(theirs.threadId, { principal: alice, format: 'json' })).rejects.toSatisfy(notFound);
    const backup = (await text(duh.backup({ principal: alice }))).trim().split('\n');
    expect(backup).toHaveLength(2);
    expect((JSON.parse(backup[1]!) as { thread: StoredThread }).thread.id).toBe(mine.threadId);

    await expect(duh.feedback(theirs.threadId, 'failure', { principal: alice })).rejects.toSatisfy(notFound);
    await expect(duh.threads.delete(theirs.threadId, { principal: alice })).rejects.toSatisfy(notFound);
    const untouched = await duh.threads.get(theirs.threadId, { principal: carol });
    expect(untouched.outcome).toBeNull();
    expect(untouched.status).toBe('complete');
  });

  it('`mine: true` lists only the principal’s own threads within the tenant', async () => {
    const { duh, clock } = setup();
    const first = await duh.ask('Alice one', { principal: alice });
    await clock.advance(1000);
    const other = await duh.ask('Bob one', { principal: bob });
    await clock.advance(1000);
    const second = await duh.ask('Alice two', { principal: alice });
    await duh.ask('Carol one', { principal: carol });
    expect(ids(await duh.threads.list({ principal: alice }))).toEqual([second.threadId, other.threadId, first.threadId]);
    const own = await duh.threads.list({ principal: alice, mine: true });
    expect(ids(own)).toEqual([second.threadId, first.threadId]);
    expect(own.total).toBe(2);
    expect(ids(await duh.threads.list({ principal: bob, mine: true }))).toEqual([other.threadId]);
    expect(ids(await duh.threads.list({ principal: alice, mine: true, limit: 1, offset: 1 }))).toEqual([first.threadId]);
    expect(own.threads.every((thread) => thread.userId === 'alice')).toBe(true);
    await expect(duh.threads.list({ mine: true })).rejects.toSatisfy(invalidOption('mine'));
  });

  it('rejects an invalid principal on every call, naming `principal`', async () => {
    const { duh } = setup();
    const kept = await duh.ask('q', { principal: alice });
    for (const principal of [{ id: '' }, { id: 'x', tenant: '' }, { tenant: 'acme' }, 'alice'] as unknown as Principal[]) {
      const calls: (() => unknown)[] = [
        () => duh.ask('q', { principal }),
        () => duh.threads.list({ principal }),
        () => duh.threads.get(kept.threadId, { principal }),
        () => duh.threads.delete(kept.threadId, { principal }),
        () => duh.recall('q', { principal }),
        () => duh.feedback(kept.threadId, 'success', { principal }),
        () => duh.cost({ principal }),
        () => duh.export(kept.threadId, { principal }),
        () => text(duh.backup({ principal })),
      ];
      for (const call of calls) await expect((async () => call())()).rejects.toSatisfy(invalidOption('principal'));
    }
    expect((await duh.threads.list({ principal: alice })).total).toBe(1);
  });
});

describe('threads.delete', () => {
  it('deletes a thread by id or prefix with everything under it, and only that one', async () => {
    const { duh, clock, storage } = setup();
    const doomed = await duh.ask('Which database for orders?', { principal: alice });
    await duh.feedback(doomed.threadId, 'success', { principal: alice });
    await clock.advance(DAY);
    const kept = await duh.ask('Which queue for orders?', { principal: alice });
    await clock.advance(DAY);
    const byPrefix = await duh.ask('Which cache for orders?', { principal: alice });

    await duh.threads.delete(doomed.threadId, { principal: alice });
    expect(ids(await duh.threads.list({ principal: alice }))).toEqual([byPrefix.threadId, kept.threadId]);
    await expect(duh.threads.get(doomed.threadId, { principal: alice })).rejects.toSatisfy(notFound);
    expect((await duh.recall('orders', { principal: alice })).map((hit) => hit.threadId)).not.toContain(doomed.threadId);
    const [row] = await duh.cost({ principal: alice, groupBy: 'user' });
    expect(row!.costUsd).toBeCloseTo(kept.cost.totalUsd + byPrefix.cost.totalUsd, 12);
    expect(await text(duh.backup({ principal: alice }))).not.toContain(doomed.threadId);
    await expect(duh.threads.delete(doomed.threadId, { principal: alice })).rejects.toSatisfy(notFound);

    await duh.threads.delete(byPrefix.threadId.slice(0, 8), { principal: alice });
    expect(ids(await duh.threads.list({ principal: alice }))).toEqual([kept.threadId]);
    expect(await storage.getThread({ tenant: 'acme' }, byPrefix.threadId)).toBeNull();
  });
});

describe('feedback', () => {
  it('records success, failure or partial on the latest decision and replaces it when given again', async () => {
    const { duh, clock } = setup();
    const run = await duh.ask('Which database for orders?', { principal: alice });
    await clock.advance(60_000);
    const first = await duh.feedback(run.threadId, 'success', { principal: alice, notes: 'Shipped it' });
    expect(first.outcome).toEqual({ result: 'success', notes: 'Shipped it', roundNumber: 1, createdAt: iso(START + 60_000), updatedAt: iso(START + 60_000) });
    await clock.advance(60_000);
    const second = await duh.feedback(run.threadId.slice(0, 13), 'partial', { principal: alice });
    expect(second.outcome).toEqual({ result: 'partial', notes: null, roundNumber: 1, createdAt: iso(START + 60_000), updatedAt: iso(START + 120_000) });
    await clock.advance(60_000);
    await duh.feedback(run.threadId, 'failure', { principal: alice, notes: 'Fell over at 10k writes' });
    const stored = await duh.threads.get(run.threadId, { principal: alice });
    expect(stored.outcome).toEqual({ result: 'failure', notes: 'Fell over at 10k writes', roundNumber: 1, createdAt: iso(START + 60_000), updatedAt: iso(START + 180_000) });
    expect(stored.turns).toHaveLength(1);
  });

  it('rejects an invalid result naming `result`, and a thread without a decision with a clear error', async () => {
    const { duh, storage } = setup();
    const run = await duh.ask('Which database for orders?', { principal: alice });
    await expect(duh.feedback(run.threadId, 'great' as never, { principal: alice })).rejects.toSatisfy(invalidOption('result'));
    await expect(duh.feedback(run.threadId, 'great' as never, { principal: alice })).rejects.toThrow(/must be one of success, failure, partial/);
    expect((await duh.threads.get(run.threadId, { principal: alice })).outcome).toBeNull();

    const undecided = '01900000-0000-7000-8000-000000000001';
    await storage.createThread({ tenant: 'acme' }, { id: undecided, question: 'Still running', protocol: 'consensus', userId: 'alice', createdAt: iso(START) });
    await expect(duh.feedback(undecided, 'success', { principal: alice })).rejects.toThrow(`Thread \`${undecided}\` has no decision yet; feedback is about a committed decision.`);
    expect((await duh.threads.get(undecided, { principal: alice })).outcome).toBeNull();
    await expect(duh.feedback('01900000-ffff-7000-8000-000000000009', 'success', { principal: alice })).rejects.toSatisfy(notFound);
  });
});

describe('cost', () => {
  async function threeDays() {
    const { duh, clock, storage } = setup();
    const day1 = await duh.ask('Day one', { principal: alice }); // 2026-11-24T12:00Z
    await clock.advance(DAY);
    const day2 = await duh.ask('Day two', { principal: bob }); // 2026-11-25T12:00Z
    await duh.ask('Elsewhere', { principal: carol });
    await clock.advance(DAY);
    const day3 = await duh.ask('Day three', { principal: alice }); // 2026-11-26T12:00Z
    return { duh, storage, runs: [day1, day2, day3] };
  }

  it('groups spending by model, provider, user and day, most expensive first, in the principal’s tenant only', async () => {
    const { duh, storage, runs } = await threeDays();
    const acme: StoredThread[] = [];
    for await (const thread of storage.exportThreads({ tenant: 'acme' })) acme.push(thread);

    const byModel = await duh.cost({ principal: alice });
    expect(byModel.map(({ key, calls, inputTokens, outputTokens }) => ({ key, calls, inputTokens, outputTokens }))).toEqual([
      { key: 'anthropic:opus', calls: 9, inputTokens: 9000, outputTokens: 900 },
      { key: 'openai:gpt', calls: 6, inputTokens: 6000, outputTokens: 600 },
    ]);
    expect(byModel[0]!.costUsd).toBeCloseTo(9 * 0.0075, 12);
    expect(byModel[1]!.costUsd).toBeCloseTo(6 * 0.0012, 12);
    expect(byModel).toEqual(costRowsOf(acme, 'model'));

    expect((await duh.cost({ principal: alice, groupBy: 'provider' })).map((row) => row.key)).toEqual(['anthropic', 'openai']);
    const byUser = await duh.cost({ principal: bob, groupBy: 'user' });
    expect(byUser.map((row) => [row.key, row.calls])).toEqual([['alice', 10], ['bob', 5]]);
    expect(byUser[0]!.costUsd).toBeCloseTo(runs[0]!.cost.totalUsd + runs[2]!.cost.totalUsd, 12);
    expect(byUser[1]!.costUsd).toBeCloseTo(runs[1]!.cost.totalUsd, 12);
    const byDay = await duh.cost({ principal: alice, groupBy: 'day' });
    expect(byDay.map((row) => row.key).sort()).toEqual(['2026-11-24', '2026-11-25', '2026-11-26']);
    for (const row of byDay) expect(row.costUsd).toBeCloseTo(RUN_COST, 12);
    expect((await duh.cost({ principal: carol, groupBy: 'user' })).map((row) => row.key)).toEqual(['carol']);
  });

  it('bounds reports with since/until; a YYYY-MM-DD date covers its whole day', async () => {
    const { duh } = await threeDays();
    const days = async (bounds: { since?: string; until?: string }) => (await duh.cost({ principal: alice, groupBy: 'day', ...bounds })).map((row) => row.key).sort();
    expect(await days({ since: '2026-11-25' })).toEqual(['2026-11-25', '2026-11-26']);
    expect(await days({ until: '2026-11-25' })).toEqual(['2026-11-24', '2026-11-25']);
    expect(await days({ since: '2026-11-25', until: '2026-11-25' })).toEqual(['2026-11-25']);
    expect(await days({ since: '2026-11-25T12:00:00.000Z', until: '2026-11-25T12:00:00.000Z' })).toEqual(['2026-11-25']);
    expect(await days({ since: '2026-11-25T12:00:00.001Z' })).toEqual(['2026-11-26']);
    expect(await days({ until: '2026-11-24T11:59:59.999Z' })).toEqual([]);
    expect(await days({ since: '2026-11-27' })).toEqual([]);
    const users = await duh.cost({ principal: alice, groupBy: 'user', since: '2026-11-25', until: '2026-11-25' });
    expect(users.map((row) => row.key)).toEqual(['bob']);
    await expect(duh.cost({ principal: alice, since: 'yesterday' })).rejects.toSatisfy(invalidOption('since'));
    await expect(duh.cost({ principal: alice, until: '2026-13-45' })).rejects.toSatisfy(invalidOption('until'));
    await expect(duh.cost({ principal: alice, groupBy: 'team' as never })).rejects.toSatisfy(invalidOption('groupBy'));
  });

  it('reports every tenant with allTenants (by tenant, or any other grouping), from the driver or by scanning', async () => {
    const { duh, storage } = await threeDays();
    const all = await everything(storage);
    const byTenant = await duh.cost({ principal: alice, groupBy: 'tenant', allTenants: true });
    expect(byTenant.map(({ key, calls }) => [key, calls])).toEqual([['acme', 15], ['globex', 5]]);
    expect(byTenant).toEqual(costRowsOf(all, 'tenant'));
    expect(await duh.cost({ principal: carol, groupBy: 'model', allTenants: true })).toEqual(costRowsOf(all, 'model'));
    // Without allTenants, grouping by tenant shows the principal's own tenant only.
    expect((await duh.cost({ principal: carol, groupBy: 'tenant' })).map((row) => row.key)).toEqual(['globex']);
    // A driver with costReport is asked for 'all' (memoryStorage has none, so the lines above scanned exportThreads('all')).
    const scopes: unknown[] = [];
    const reporting: StorageDriver = { ...storage, costReport: async (scope, query) => (scopes.push(scope), costRowsOf(all, query.groupBy)) };
    const viaDriver = new Consensus({ models: models(), storage: reporting, rounds: 1 });
    expect(await viaDriver.cost({ principal: alice, groupBy: 'tenant', allTenants: true })).toEqual(byTenant);
    await viaDriver.cost({ principal: alice, groupBy: 'tenant' });
    expect(scopes).toEqual(['all', { tenant: 'acme' }]);
  });

  it('asks the policy with allTenants: rbac() denies a cross-tenant report to a principal without a cross-tenant role', async () => {
    const { storage } = await threeDays();
    const asked: unknown[] = [];
    const policy = rbac({ roles: { operator: { inherits: ['viewer'] } }, crossTenantRoles: ['operator'] });
    const duh = new Consensus({ models: models(), storage, rounds: 1, policy: (principal, action, resource) => (asked.push({ action, resource }), policy(principal, action, resource)) });
    const admin: Principal = { ...alice, roles: ['admin'] };
    await expect(duh.cost({ principal: admin, groupBy: 'tenant', allTenants: true })).rejects.toSatisfy(
      (error: unknown) => PolicyDeniedError.isInstance(error) && /cross-tenant roles \(operator\)/.test(error.message),
    );
    expect(asked).toEqual([{ action: 'cost:read', resource: { type: 'tenant', tenant: 'acme', allTenants: true } }]);
    // The same admin may still read its own tenant's costs, and an operator may read every tenant's.
    expect((await duh.cost({ principal: admin, groupBy: 'tenant' })).map((row) => row.key)).toEqual(['acme']);
    const operator: Principal = { id: 'ops', tenant: 'acme', roles: ['operator'] };
    expect((await duh.cost({ principal: operator, groupBy: 'tenant', allTenants: true })).map((row) => row.key)).toEqual(['acme', 'globex']);
  });
});

describe('export', () => {
  const QUESTION = 'How should we shard the orders table?';
  async function exported() {
    const { duh, clock } = setup();
    const run = await duh.ask(QUESTION, { principal: alice });
    await clock.advance(2 * DAY); // the export date, not the run date, goes in the footer and exported_at
    return { duh, run };
  }

  it('writes duh’s JSON document (snake_case, 2-space indent)', async () => {
    const { duh, run } = await exported();
    const output = await duh.export(run.threadId, { principal: alice, format: 'json' });
    const document = JSON.parse(output) as Record<string, unknown>;
    expect(output).toBe(`${JSON.stringify(document, null, 2)}\n`);
    const contribution = (model_ref: string, role: string, content: string, cost_usd: number) => ({ model_ref, role, content, input_tokens: 1000, output_tokens: 100, cost_usd: expect.closeTo(cost_usd, 12) as unknown });
    expect(document).toEqual({
      thread_id: run.threadId,
      question: QUESTION,
      status: 'complete',
      created_at: iso(START),
      turns: [
        {
          round_number: 1,
          state: 'COMMIT',
          contributions: [
            contribution('anthropic:opus', 'proposer', 'Shard by customer id.', 0.0075),
            contribution('openai:gpt', 'challenger', 'Customer id skews: one customer has half the orders.', 0.0012),
            contribution('anthropic:opus', 'challenger', 'Consider partitioning by month instead.', 0.0075),
            contribution('anthropic:opus', 'reviser', 'Shard by customer id, with monthly partitions.', 0.0075),
            contribution('openai:gpt', 'classifier', '{"intent":"creative","category":"databases","genus":null}', 0.0012),
          ],
          decision: {
            content: 'Shard by customer id, with monthly partitions.',
            confidence: 0.85,
            rigor: 1,
            dissent: '[openai:gpt]: Customer id skews: one customer has half the orders.\n\n[anthropic:opus]: Consider partitioning by month instead.',
          },
        },
      ],
      votes: [],
      exported_at: iso(START + 2 * DAY),
    });
  });

  it('writes duh’s Markdown report, in full or the decision only', async () => {
    const { duh, run } = await exported();
    const head = [
      `# Consensus: ${QUESTION}`,
      '',
      '## Decision',
      'Shard by customer id, with monthly partitions.',
      '',
      'Confidence: 85%  Rigor: 100%',
      '',
    ];
    const dissent = ['## Dissent', '[openai:gpt]: Customer id skews: one customer has half the orders.', '', '[anthropic:opus]: Consider partitioning by month instead.', ''];
    const footer = '*duh duh-ts | 2026-11-26 | Cost: $0.0249*';
    const full = await duh.export(run.threadId, { principal: alice });
    expect(full).toBe(
      [
        ...head,
        ...dissent,
        '---',
        '',
        '## Consensus Process',
        '',
        '### Round 1',
        '',
        '#### Proposal (anthropic:opus)',
        'Shard by customer id.',
        '',
        '#### Challenges',
        '**openai:gpt**: Customer id skews: one customer has half the orders.',
        '',
        '**anthropic:opus**: Consider partitioning by month instead.',
        '',
        '#### Revision (anthropic:opus)',
        'Shard by customer id, with monthly partitions.',
        '',
        '---',
        footer,
      ].join('\n'),
    );
    expect(await duh.export(run.threadId, { principal: alice, format: 'markdown' })).toBe(full);
    expect(await duh.export(run.threadId, { principal: alice, content: 'decision' })).toBe([...head, ...dissent, footer].join('\n'));
    expect(await duh.export(run.threadId, { principal: alice, content: 'decision', includeDissent: false })).toBe([...head, footer].join('\n'));
    await expect(duh.export(run.threadId, { principal: alice, format: 'pdf' as never })).rejects.toSatisfy(invalidOption('format'));
  });
});

describe('backup and restore', () => {
  /** Two tenants plus anonymous runs, with feedback, a failed thread and a second round. */
  async function populated() {
    const setupResult = setup();
    const { duh, clock, storage } = setupResult;
    const a1 = await duh.ask('Which database for orders?', { principal: alice });
    await duh.feedback(a1.threadId, 'partial', { principal: alice, notes: 'reads fine' });
    await clock.advance(1000);
    await duh.ask('Which queue for orders?', { principal: bob, rounds: 2 });
    await clock.advance(1000);
    await duh.ask('Which database for invoices?', { principal: carol });
    await duh.ask('Which database for logs?');
    const failed = '01900000-0000-7000-8000-00000000000f';
    await storage.createThread({ tenant: 'acme' }, { id: failed, question: 'Doomed', protocol: 'consensus', userId: 'alice', createdAt: iso(START + 5000) });
    await storage.finishThread({ tenant: 'acme' }, failed, { status: 'failed', error: 'Provider error: boom', at: iso(START + 6000) });
    return setupResult;
  }

  it('round-trips every tenant into a fresh store (allTenants), from a string, lines or a stream', async () => {
    const { duh, storage } = await populated();
    const original = await everything(storage);
    expect(original.map((thread) => thread.tenant).sort()).toEqual(['acme', 'acme', 'acme', 'default', 'globex']);
    expect(original.find((thread) => thread.userId === 'bob')?.turns).toHaveLength(2);
    const backup = await text(duh.backup({ allTenants: true }));
    const lines = backup.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(JSON.parse(lines[0]!)).toEqual({ format: 'duh-backup', version: 1, exportedAt: iso(START + 2000) });
    expect(lines).toHaveLength(1 + original.length + 1);

    for (const source of [backup, backup.split(/(?<=\n)/), duh.backup({ allTenants: true })]) {
      const target = memoryStorage();
      const restored = new Consensus({ models: models(), storage: target });
      expect(await restored.restore(source)).toEqual({ threads: 5 });
      expect(await everything(target)).toEqual(original);
      expect((await restored.threads.list({ principal: alice })).total).toBe(3);
      expect((await restored.recall('invoices', { principal: carol })).map((hit) => hit.question)).toEqual(['Which database for invoices?']);
    }
  });

  it('backs up only the principal’s tenant unless allTenants is set (anonymous: the default tenant)', async () => {
    const { duh } = await populated();
    const tenantsIn = async (backup: AsyncIterable<string>) =>
      (await text(backup)).trim().split('\n').slice(1).map((line) => (JSON.parse(line) as { thread: StoredThread }).thread.tenant);
    expect(await tenantsIn(duh.backup({ principal: alice }))).toEqual(['acme', 'acme', 'acme']);
    expect(await tenantsIn(duh.backup({ principal: carol }))).toEqual(['globex']);
    expect(await tenantsIn(duh.backup())).toEqual(['default']);
    expect((await tenantsIn(duh.backup({ allTenants: true }))).sort()).toEqual(['acme', 'acme', 'acme', 'default', 'globex']);

    const target = memoryStorage();
    await new Consensus({ models: models(), storage: target }).restore(duh.backup({ principal: carol }));
    expect((await everything(target)).map((thread) => thread.tenant)).toEqual(['globex']);
  });

  it('merges by default and replaces the backed-up tenants with `replace`, idempotently', async () => {
    const { duh: source } = await populated();
    const backup = await text(source.backup({ principal: alice })); // acme only: 3 threads

    const prepare = async () => {
      const target = setup();
      const local = await target.duh.ask('Local acme thread', { principal: alice });
      await target.duh.ask('Local globex thread', { principal: carol });
      return { ...target, local };
    };

    const merged = await prepare();
    expect(await merged.duh.restore(backup)).toEqual({ threads: 3 });
    expect((await merged.duh.threads.list({ principal: alice })).total).toBe(4);
    const afterMerge = await everything(merged.storage);
    expect(await merged.duh.restore(backup, { mode: 'merge' })).toEqual({ threads: 3 });
    expect(await everything(merged.storage)).toEqual(afterMerge);

    const replaced = await prepare();
    expect(await replaced.duh.restore(backup, { mode: 'replace' })).toEqual({ threads: 3 });
    const acme = await replaced.duh.threads.list({ principal: alice, limit: 10 });
    expect(acme.total).toBe(3);
    expect(ids(acme)).not.toContain(replaced.local.threadId);
    expect(ids(await replaced.duh.threads.list({ principal: carol })).length).toBe(1);
    const afterReplace = await everything(replaced.storage);
    await replaced.duh.restore(backup, { mode: 'replace' });
    expect(await everything(replaced.storage)).toEqual(afterReplace);

    await expect(replaced.duh.restore(backup, { mode: 'overwrite' as never })).rejects.toSatisfy(invalidOption('mode'));
  });

  it('rejects a corrupt or truncated backup with a StorageError naming the line, and writes nothing', async () => {
    const { duh } = await populated();
    const backup = await text(duh.backup({ allTenants: true }));
    const lines = backup.trimEnd().split('\n');
    const withThread = (index: number, change: (thread: Record<string, unknown>) => void) => {
      const record = JSON.parse(lines[index]!) as { thread: Record<string, unknown> };
      change(record.thread);
      return [...lines.slice(0, index), JSON.stringify(record), ...lines.slice(index + 1)].join('\n');
    };
    const corrupt: [string, string, RegExp][] = [
      ['a header of another format', ['{"format":"something-else","version":1}', ...lines.slice(1)].join('\n'), /line 1: the header must say "format": "duh-backup"/],
      ['a header that is not JSON', ['duh backup v1', ...lines.slice(1)].join('\n'), /line 1: the header is not JSON/],
      ['an unsupported version', [JSON.stringify({ format: 'duh-backup', version: 2, exportedAt: iso(START) }), ...lines.slice(1)].join('\n'), /line 1: unsupported version 2/],
      ['an empty file', '', /line 1: it is empty/],
      ['a cut last line', backup.slice(0, backup.trimEnd().length - 25), new RegExp(`line ${lines.length}: not JSON \\(the file may be truncated\\)`)],
      ['a duplicate thread', [...lines, lines[1]!].join('\n'), new RegExp(`line ${lines.length + 1}: thread \\S+ appears twice`)],
      ['a thread without an id', withThread(2, (thread) => delete thread['id']), /line 3: `thread.id` must be a non-empty string/],
      ['contributions that are not an array', withThread(1, (thread) => ((thread['turns'] as Record<string, unknown>[])[0]!['contributions'] = 'oops')), /line 2: a turn needs roundNumber and contributions/],
      ['a turn in an unknown state', withThread(1, (thread) => ((thread['turns'] as Record<string, unknown>[])[0]!['state'] = 'DONE')), /line 2: a turn's `state` must be one of PROPOSE, CHALLENGE, REVISE, COMMIT/],
      ['a decision on a round in progress', withThread(1, (thread) => ((thread['turns'] as Record<string, unknown>[])[0]!['state'] = 'REVISE')), /line 2: only a COMMIT turn has a decision \(round 1 is at REVISE\)/],
    ];
    for (const [what, content, message] of corrupt) {
      const target = setup();
      await target.duh.ask('Already here', { principal: alice });
      const before = await everything(target.storage);
      for (const mode of ['merge', 'replace'] as const) {
        const error = await target.duh.restore(content, { mode }).catch((caught: unknown) => caught);
        expect(storageError(message)(error), `${what} (${mode}): ${String(error)}`).toBe(true);
        expect((error as Error).message).toMatch(/Nothing was restored\.$/);
        expect(await everything(target.storage), `${what} (${mode}) wrote something`).toEqual(before);
      }
    }
  });
});

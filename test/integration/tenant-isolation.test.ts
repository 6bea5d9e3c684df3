// Tenant isolation through every engine operation (ask, threads, recall, feedback, cost, export, backup, restore),
// on every storage driver: memory, SQLite and a real PostgreSQL (a schema of its own, dropped at the end).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { rbac } from '../../src/policy/rbac.js';
import type { Principal } from '../../src/principal.js';
import type { StorageDriver } from '../../src/storage.js';
import { memoryStorage } from '../../storage/memory.js';
import { postgresStorage } from '../../storage/postgres.js';
import { sqliteStorage } from '../../storage/sqlite.js';
import { trio } from '../helpers.js';

const URL = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
const pool = new pg.Pool({ connectionString: URL, max: 2 });
const schema = `duh_test_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

const acme: Principal = { id: 'alice', tenant: 'acme', roles: ['admin'] };
const globex: Principal = { id: 'gina', tenant: 'globex', roles: ['admin'] };

const drivers: [string, () => StorageDriver][] = [
  ['memory', () => memoryStorage()],
  ['sqlite', () => sqliteStorage({ path: ':memory:' })],
  ['postgres', () => postgresStorage({ pool, schema })],
];

describe.each(drivers)('tenant isolation through the engine: %s', (_name, create) => {
  it("never shows, counts, changes or exports one tenant's runs to another", async () => {
    const storage = create();
    const duh = new Consensus({ models: trio().models, storage, policy: rbac(), rounds: 1 });
    const mine = await duh.ask('How should acme shard its tenants?', { principal: acme });
    const theirs = await duh.ask('How should globex shard its regions?', { principal: globex });
    const prefix = mine.threadId.slice(0, 13);

    // Reads
    expect((await duh.threads.list({ principal: globex })).threads.map((thread) => thread.id)).toEqual([theirs.threadId]);
    await expect(duh.threads.get(mine.threadId, { principal: globex })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(duh.threads.get(prefix, { principal: globex })).rejects.toMatchObject({ code: expect.stringMatching(/NOT_FOUND|INVALID_OPTION/) });
    expect((await duh.recall('acme', { principal: globex })).map((hit) => hit.threadId)).toEqual([]);
    expect((await duh.recall('shard', { principal: globex })).map((hit) => hit.threadId)).toEqual([theirs.threadId]);
    const costs = await duh.cost({ principal: globex, groupBy: 'user' });
    expect(costs.map((row) => row.key)).toEqual(['gina']);
    expect(costs[0]!.costUsd).toBeCloseTo(theirs.cost.totalUsd, 9);
    await expect(duh.export(mine.threadId, { principal: globex })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const lines: string[] = [];
    for await (const line of duh.backup({ principal: globex })) lines.push(line);
    expect(lines.join('')).not.toContain(mine.threadId);
    expect(lines.join('')).toContain(theirs.threadId);

    // Changes
    await expect(duh.feedback(mine.threadId, 'failure', { principal: globex })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(duh.threads.delete(mine.threadId, { principal: globex })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A backup of acme cannot be restored by globex's admin (it would write into acme).
    const acmeBackup: string[] = [];
    for await (const line of duh.backup({ principal: acme })) acmeBackup.push(line);
    await expect(duh.restore(acmeBackup.join(''), { principal: globex, mode: 'replace' })).rejects.toMatchObject({ code: 'POLICY_DENIED', action: 'backup:restore' });

    // Everything of acme is intact.
    const kept = await duh.threads.get(mine.threadId, { principal: acme });
    expect(kept.outcome).toBeNull();
    expect(kept.turns).toHaveLength(1);
    expect((await duh.threads.list({ principal: acme })).total).toBe(1);
    await duh.flush();
    await storage.close?.();
  });
});

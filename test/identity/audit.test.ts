// The audit chain: verification passes on an untouched log and names the first altered, missing or moved entry,
// for changes made behind the driver's back (raw SQL on SQLite and Postgres; a doctored listing for memory).
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { auditEntryHash, createIdentity, verifyAuditChain } from '../../src/identity/index.js';
import type { StorageDriver, StoredAuditEvent } from '../../src/storage.js';
import { memoryStorage } from '../../storage/memory.js';
import { DRIVER_KINDS, openDriver, postgresPool, type Opened } from './_drivers.js';

const ACME = { tenant: 'acme' };
const GLOBEX = { tenant: 'globex' };
const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

async function fill(driver: StorageDriver, count: number) {
  for (let index = 1; index <= count; index++) {
    await driver.appendAudit!(ACME, { at: at(index), actor: `user-${index}`, action: 'thread:read', resource: `thread:${index}`, outcome: 'allow', details: { index } });
  }
  await driver.appendAudit!(GLOBEX, { at: at(1), actor: 'g', action: 'run:start', resource: 'thread:g', outcome: 'success' });
}

/** Run raw SQL on the store under the driver, with the append-only triggers out of the way (as an intruder would). */
async function tamper(opened: Opened, sql: { sqlite: string; postgres: string }) {
  if (opened.kind === 'sqlite') {
    const db = new DatabaseSync(opened.path!);
    try {
      db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
      db.exec(sql.sqlite);
    } finally {
      db.close();
    }
  } else {
    const S = `"${opened.schema}"`;
    await postgresPool().query(`ALTER TABLE ${S}.audit_events DISABLE TRIGGER USER`);
    await postgresPool().query(sql.postgres.replaceAll('$S', S));
  }
}

describe.each(['sqlite', 'postgres'] as const)('audit tampering on %s (raw SQL)', (kind) => {
  it('refuses UPDATE and DELETE on audit rows through its triggers', async () => {
    const opened = openDriver(kind);
    await fill(opened.driver, 2);
    if (kind === 'sqlite') {
      const db = new DatabaseSync(opened.path!);
      expect(() => db.exec("UPDATE audit_events SET reason = 'x'")).toThrow(/append-only/);
      expect(() => db.exec('DELETE FROM audit_events')).toThrow(/append-only/);
      db.close();
    } else {
      const S = `"${opened.schema}"`;
      await expect(postgresPool().query(`UPDATE ${S}.audit_events SET reason = 'x'`)).rejects.toThrow(/append-only/);
      await expect(postgresPool().query(`DELETE FROM ${S}.audit_events`)).rejects.toThrow(/append-only/);
      await expect(postgresPool().query(`TRUNCATE ${S}.audit_events`)).rejects.toThrow(/append-only/);
    }
    expect(await verifyAuditChain(opened.driver, ACME)).toMatchObject({ ok: true, entries: 2 });
  });

  it('reports the seq of a changed field, even when its hash was recomputed to match (the next link breaks)', async () => {
    const opened = openDriver(kind);
    await fill(opened.driver, 5);
    const before = await verifyAuditChain(opened.driver, ACME);
    expect(before).toMatchObject({ ok: true, entries: 5 });
    await tamper(opened, {
      sqlite: "UPDATE audit_events SET outcome = 'deny' WHERE tenant = 'acme' AND seq = 3",
      postgres: "UPDATE $S.audit_events SET outcome = 'deny' WHERE tenant = 'acme' AND seq = 3",
    });
    const result = await verifyAuditChain(opened.driver, ACME);
    expect(result).toMatchObject({ ok: false, seq: 3, reason: expect.stringMatching(/contents do not match its hash/) });
    const third = (await opened.driver.listAudit!(ACME, { afterSeq: 2, limit: 1 }))[0]!;
    expect(result.ok === false && result.id).toBe(third.id);
    // A careful intruder also rewrites the hash: then entry 4 no longer links to it.
    const rehashed = await auditEntryHash(third);
    await tamper(opened, {
      sqlite: `UPDATE audit_events SET hash = '${rehashed}' WHERE tenant = 'acme' AND seq = 3`,
      postgres: `UPDATE $S.audit_events SET hash = '${rehashed}' WHERE tenant = 'acme' AND seq = 3`,
    });
    expect(await verifyAuditChain(opened.driver, ACME)).toMatchObject({ ok: false, seq: 4, reason: expect.stringMatching(/does not link to entry 3/) });
    expect(await verifyAuditChain(opened.driver, GLOBEX)).toMatchObject({ ok: true, entries: 1 });
  });

  it('reports a deleted entry, a changed detail and an entry moved in from another tenant', async () => {
    const opened = openDriver(kind);
    await fill(opened.driver, 4);
    await tamper(opened, {
      sqlite: "DELETE FROM audit_events WHERE tenant = 'acme' AND seq = 2",
      postgres: "DELETE FROM $S.audit_events WHERE tenant = 'acme' AND seq = 2",
    });
    expect(await verifyAuditChain(opened.driver, ACME)).toEqual({ ok: false, seq: 2, id: null, reason: 'entry 2 is missing (the next stored entry is 3)' });

    const other = openDriver(kind);
    await fill(other.driver, 3);
    await tamper(other, {
      sqlite: `UPDATE audit_events SET details = '{"index":99}' WHERE tenant = 'acme' AND seq = 1`,
      postgres: `UPDATE $S.audit_events SET details = '{"index":99}' WHERE tenant = 'acme' AND seq = 1`,
    });
    expect(await verifyAuditChain(other.driver, ACME)).toMatchObject({ ok: false, seq: 1 });

    const moved = openDriver(kind);
    await fill(moved.driver, 1);
    await tamper(moved, {
      sqlite: "UPDATE audit_events SET tenant = 'acme', seq = 2 WHERE tenant = 'globex' AND seq = 1",
      postgres: "UPDATE $S.audit_events SET tenant = 'acme', seq = 2 WHERE tenant = 'globex' AND seq = 1",
    });
    expect(await verifyAuditChain(moved.driver, ACME)).toMatchObject({ ok: false, seq: 2 });
  });
});

describe('audit tampering on memory (a doctored listing: the store itself hands out copies only)', () => {
  const doctored = (driver: StorageDriver, change: (events: StoredAuditEvent[]) => StoredAuditEvent[]): StorageDriver => ({
    ...driver,
    listAudit: async (scope, query) => {
      const all = change(await driver.listAudit!(scope, { limit: 1000 }));
      return all.filter((event) => event.seq > (query.afterSeq ?? 0)).slice(0, query.limit);
    },
  });

  it('verifies an untouched log across pages and reports altered, reordered and missing entries', async () => {
    const driver = memoryStorage();
    await fill(driver, 7);
    expect(await verifyAuditChain(driver, ACME, { pageSize: 3 })).toEqual({ ok: true, entries: 7, head: (await driver.listAudit!(ACME, { afterSeq: 6, limit: 1 }))[0]!.hash });
    expect(await verifyAuditChain(driver, { tenant: 'empty' })).toEqual({ ok: true, entries: 0, head: '0'.repeat(64) });
    const altered = doctored(driver, (events) => events.map((event) => (event.seq === 5 ? { ...event, actor: 'someone-else' } : event)));
    expect(await verifyAuditChain(altered, ACME, { pageSize: 2 })).toMatchObject({ ok: false, seq: 5 });
    const swapped = doctored(driver, (events) => events.map((event) => (event.seq === 2 ? { ...events[2]!, seq: 2 } : event.seq === 3 ? { ...events[1]!, seq: 3 } : event)));
    expect(await verifyAuditChain(swapped, ACME)).toMatchObject({ ok: false, seq: 2 });
    const cut = doctored(driver, (events) => events.filter((event) => event.seq !== 6));
    expect(await verifyAuditChain(cut, ACME)).toMatchObject({ ok: false, seq: 6, id: null });
  });

  it('needs a driver with listAudit, and says which', async () => {
    const { listAudit: _listAudit, ...rest } = memoryStorage();
    const error = await verifyAuditChain(rest as StorageDriver, ACME).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/driver `memory` does not implement listAudit\(\), which audit log verification needs/);
  });
});

describe.each(DRIVER_KINDS)('identity.audit.verify on %s', (kind) => {
  it('verifies the log that management calls wrote, and audits the verification itself', async () => {
    const { driver } = openDriver(kind);
    const identity = createIdentity({ storage: driver, passwords: { cost: 1024 }, jwt: false });
    const admin = { id: 'root', tenant: 'acme', roles: ['admin'] };
    const user = await identity.users.create({ email: 'a@example.com' }, { principal: admin });
    await identity.users.setRole(user.id, 'viewer', { principal: admin });
    expect(await identity.audit.verify({ principal: admin })).toMatchObject({ ok: true, entries: 2 });
    const log = await identity.audit.list({ principal: admin });
    expect(log.map((event) => [event.seq, event.action, event.outcome])).toEqual([
      [1, 'user:create', 'success'],
      [2, 'user:update', 'success'],
      [3, 'audit:read', 'success'],
    ]);
  });
});

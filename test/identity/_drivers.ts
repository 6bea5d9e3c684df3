// The three drivers the identity tests run on: memory, SQLite (a temp file) and a real PostgreSQL (a schema per
// driver, dropped when the file ends). Each test file gets its own schemas and files.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach } from 'vitest';
import type { StorageDriver } from '../../src/storage.js';
import { memoryStorage } from '../../storage/memory.js';
import { postgresStorage } from '../../storage/postgres.js';
import { sqliteStorage } from '../../storage/sqlite.js';

export const POSTGRES_URL = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** A driver plus what a test needs to reach under it (the SQLite file, the Postgres schema). */
export interface Opened {
  driver: StorageDriver;
  kind: 'memory' | 'sqlite' | 'postgres';
  /** SQLite: the database file. */
  path?: string;
  /** Postgres: the schema. */
  schema?: string;
}

const folder = mkdtempSync(join(tmpdir(), 'duh-identity-'));
let pool: pg.Pool | undefined;
const schemas: string[] = [];
const open: StorageDriver[] = [];

/** The shared pool of this file (created on first use). */
export const postgresPool = (): pg.Pool => (pool ??= new pg.Pool({ connectionString: POSTGRES_URL, max: 4 }));

afterEach(async () => {
  for (const driver of open.splice(0)) await driver.close?.();
});
afterAll(async () => {
  rmSync(folder, { recursive: true, force: true });
  if (!pool) return;
  try {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
});

let counter = 0;
/** A fresh, empty store of the given kind, closed after the test. */
export function openDriver(kind: Opened['kind']): Opened {
  let opened: Opened;
  if (kind === 'memory') opened = { kind, driver: memoryStorage() };
  else if (kind === 'sqlite') {
    const path = join(folder, `identity-${++counter}.db`);
    opened = { kind, driver: sqliteStorage({ path }), path };
  } else {
    const schema = `duh_identity_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    schemas.push(schema);
    opened = { kind, driver: postgresStorage({ pool: postgresPool(), schema }), schema };
  }
  open.push(opened.driver);
  return opened;
}

export const DRIVER_KINDS = ['memory', 'sqlite', 'postgres'] as const;

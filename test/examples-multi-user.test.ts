// The multi-user examples compile (tsc covers examples/) and do what they say.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { main as limitsAndBudgets } from '../examples/limits-and-budgets.js';
import { main as multiTenant } from '../examples/multi-tenant.js';

const POSTGRES = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
const REDIS = 'redis://127.0.0.1:6379';

vi.spyOn(console, 'log').mockImplementation(() => {});

describe('examples/limits-and-budgets.ts', () => {
  it('lets a contributor ask, denies a viewer, refuses an unaffordable run and degrades one on request', async () => {
    const outcome = await limitsAndBudgets();
    expect(outcome.asked).toBe(2);
    expect(outcome.denied).toBe('`run:start` needs one of the roles contributor, admin; `vera` has viewer');
    expect(outcome.refused).toMatch(/^tenant:acme:month: \$0\.\d{4} used of \$1, run may cost \$\d+\.\d{4}$/);
    expect(outcome.degradedTo).toBeGreaterThanOrEqual(1);
    expect(outcome.degradedTo).toBeLessThan(8);
  });
});

describe('examples/multi-tenant.ts (real Postgres and Redis)', () => {
  it('two instances share keys, limits, budgets and records, and the audit chain verifies', { timeout: 60_000 }, async () => {
    const namespace = `duh_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    try {
      const outcome = await multiTenant({ databaseUrl: POSTGRES, redisUrl: REDIS, namespace });
      expect(outcome.threads).toBe(2);
      expect(outcome.principal).toMatchObject({ tenant: 'acme', roles: ['contributor'] });
      expect(outcome.audit).toMatchObject({ ok: true });
    } finally {
      const pool = new pg.Pool({ connectionString: POSTGRES, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
      await pool.end();
      const redis = new Redis(REDIS);
      const keys = await redis.keys(`${namespace}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

// Budgets and request buckets hold across processes: 4 worker processes × 50 concurrent runs on scripted models,
// shared through a real Redis (127.0.0.1:6379). Half the runs are for tenant `acme` (a budget of $1 a day), half
// for tenant `globex` (a request bucket of 60 runs a day). Workers run the built package (dist/), which `npm test`
// builds before the suite.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const WORKER = join(import.meta.dirname, 'fixtures', 'budget-worker.mjs');
const prefix = `duh-test-${randomUUID().slice(0, 8)}:`;
const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

interface Outcome {
  ok: boolean;
  tenant: 'acme' | 'globex';
  costUsd?: number;
  code?: string;
  message?: string;
  budget?: string;
  limitUsd?: number;
  usedUsd?: number;
  requestedUsd?: number;
  resetsAt?: string;
  key?: string;
}

function worker(id: number): Promise<Outcome[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, prefix, String(id), '50'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`worker ${id} exited with ${code}: ${err}`));
      resolve(out.trim().split('\n').map((line) => JSON.parse(line) as Outcome));
    });
  });
}

describe('budgets and request buckets across processes (real Redis)', () => {
  it('4 workers × 50 concurrent runs never overspend $1 and admit no more runs than the bucket holds', { timeout: 60_000 }, async () => {
    await redis.connect();
    const outcomes = (await Promise.all([0, 1, 2, 3].map(worker))).flat();
    expect(outcomes).toHaveLength(200);

    // acme: the budget.
    const acme = outcomes.filter((outcome) => outcome.tenant === 'acme');
    const succeeded = acme.filter((outcome) => outcome.ok);
    const spent = succeeded.reduce((sum, outcome) => sum + outcome.costUsd!, 0);
    const refused = acme.filter((outcome) => outcome.code === 'BUDGET_EXCEEDED');
    expect(succeeded.length + refused.length).toBe(100);
    expect(spent).toBeLessThanOrEqual(1);
    expect(succeeded.length).toBeGreaterThan(5);
    expect(refused.length).toBeGreaterThan(0);
    // What the 100 runs would have spent without reservations: well over the budget.
    expect((100 * spent) / succeeded.length).toBeGreaterThan(2);
    for (const refusal of refused) {
      expect(refusal.budget).toBe('tenant:acme:day');
      expect(refusal.limitUsd).toBe(1);
      expect(refusal.usedUsd! + refusal.requestedUsd!).toBeGreaterThan(1);
      expect(refusal.resetsAt).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/);
      expect(refusal.message).toContain('cannot cover this run');
    }

    // globex: the request bucket admitted exactly its 60 (it refills by far less than one run during the test).
    const globex = outcomes.filter((outcome) => outcome.tenant === 'globex');
    const admitted = globex.filter((outcome) => outcome.ok);
    const limited = globex.filter((outcome) => outcome.code === 'RATE_LIMITED');
    expect(admitted.length + limited.length).toBe(100);
    expect(limited.every((outcome) => outcome.key === 'tenant:globex:requests')).toBe(true);
    expect(admitted.length).toBe(60);
  });
});

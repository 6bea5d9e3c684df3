// Budgets and request buckets hold across processes: 4 worker processes × 50 concurrent runs on scripted models,
// one tenant budget of $1 and one request bucket of 150, shared through a real Redis (127.0.0.1:6379). Workers run
// the built package (dist/), which `npm test` builds before the suite.
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
  it('4 workers × 50 concurrent runs never overspend $1 and admit at most 150 requests', { timeout: 60_000 }, async () => {
    await redis.connect();
    const outcomes = (await Promise.all([0, 1, 2, 3].map(worker))).flat();
    expect(outcomes).toHaveLength(200);

    const succeeded = outcomes.filter((outcome) => outcome.ok);
    const spent = succeeded.reduce((sum, outcome) => sum + outcome.costUsd!, 0);
    const refusedByBudget = outcomes.filter((outcome) => outcome.code === 'BUDGET_EXCEEDED');
    const rateLimited = outcomes.filter((outcome) => outcome.code === 'RATE_LIMITED');

    // Every outcome is a success, a budget refusal or a rate limit: nothing else went wrong.
    expect(succeeded.length + refusedByBudget.length + rateLimited.length).toBe(200);
    // The budget held, and it was the real constraint (the runs were worth much more than $1 in total).
    expect(spent).toBeLessThanOrEqual(1);
    expect(succeeded.length).toBeGreaterThan(5);
    expect(refusedByBudget.length).toBeGreaterThan(0);
    // What the 150 admitted runs would have spent without reservations: well over the budget.
    expect((150 * spent) / succeeded.length).toBeGreaterThan(2);
    // Every refusal carries the figures.
    for (const refusal of refusedByBudget) {
      expect(refusal.budget).toBe('tenant:acme:day');
      expect(refusal.limitUsd).toBe(1);
      expect(refusal.usedUsd! + refusal.requestedUsd!).toBeGreaterThan(1);
      expect(refusal.resetsAt).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/);
      expect(refusal.message).toContain('cannot cover this run');
    }
    // The request bucket admitted exactly its capacity: 150 of 200 (it refills by under one request a day-fraction).
    expect(rateLimited.every((outcome) => outcome.key === 'tenant:acme:requests')).toBe(true);
    expect(200 - rateLimited.length).toBe(150);
  });
});

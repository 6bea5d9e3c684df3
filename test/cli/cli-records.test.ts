// The record commands against a real SQLite file, as a user would chain them.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';

const folder = mkdtempSync(join(tmpdir(), 'duh-cli-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function duh(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => void (stdout += text), isTTY: false },
    stderr: { write: (text: string) => void (stderr += text) },
    env: { DUH_STORAGE: `sqlite:${join(folder, 'duh.db')}`, ...env },
    demoPanel: { chunkDelayMs: 0, latencyMs: 0 },
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('duh record commands on SQLite', () => {
  it('stores runs and lists, shows, recalls, rates, costs, exports, backs up and restores them', async () => {
    const first = await duh(['ask', 'Should we shard the orders table by tenant?', '--rounds', '1', '--json']);
    expect(first.code).toBe(0);
    const { threadId } = JSON.parse(first.stdout) as { threadId: string };
    expect((await duh(['ask', 'Which CDN should we pick?', '--rounds', '1'])).code).toBe(0);

    const threads = await duh(['threads']);
    expect(threads.code).toBe(0);
    expect(threads.stdout).toContain('2 of 2 thread(s)');
    // The listing shows the shortest prefix that tells the two apart (UUIDv7s made together share 8+ characters).
    const shownPrefix = threads.stdout.split('\n').find((line) => line.includes('orders table'))!.split(/\s+/)[0]!;
    expect(threadId.startsWith(shownPrefix)).toBe(true);
    expect(shownPrefix.length).toBeGreaterThanOrEqual(8);

    const shown = await duh(['show', shownPrefix]);
    expect(shown.stdout).toMatch(/^# Consensus: Should we shard the orders table by tenant\?/);
    expect(shown.stdout).toContain('## Consensus Process');

    const recalled = await duh(['recall', 'orders']);
    expect(recalled.stdout).toContain(threadId.slice(0, 8));
    expect(recalled.stdout).not.toContain('CDN');

    const rated = await duh(['feedback', threadId, '--result', 'success', '--notes', 'shipped']);
    expect(rated.stdout).toBe(`Recorded success for ${threadId}.\n`);
    expect(JSON.parse((await duh(['show', threadId, '--json'])).stdout)).toMatchObject({ outcome: { result: 'success', notes: 'shipped' } });

    const cost = await duh(['cost', '--by', 'provider', '--json']);
    const rows = JSON.parse(cost.stdout) as { key: string; calls: number }[];
    expect(rows.map((row) => row.key).sort()).toEqual(['anthropic', 'google', 'mistral', 'openai']);

    const exported = join(folder, 'thread.json');
    expect((await duh(['export', threadId, '--format', 'json', '-o', exported])).code).toBe(0);
    expect(JSON.parse(readFileSync(exported, 'utf8'))).toMatchObject({ thread_id: threadId, question: 'Should we shard the orders table by tenant?' });

    const backup = join(folder, 'backup.jsonl');
    expect((await duh(['backup', backup])).stdout).toBe(`Backed up 2 thread(s) to ${backup}\n`);
    const other = { DUH_STORAGE: `sqlite:${join(folder, 'restored.db')}` };
    expect((await duh(['restore', backup], other)).stdout).toBe(`Restored 2 thread(s) from ${backup} (merged)\n`);
    expect((await duh(['threads'], other)).stdout).toContain('2 of 2 thread(s)');
  });

  it('keeps tenants apart', async () => {
    expect((await duh(['ask', 'A private question of tenant blue', '--rounds', '1', '--tenant', 'blue'])).code).toBe(0);
    expect((await duh(['threads', '--tenant', 'blue'])).stdout).toContain('1 of 1 thread(s)');
    expect((await duh(['recall', 'private', '--tenant', 'green'])).stdout).toContain('No thread matches');
  });

  it('reports spending by tenant: the own tenant by default, every tenant with --all-tenants', async () => {
    const env = { DUH_STORAGE: `sqlite:${join(folder, 'tenants.db')}` };
    for (const tenant of ['red', 'red', 'blue']) expect((await duh(['ask', `A question of tenant ${tenant}`, '--rounds', '1', '--tenant', tenant], env)).code).toBe(0);
    const own = JSON.parse((await duh(['cost', '--by', 'tenant', '--tenant', 'red', '--json'], env)).stdout) as { key: string; calls: number }[];
    expect(own.map((row) => row.key)).toEqual(['red']);
    const all = JSON.parse((await duh(['cost', '--by', 'tenant', '--all-tenants', '--json'], env)).stdout) as { key: string; calls: number }[];
    expect(all.map((row) => row.key).sort()).toEqual(['blue', 'red']);
    expect(all.find((row) => row.key === 'red')!.calls).toBe(own[0]!.calls);
    const table = await duh(['cost', '--by', 'tenant', '--all-tenants'], env);
    expect(table.stdout).toMatch(/^red\s+\$/m);
    expect(table.stdout).toMatch(/^blue\s+\$/m);
    expect(table.stdout).toMatch(/^Total \$\d+\.\d{4}$/m);
  });

  it('reports usage errors with exit code 2 and bad storage specs with exit code 1', async () => {
    expect((await duh(['show'])).code).toBe(2);
    expect((await duh(['feedback', 'abcdefgh'])).stderr).toContain('--result');
    const bad = await duh(['threads'], { DUH_STORAGE: 'redis://nope' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('The storage must be `memory`, `sqlite:<path>`');
  });
});

describe('shortIds', () => {
  it('gives each id the shortest distinct prefix of at least 13 characters', async () => {
    const { shortIds: same } = await import('../../src/cli/records.js');
    expect([...same(['019a0000-aaaa-7000-8000-00000000000a', '019a0000-aaaa-7fff-8000-00000000000b']).values()]).toEqual(['019a0000-aaaa-70', '019a0000-aaaa-7f']);
    const { shortIds } = await import('../../src/cli/records.js');
    const ids = shortIds(['019a0000-aaaa-7000-8000-000000000001', '019a0000-aaab-7000-8000-000000000002', '12345678-0000-7000-8000-000000000003']);
    expect([...ids.values()]).toEqual(['019a0000-aaaa', '019a0000-aaab', '12345678-0000']);
  });
});

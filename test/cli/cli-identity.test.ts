// `duh user`, `duh key` and `duh audit` against a real SQLite file, as an operator would use them. (The same
// commands on Postgres go through the same identity service, tested on Postgres in test/identity/.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { createIdentity } from '../../src/identity/index.js';
import { sqliteStorage } from '../../storage/sqlite.js';

const folder = mkdtempSync(join(tmpdir(), 'duh-cli-identity-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function duh(argv: string[], env: Record<string, string> = {}, stdin?: string) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => void (stdout += text), isTTY: false },
    stderr: { write: (text: string) => void (stderr += text) },
    env: { DUH_STORAGE: `sqlite:${join(folder, 'duh.db')}`, ...env },
    ...(stdin !== undefined ? { readStdin: async () => stdin } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('duh user / key / audit on SQLite', () => {
  it('creates users, changes roles, issues a key shown once, lists and revokes it, and verifies the audit log', async () => {
    const created = await duh(['user', 'create', 'Alice@Example.com', '--role', 'admin', '--name', 'Alice', '--password-stdin'], {}, 'a long passphrase\n');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^Created user [0-9a-f-]{36} alice@example\.com \(admin\) with a password\.\n$/);
    const bob = await duh(['user', 'create', 'bob@example.com', '--json']);
    const bobUser = JSON.parse(bob.stdout) as { id: string; role: string; hasPassword: boolean };
    expect(bobUser).toMatchObject({ role: 'contributor', hasPassword: false });

    const listed = await duh(['user', 'list']);
    expect(listed.stdout).toContain('alice@example.com');
    expect(listed.stdout).toContain('2 of 2 user(s)');
    expect((await duh(['user', 'set-role', 'bob@example.com', 'viewer'])).stdout).toBe(`User bob@example.com (${bobUser.id}) is now viewer.\n`);

    const key = await duh(['key', 'create', '--user', 'bob@example.com', '--name', 'ci', '--scopes', 'read', '--expires', '30d']);
    expect(key.code).toBe(0);
    const plaintext = key.stdout.trim();
    expect(plaintext).toMatch(/^duh_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(key.stderr).toMatch(/Created API key [0-9a-f]{16} for user .* \(scopes read, expires \d{4}-/);
    expect(key.stderr).toContain('it is not shown again');
    const keyId = plaintext.split('_')[1]!;

    // The key authenticates as bob, capped to viewer by its scope.
    const storage = sqliteStorage({ path: join(folder, 'duh.db') });
    const identity = createIdentity({ storage, jwt: false });
    expect(await identity.authenticate(plaintext)).toMatchObject({ id: bobUser.id, tenant: 'default', roles: ['viewer'] });
    await identity.flush();
    await storage.close!();

    const keys = await duh(['key', 'list']);
    expect(keys.stdout).toContain(keyId);
    expect(keys.stdout).toMatch(/read\s+active/);
    expect(keys.stdout).not.toContain(plaintext.split('_')[2]);
    expect((await duh(['key', 'revoke', keyId])).stdout).toMatch(new RegExp(`^Revoked key ${keyId} of user ${bobUser.id} at `));
    expect((await duh(['key', 'list', '--user', 'bob@example.com'])).stdout).toMatch(/revoked/);

    const verified = await duh(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^Audit log of tenant `default` verified: \d+ entries, head [0-9a-f]{64}\.\n$/);
    const log = await duh(['audit', 'list']);
    for (const action of ['user:create', 'user:update', 'key:create', 'key:revoke', 'audit:read']) expect(log.stdout).toContain(action);
    expect(log.stdout).not.toContain('a long passphrase');
    expect(log.stdout).not.toContain(plaintext);
  });

  it('keeps tenants apart', async () => {
    expect((await duh(['user', 'create', 'carol@example.com', '--tenant', 'blue'])).code).toBe(0);
    expect((await duh(['user', 'list', '--tenant', 'blue'])).stdout).toContain('1 of 1 user(s)');
    expect((await duh(['user', 'list', '--tenant', 'green'])).stdout).toContain('0 of 0 user(s)');
    const missing = await duh(['key', 'create', '--user', 'carol@example.com', '--tenant', 'green']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No user `carol@example.com` in this tenant');
  });

  it('exits 1 and names the first bad seq when the audit log was altered', async () => {
    const path = join(folder, 'tampered.db');
    const env = { DUH_STORAGE: `sqlite:${path}` };
    for (const email of ['a@x.test', 'b@x.test', 'c@x.test']) expect((await duh(['user', 'create', email], env)).code).toBe(0);
    expect((await duh(['audit', 'verify'], env)).code).toBe(0);
    const db = new DatabaseSync(path);
    db.exec('DROP TRIGGER audit_events_no_update');
    db.exec("UPDATE audit_events SET actor = 'someone-else' WHERE tenant = 'default' AND seq = 2");
    db.close();
    const broken = await duh(['audit', 'verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^Audit log of tenant `default` is broken at seq 2 \(entry [0-9a-f-]{36}\): entry 2's contents do not match its hash/);
    const asJson = await duh(['audit', 'verify', '--json'], env);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: false, seq: 2 });
  });

  it('reports usage errors with exit code 2 and refusals with exit code 1', async () => {
    expect((await duh(['user'])).code).toBe(2);
    expect((await duh(['user', 'create'])).stderr).toContain('needs an email address');
    expect((await duh(['key', 'create'])).stderr).toContain('--user <id-or-email>');
    expect((await duh(['audit', 'shred'])).code).toBe(2);
    const badRole = await duh(['user', 'create', 'd@example.com', '--role', 'superuser']);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toMatch(/Policy denied `user:create`.*role `superuser` is not defined/);
    const badScope = await duh(['key', 'create', '--user', 'bob@example.com', '--scopes', 'write']);
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toContain('Unknown API key scope "write"');
    expect((await duh(['user', 'create', 'e@example.com', '--password-stdin'], {}, '\n')).stderr).toContain('empty password');
  });
});

// `duh user`, `duh key` and `duh audit` against a real SQLite file, as an operator would use them. (The same
// commands on Postgres go through the same identity service, tested on Postgres in test/identity/.)
import { randomBytes } from 'node:crypto';
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
    expect(keys.stdout).not.toContain(plaintext.split('_').slice(2).join('_'));
    expect((await duh(['key', 'revoke', keyId])).stdout).toMatch(new RegExp(`^Revoked key ${keyId} of user ${bobUser.id} at `));
    expect((await duh(['key', 'list', '--user', 'bob@example.com'])).stdout).toMatch(/revoked/);

    const endedOut = await duh(['user', 'end-sessions', 'alice@example.com']);
    expect(endedOut).toMatchObject({ code: 0 });
    expect(endedOut.stdout).toMatch(/^Ended every session of alice@example\.com \([0-9a-f-]{36}\) as of \d{4}-\d\d-\d\dT[\d:.]+Z; API keys are not affected\.\n$/);
    expect((await duh(['user', 'end-sessions', 'nobody@example.com'])).code).toBe(1);

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

  it('stores, lists, deletes and rotates a tenant\'s provider keys, reading the key from stdin and never printing it', async () => {
    const path = join(folder, 'byok.db');
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const ring1 = { DUH_STORAGE: `sqlite:${path}`, DUH_VAULT_KEYS: JSON.stringify({ current: 'k1', keys: { k1 } }) };
    const secret = 'sk-test-5f0c2d9e8b7a6c5d4e3f2a1b';
    const set = await duh(['provider-key', 'set', 'openai', '--tenant', 'acme'], ring1, `${secret}\n`);
    expect(set).toMatchObject({ code: 0, stdout: 'Stored the openai key of tenant `acme`, encrypted with vault key k1.\n' });
    expect((await duh(['provider-key', 'set', 'anthropic', '--tenant', 'acme', '--json'], ring1, 'sk-ant-test-0123456789')).code).toBe(0);
    const listed = await duh(['provider-key', 'list', '--tenant', 'acme'], ring1);
    expect(listed.stdout).toMatch(/^anthropic\s+vault key k1\s+updated .*\nopenai\s+vault key k1\s+updated .*\n2 provider key\(s\)\n$/);
    expect((await duh(['provider-key', 'list', '--tenant', 'globex'], ring1)).stdout).toBe('0 provider key(s)\n');

    // The tenant's key is what a run of that tenant gets; nothing printed or audited holds it.
    const storage = sqliteStorage({ path });
    const identity = createIdentity({ storage, jwt: false, env: ring1 });
    expect(await identity.credentials()({ tenant: 'acme', provider: 'openai' })).toEqual({ apiKey: secret });
    const audit = JSON.stringify(await storage.listAudit!({ tenant: 'acme' }, { limit: 100 }));
    expect(audit).toContain('provider-key:write');
    expect(audit).not.toContain(secret);
    await identity.flush();
    await storage.close!();
    expect(set.stdout + set.stderr + listed.stdout).not.toContain(secret);

    // Rotation: a new current key re-encrypts every tenant's keys; the old key can then be dropped.
    const ring2 = { ...ring1, DUH_VAULT_KEYS: JSON.stringify({ current: 'k2', keys: { k1, k2 } }) };
    const rotated = await duh(['provider-key', 'rotate'], ring2);
    expect(rotated).toMatchObject({ code: 0, stdout: 'Re-encrypted 2 provider key(s) under vault key k2; 0 already were.\n' });
    const ring3 = { ...ring1, DUH_VAULT_KEYS: JSON.stringify({ current: 'k2', keys: { k2 } }) };
    expect((await duh(['provider-key', 'list', '--tenant', 'acme'], ring3)).stdout).toMatch(/openai\s+vault key k2/);

    expect((await duh(['provider-key', 'delete', 'openai', '--tenant', 'acme'], ring3)).stdout).toBe('Deleted the openai key of tenant `acme`.\n');
    const again = await duh(['provider-key', 'delete', 'openai', '--tenant', 'acme'], ring3);
    expect(again).toMatchObject({ code: 1, stdout: 'Tenant `acme` has no openai key.\n' });

    // The key never goes on the command line; without a keyring the error says where it is read from.
    const onArgv = await duh(['provider-key', 'set', 'openai', secret, '--tenant', 'acme'], ring3, '');
    expect(onArgv.code).toBe(2);
    expect(onArgv.stderr).toContain('reads the key from standard input');
    expect(onArgv.stderr).not.toContain(secret);
    expect((await duh(['provider-key', 'set', 'openai'], ring3, '\n')).stderr).toContain('empty key');
    const noRing = await duh(['provider-key', 'set', 'openai', '--tenant', 'acme'], { DUH_STORAGE: `sqlite:${path}` }, secret);
    expect(noRing.code).toBe(1);
    expect(noRing.stderr).toContain('DUH_VAULT_KEYS');
    expect((await duh(['provider-key', 'shred'], ring3)).code).toBe(2);
    // A key pasted where the provider name goes is refused and never echoed.
    for (const pasted of [secret, 'x'.repeat(40)]) {
      const misplaced = await duh(['provider-key', 'set', pasted, '--tenant', 'acme'], ring3, 'ignored');
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('looks like a key, so it is not shown');
      expect(misplaced.stderr).not.toContain(pasted);
    }
    expect((await duh(['provider-key', 'rotate', 'acme'], ring3)).stderr).toContain('takes no arguments');
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

describe('the identity and record commands on Postgres (DUH_PG_SCHEMA)', () => {
  const url = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const schema = `duh_cli_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    const pg = (await import('pg')).default;
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('works in the schema DUH_PG_SCHEMA names, and says how to fix a bad one', async () => {
    const env = { DUH_STORAGE: url, DUH_PG_SCHEMA: schema };
    expect((await duh(['user', 'create', 'pat@acme.test', '--tenant', 'acme'], env)).code).toBe(0);
    expect((await duh(['user', 'list', '--tenant', 'acme'], env)).stdout).toContain('pat@acme.test');
    expect((await duh(['audit', 'verify', '--tenant', 'acme'], env)).code).toBe(0);
    expect((await duh(['threads', '--tenant', 'acme', '--json'], env)).code).toBe(0);
    const { postgresStorage } = await import('../../storage/postgres.js');
    const storage = postgresStorage({ connectionString: url, schema });
    expect((await storage.listUsers!({ tenant: 'acme' }, { limit: 10, offset: 0 })).users.map((user) => user.email)).toEqual(['pat@acme.test']);
    await storage.close!();
    const bad = await duh(['user', 'list'], { DUH_STORAGE: url, DUH_PG_SCHEMA: 'no such schema!' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('must be a plain identifier');
  });
});

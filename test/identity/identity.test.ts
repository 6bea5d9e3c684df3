// The identity service end to end: policy on every management call (with deny entries in the audit log),
// sign-in and sessions, provider keys for runs, tenant isolation on every driver, and no secret anywhere.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, InvalidOptionError, NotFoundError, PolicyDeniedError, StorageError } from '../../src/errors.js';
import { createIdentity, createVault, hashPassword, type Identity } from '../../src/identity/index.js';
import type { Policy } from '../../src/policy.js';
import type { Principal } from '../../src/principal.js';
import type { StorageDriver } from '../../src/storage.js';
import { memoryStorage } from '../../storage/memory.js';
import { DRIVER_KINDS, openDriver, postgresPool } from './_drivers.js';

const JWT_SECRET = `jwt-${randomBytes(24).toString('base64url')}`;
const VAULT_KEY = randomBytes(32).toString('base64');
const vaultKeys = { current: 'k1', keys: { k1: VAULT_KEY } };
const ACME_ADMIN: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
const GLOBEX_ADMIN: Principal = { id: 'root', tenant: 'globex', roles: ['admin'] };
const T0 = Date.UTC(2026, 0, 1);

const failure = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
const make = (storage: StorageDriver, extra: Partial<Parameters<typeof createIdentity>[0]> = {}) => {
  const clock = { time: T0, now: () => clock.time };
  const identity = createIdentity({ storage, clock, passwords: { cost: 1024 }, jwt: { secret: JWT_SECRET }, vault: { keys: vaultKeys }, ...extra });
  return { identity, clock };
};
const auditOf = (storage: StorageDriver, tenant: string) => storage.listAudit!({ tenant }, { limit: 1000 });

describe('createIdentity', () => {
  it('needs a driver with an audit log and says which driver lacks it', () => {
    const { appendAudit: _appendAudit, ...noAudit } = memoryStorage();
    let error: unknown;
    try {
      createIdentity({ storage: noAudit as StorageDriver });
    } catch (caught) {
      error = caught;
    }
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/\[memory\] The storage driver `memory` does not implement appendAudit\(\)/);
  });

  it('refuses management calls without a principal, and bad input, naming the field', async () => {
    const { identity } = make(memoryStorage());
    const noPrincipal = await failure(identity.users.list({} as never));
    expect(InvalidOptionError.isInstance(noPrincipal) && (noPrincipal as InvalidOptionError).option).toBe('principal');
    await expect(identity.users.create({ email: 'not-an-email' }, { principal: ACME_ADMIN })).rejects.toThrow(/needs an email address/);
    await expect(identity.users.create({ email: 'a@example.com', password: 'short' }, { principal: ACME_ADMIN })).rejects.toThrow(/at least 8 characters/);
    await expect(identity.users.create({ email: 'a@example.com', role: 'not a role!' }, { principal: ACME_ADMIN })).rejects.toThrow(/A role must be a name/);
    await expect(identity.apiKeys.create({ userId: 'x', scopes: ['everything'] }, { principal: ACME_ADMIN })).rejects.toThrow(/Unknown API key scope/);
    await expect(identity.providerKeys.set('Open AI', 'sk-x', { principal: ACME_ADMIN })).rejects.toThrow(/provider name/);
    // A key passed as the provider name is not echoed back.
    const misplaced = await failure(identity.providerKeys.set('sk-Proj-SECRET0123', 'sk-x', { principal: ACME_ADMIN }));
    expect(InvalidOptionError.isInstance(misplaced)).toBe(true);
    expect(JSON.stringify({ message: (misplaced as Error).message, ...(misplaced as object) })).not.toContain('SECRET0123');
  });
});

describe('policy on management calls', () => {
  it('a denial is a PolicyDeniedError and a `deny` audit entry with the reason, and nothing changes', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage);
    const viewer = await identity.users.create({ email: 'viewer@acme.test', role: 'viewer' }, { principal: ACME_ADMIN });
    const asViewer = { principal: { id: viewer.id, tenant: 'acme', roles: ['viewer'] }, origin: { ip: '203.0.113.7', userAgent: 'curl/8' } };
    const error = await failure(identity.users.create({ email: 'eve@acme.test', role: 'admin' }, asViewer));
    expect(PolicyDeniedError.isInstance(error)).toBe(true);
    expect((error as PolicyDeniedError).action).toBe('user:create');
    const last = (await auditOf(storage, 'acme')).at(-1)!;
    expect(last).toMatchObject({ actor: viewer.id, action: 'user:create', outcome: 'deny', ip: '203.0.113.7', userAgent: 'curl/8', reason: (error as PolicyDeniedError).reason });
    expect(last.reason).toMatch(/needs one of the roles admin/);
    expect((await identity.users.list({ principal: ACME_ADMIN })).total).toBe(1);

    // Every management action of a viewer on someone else is refused the same way.
    const other = await identity.users.create({ email: 'other@acme.test' }, { principal: ACME_ADMIN });
    const { apiKey } = await identity.apiKeys.create({ userId: other.id }, { principal: ACME_ADMIN });
    const attempts: [string, () => Promise<unknown>][] = [
      ['user:read', () => identity.users.list(asViewer)],
      ['user:read', () => identity.users.get(other.id, asViewer)],
      ['user:update', () => identity.users.setRole(viewer.id, 'admin', asViewer)],
      ['key:create', () => identity.apiKeys.create({ userId: other.id }, asViewer)],
      ['key:read', () => identity.apiKeys.list(asViewer)],
      ['key:revoke', () => identity.apiKeys.revoke(apiKey.id, asViewer)],
      ['provider-key:write', () => identity.providerKeys.set('openai', 'sk-test-00000000000000', asViewer)],
      ['provider-key:read', () => identity.providerKeys.list(asViewer)],
      ['provider-key:delete', () => identity.providerKeys.delete('openai', asViewer)],
      ['audit:read', () => identity.audit.list(asViewer)],
      ['audit:read', () => identity.audit.verify(asViewer)],
    ];
    for (const [action, attempt] of attempts) {
      const before = (await auditOf(storage, 'acme')).length;
      const denied = await failure(attempt());
      expect(PolicyDeniedError.isInstance(denied), action).toBe(true);
      expect((denied as PolicyDeniedError).action).toBe(action);
      const written = (await auditOf(storage, 'acme')).slice(before);
      expect(written.map((event) => [event.action, event.outcome, event.actor]), action).toEqual([[action, 'deny', viewer.id]]);
    }
    // A probe for an id that does not exist is refused like one for an id that does (no enumeration).
    expect(PolicyDeniedError.isInstance(await failure(identity.users.get('no-such-user', asViewer)))).toBe(true);
    expect(PolicyDeniedError.isInstance(await failure(identity.apiKeys.revoke('0123456789abcdef', asViewer)))).toBe(true);
    expect((await identity.apiKeys.list({ principal: ACME_ADMIN }))[0]?.revokedAt).toBeNull();
  });

  it('lets users read themselves and manage their own keys (rbac canOwn), not others\'', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage);
    const bob = await identity.users.create({ email: 'bob@acme.test', role: 'contributor' }, { principal: ACME_ADMIN });
    const carol = await identity.users.create({ email: 'carol@acme.test', role: 'contributor' }, { principal: ACME_ADMIN });
    const asBob = { principal: { id: bob.id, tenant: 'acme', roles: ['contributor'] } };
    expect((await identity.users.get(bob.id, asBob)).email).toBe('bob@acme.test');
    const own = await identity.apiKeys.create({ userId: bob.id, name: 'laptop' }, asBob);
    expect(await identity.apiKeys.list({ ...asBob, userId: bob.id })).toEqual([own.apiKey]);
    expect((await identity.apiKeys.revoke(own.apiKey.id, asBob)).revokedAt).not.toBeNull();
    expect(PolicyDeniedError.isInstance(await failure(identity.apiKeys.create({ userId: carol.id }, asBob)))).toBe(true);
    expect(PolicyDeniedError.isInstance(await failure(identity.apiKeys.list(asBob)))).toBe(true); // all keys: admin only
  });

  it('asks a custom policy, passing the action and the resource (tenant, id, owner, role)', async () => {
    const storage = memoryStorage();
    const asked: unknown[] = [];
    const policy: Policy = (principal, action, resource) => {
      asked.push({ principal: principal.id, action, resource });
      return action === 'provider-key:write' ? { allow: false, reason: 'BYOK is disabled for this tenant' } : true;
    };
    const { identity } = make(storage, { policy });
    const user = await identity.users.create({ email: 'u@acme.test', role: 'custom-role' }, { principal: ACME_ADMIN });
    await identity.apiKeys.create({ userId: user.id }, { principal: ACME_ADMIN });
    const denied = await failure(identity.providerKeys.set('openai', 'sk-would-be-stored-000000', { principal: ACME_ADMIN }));
    expect((denied as Error).message).toBe('Policy denied `provider-key:write` on `provider-key:openai`: BYOK is disabled for this tenant.');
    expect(asked).toEqual([
      { principal: 'root', action: 'user:create', resource: { type: 'user', id: user.id, ownerId: user.id, role: 'custom-role', tenant: 'acme' } },
      { principal: 'root', action: 'key:create', resource: { type: 'api-key', id: expect.stringMatching(/^[0-9a-f]{16}$/), ownerId: user.id, tenant: 'acme' } },
      { principal: 'root', action: 'provider-key:write', resource: { type: 'provider-key', id: 'openai', tenant: 'acme' } },
    ]);
    expect((await auditOf(storage, 'acme')).at(-1)).toMatchObject({ action: 'provider-key:write', outcome: 'deny', reason: 'BYOK is disabled for this tenant', resource: 'provider-key:openai' });
    expect(await storage.listProviderKeys!({ tenant: 'acme' })).toEqual([]);
  });

  it('audits failures with the reason (a duplicate email, an unknown user)', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage);
    await identity.users.create({ email: 'dup@acme.test' }, { principal: ACME_ADMIN });
    await expect(identity.users.create({ email: 'DUP@acme.test' }, { principal: ACME_ADMIN })).rejects.toThrow(/already has the email `dup@acme.test`/);
    const missing = await failure(identity.users.setRole('ghost@acme.test', 'viewer', { principal: ACME_ADMIN }));
    expect(NotFoundError.isInstance(missing)).toBe(true);
    const log = await auditOf(storage, 'acme');
    expect(log.slice(-2).map((event) => [event.action, event.outcome, event.reason])).toEqual([
      ['user:create', 'failure', expect.stringMatching(/already has the email/)],
      ['user:update', 'failure', 'No user `ghost@acme.test` in this tenant.'],
    ]);
  });
});

describe('sign-in and sessions', () => {
  it('logs in with email and password, issues a session token, and authenticates it with the current role', async () => {
    const storage = memoryStorage();
    const { identity, clock } = make(storage);
    const user = await identity.users.create({ email: 'Dana@Acme.test', password: 'a long passphrase', role: 'contributor' }, { principal: ACME_ADMIN });
    expect(user).toMatchObject({ email: 'dana@acme.test', displayName: 'dana', hasPassword: true });
    expect(Object.keys(user)).not.toContain('passwordHash');
    const login = await identity.login({ tenant: 'acme', email: 'DANA@acme.test', password: 'a long passphrase' }, { ip: '198.51.100.4' });
    expect(login.user.id).toBe(user.id);
    expect(login.principal).toEqual({ id: user.id, tenant: 'acme', roles: ['contributor'], via: 'session' });
    expect(login.expiresAt).toBe(new Date(T0 + 86_400_000).toISOString());
    expect(await identity.authenticate(`Bearer ${login.token}`)).toEqual({ id: user.id, tenant: 'acme', roles: ['contributor'], via: 'session' });
    await identity.users.setRole(user.id, 'viewer', { principal: ACME_ADMIN });
    expect((await identity.authenticate(login.token!)).roles).toEqual(['viewer']);
    await identity.users.deactivate(user.id, { principal: ACME_ADMIN });
    await expect(identity.authenticate(login.token!)).rejects.toThrow('User not found or inactive.');
    await expect(identity.login({ tenant: 'acme', email: 'dana@acme.test', password: 'a long passphrase' })).rejects.toThrow('Account disabled.');
    await identity.users.activate(user.id, { principal: ACME_ADMIN });
    clock.time += 86_400_000;
    await expect(identity.authenticate(login.token!)).rejects.toThrow('Session token expired; sign in again.');
    const log = await auditOf(storage, 'acme');
    expect(log.filter((event) => event.action === 'auth:login').map((event) => [event.outcome, event.reason, event.ip])).toEqual([
      ['success', null, '198.51.100.4'],
      ['failure', 'account disabled', null],
    ]);
  });

  it('answers a wrong password and an unknown email the same way, and audits both', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage);
    await identity.users.create({ email: 'erin@acme.test', password: 'correct password' }, { principal: ACME_ADMIN });
    for (const [email, password] of [['erin@acme.test', 'wrong password'], ['nobody@acme.test', 'correct password']]) {
      const error = await failure(identity.login({ tenant: 'acme', email: email!, password: password! }));
      expect(AuthenticationError.isInstance(error)).toBe(true);
      expect((error as Error).message).toBe('Invalid credentials.');
    }
    const failures = (await auditOf(storage, 'acme')).filter((event) => event.action === 'auth:login');
    expect(failures.map((event) => [event.outcome, event.reason, event.details])).toEqual([
      ['failure', 'wrong password', { email: 'erin@acme.test' }],
      ['failure', 'unknown email', { email: 'nobody@acme.test' }],
    ]);
  });

  it('upgrades a weaker password hash on login', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage, { passwords: { cost: 2048 } });
    await storage.createUser!({ tenant: 'acme' }, { id: 'u-old', email: 'old@acme.test', displayName: 'Old', role: 'viewer', passwordHash: await hashPassword('an old password', { cost: 1024 }), active: true, createdAt: new Date(T0).toISOString() });
    await identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'an old password' });
    expect((await storage.getUser!({ tenant: 'acme' }, 'u-old'))?.passwordHash).toMatch(/^\$scrypt\$N=2048,/);
    await expect(identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'an old password' })).resolves.toMatchObject({ user: { id: 'u-old' } });
  });

  it('ends every session of a user whose password is set, changed or removed; a new sign-in works', async () => {
    const storage = memoryStorage();
    const { identity } = make(storage);
    const user = await identity.users.create({ email: 'gil@acme.test', password: 'first password' }, { principal: ACME_ADMIN });
    const [phone, laptop] = [
      await identity.login({ tenant: 'acme', email: 'gil@acme.test', password: 'first password' }),
      await identity.login({ tenant: 'acme', email: 'gil@acme.test', password: 'first password' }),
    ];
    // A role change keeps the sessions (they get the new role); the token never shows the password hash.
    await identity.users.setRole(user.id, 'viewer', { principal: ACME_ADMIN });
    expect((await identity.authenticate(phone.token!)).roles).toEqual(['viewer']);
    const hash = (await storage.getUser!({ tenant: 'acme' }, user.id))!.passwordHash!;
    const payload = Buffer.from(phone.token!.split('.')[1]!, 'base64url').toString();
    expect(payload).not.toContain(hash);
    expect(payload).not.toContain(hash.split('$').at(-1)!);

    await identity.users.setPassword(user.id, 'second password', { principal: ACME_ADMIN });
    for (const session of [phone, laptop]) {
      const error = await failure(identity.authenticate(session.token!));
      expect(AuthenticationError.isInstance(error)).toBe(true);
      expect((error as Error).message).toBe('Session ended: the password changed or the sessions were ended since sign-in; sign in again.');
    }
    const fresh = await identity.login({ tenant: 'acme', email: 'gil@acme.test', password: 'second password' });
    expect((await identity.authenticate(fresh.token!)).id).toBe(user.id);

    // A session issued without a password (say, right after registration) ends when one is set; removing it ends
    // the sessions made with it too.
    const registered = await identity.users.create({ email: 'hal@acme.test' }, { principal: ACME_ADMIN });
    const issued = await identity.issueSession({ id: registered.id, tenant: 'acme', role: 'contributor' });
    expect((await identity.authenticate(issued.token)).id).toBe(registered.id);
    await identity.users.setPassword(registered.id, 'now a password', { principal: ACME_ADMIN });
    await expect(identity.authenticate(issued.token)).rejects.toThrow('Session ended');
    const withPassword = await identity.login({ tenant: 'acme', email: 'hal@acme.test', password: 'now a password' });
    await identity.users.setPassword(registered.id, null, { principal: ACME_ADMIN });
    await expect(identity.authenticate(withPassword.token!)).rejects.toThrow('Session ended');

    // Sessions are for users that exist in the tenant.
    expect(NotFoundError.isInstance(await failure(identity.issueSession({ id: 'nobody', tenant: 'acme' })))).toBe(true);
    expect(NotFoundError.isInstance(await failure(identity.issueSession({ id: user.id, tenant: 'globex' })))).toBe(true);
  });

  it('ends every session at once with endSessions and with deactivation, for good: activating again brings no old token back', async () => {
    const storage = memoryStorage();
    const { identity, clock } = make(storage);
    const user = await identity.users.create({ email: 'ivy@acme.test', password: 'ivy password' }, { principal: ACME_ADMIN });
    const sign = async () => (await identity.login({ tenant: 'acme', email: 'ivy@acme.test', password: 'ivy password' })).token!;
    const first = await sign();
    clock.time += 1000;
    const ended = await identity.users.endSessions('ivy@acme.test', { principal: ACME_ADMIN });
    expect(ended.sessionsEndedAt).toMatch(/^2026-01-01T00:00:01\.000\d{6}Z$/); // the time, with random sub-millisecond digits
    expect(Date.parse(ended.sessionsEndedAt!)).toBe(clock.time);
    await expect(identity.authenticate(first)).rejects.toThrow('Session ended');
    // Signing in again right away (the same second included) gives a live session.
    const second = await sign();
    expect((await identity.authenticate(second)).id).toBe(user.id);
    // Deactivation ends sessions too, and activating again does not revive them.
    await identity.users.deactivate(user.id, { principal: ACME_ADMIN });
    await identity.users.activate(user.id, { principal: ACME_ADMIN });
    await expect(identity.authenticate(second)).rejects.toThrow('Session ended');
    expect((await identity.authenticate(await sign())).id).toBe(user.id);
    // The user shows when its sessions were last ended (deactivation, a millisecond after the endSessions: the
    // clock did not move, and each end is later than the last).
    expect(Date.parse((await identity.users.get('ivy@acme.test', { principal: ACME_ADMIN })).sessionsEndedAt!)).toBe(clock.time + 1);
    const log = await auditOf(storage, 'acme');
    expect(log.filter((event) => event.details?.['sessionsEnded'] === true).map((event) => event.action)).toEqual(['user:update', 'user:update']);
    // The policy decides: a contributor cannot end another user's sessions.
    const other = await identity.users.create({ email: 'jo@acme.test' }, { principal: ACME_ADMIN });
    const denied = await failure(identity.users.endSessions(user.id, { principal: { id: other.id, tenant: 'acme', roles: ['contributor'] } }));
    expect(PolicyDeniedError.isInstance(denied)).toBe(true);
  });

  it('an end of sessions that races another one (same millisecond, stale read) still ends the sessions begun between them', async () => {
    const inner = memoryStorage();
    let interleave: (() => Promise<void>) | undefined;
    const storage: StorageDriver = {
      ...inner,
      updateUser: async (scope, id, update) => {
        const before = interleave;
        interleave = undefined;
        await before?.(); // another end, a re-activation and a new sign-in land between this end's read and its write
        return inner.updateUser!(scope, id, update);
      },
    };
    const { identity } = make(storage); // the clock does not move: every write is in the same millisecond
    const user = await identity.users.create({ email: 'kim@acme.test', password: 'kim password' }, { principal: ACME_ADMIN });
    let between: string | undefined;
    interleave = async () => {
      await identity.users.deactivate(user.id, { principal: ACME_ADMIN });
      await identity.users.activate(user.id, { principal: ACME_ADMIN });
      between = (await identity.login({ tenant: 'acme', email: 'kim@acme.test', password: 'kim password' })).token;
    };
    await identity.users.endSessions(user.id, { principal: ACME_ADMIN });
    await expect(identity.authenticate(between!)).rejects.toThrow('Session ended');
    expect((await identity.authenticate((await identity.login({ tenant: 'acme', email: 'kim@acme.test', password: 'kim password' })).token!)).id).toBe(user.id);
  });

  it('refuses a sign-in whose user is deactivated while its password is re-hashed', async () => {
    const inner = memoryStorage();
    const storage: StorageDriver = {
      ...inner,
      updateUser: async (scope, id, update) => {
        if (update.ifPasswordHash !== undefined) await inner.updateUser!(scope, id, { active: false, sessionsEndedAt: new Date(T0).toISOString(), at: new Date(T0).toISOString() });
        return inner.updateUser!(scope, id, update);
      },
    };
    const { identity } = make(storage, { passwords: { cost: 2048 } });
    await inner.createUser!({ tenant: 'acme' }, { id: 'u-old', email: 'old@acme.test', displayName: 'Old', role: 'viewer', passwordHash: await hashPassword('an old password', { cost: 1024 }), active: true, createdAt: new Date(T0).toISOString() });
    await expect(identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'an old password' })).rejects.toThrow('Account disabled.');
  });

  it('says so when the storage driver does not keep sessionsEndedAt, instead of pretending sessions ended', async () => {
    const inner = memoryStorage();
    const storage: StorageDriver = { ...inner, updateUser: (scope, id, { sessionsEndedAt: _ignored, ifSessionsEndedAt: _guard, ...update }) => inner.updateUser!(scope, id, update) };
    const { identity } = make(storage);
    const user = await identity.users.create({ email: 'lee@acme.test' }, { principal: ACME_ADMIN });
    const error = await failure(identity.users.endSessions(user.id, { principal: ACME_ADMIN }));
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('does not store `sessionsEndedAt`');
  });

  it('a sign-in that re-hashes never undoes a password changed meanwhile; two concurrent re-hashes both get a live session', async () => {
    for (const meanwhile of ['reset', 'rehash'] as const) {
      const inner = memoryStorage();
      let raced = false;
      const storage: StorageDriver = {
        ...inner,
        updateUser: async (scope, id, update) => {
          if (update.ifPasswordHash !== undefined && !raced) {
            // Between this sign-in's check and its re-hash: an admin's reset, or another sign-in's re-hash.
            raced = true;
            const other = meanwhile === 'reset' ? await hashPassword('the new password', { cost: 2048 }) : await hashPassword('an old password', { cost: 2048 });
            await inner.updateUser!(scope, id, { passwordHash: other, at: new Date(T0 + 1000).toISOString() });
          }
          return inner.updateUser!(scope, id, update);
        },
      };
      const { identity } = make(storage, { passwords: { cost: 2048 } });
      await inner.createUser!({ tenant: 'acme' }, { id: 'u-old', email: 'old@acme.test', displayName: 'Old', role: 'viewer', passwordHash: await hashPassword('an old password', { cost: 1024 }), active: true, createdAt: new Date(T0).toISOString() });
      const login = await identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'an old password' }).catch((error: unknown) => error as Error);
      if (meanwhile === 'reset') {
        expect(AuthenticationError.isInstance(login), String(login)).toBe(true);
        expect((login as Error).message).toBe('Invalid credentials.');
        await expect(identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'the new password' })).resolves.toMatchObject({ user: { id: 'u-old' } });
        await expect(identity.login({ tenant: 'acme', email: 'old@acme.test', password: 'an old password' })).rejects.toThrow('Invalid credentials.');
        const log = await auditOf(inner, 'acme');
        expect(log.some((event) => event.reason === 'password changed during sign-in')).toBe(true);
      } else {
        // The racing sign-in lost its write but verified the same password under the other re-hash: its
        // session is bound to the hash that is stored, so it is live.
        expect(login).toMatchObject({ user: { id: 'u-old' } });
        expect((await identity.authenticate((login as { token: string }).token)).id).toBe('u-old');
      }
    }
  });

  it('without a JWT secret, login returns no token and a bearer token is refused', async () => {
    const { identity } = make(memoryStorage(), { jwt: false });
    await identity.users.create({ email: 'f@acme.test', password: 'password123' }, { principal: ACME_ADMIN });
    const login = await identity.login({ tenant: 'acme', email: 'f@acme.test', password: 'password123' });
    expect(login.token).toBeUndefined();
    await expect(identity.authenticate('a.b.c')).rejects.toThrow(/Session tokens are not enabled/);
    await expect(identity.issueSession({ id: 'x', tenant: 'acme' })).rejects.toThrow(/not configured/);
  });
});

describe('provider keys', () => {
  it('stores them encrypted, lists metadata only, resolves them for runs, and forgets deleted ones', async () => {
    const storage = memoryStorage();
    const { identity, clock } = make(storage, { credentialCacheMs: 1000 });
    const resolve = identity.credentials();
    expect(await resolve({ tenant: 'acme', provider: 'openai' })).toBeUndefined();
    const info = await identity.providerKeys.set('openai', 'sk-acme-openai-secret-000001', { principal: ACME_ADMIN });
    expect(info).toEqual({ tenant: 'acme', provider: 'openai', keyId: 'k1', createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString() });
    expect(await identity.providerKeys.list({ principal: ACME_ADMIN })).toEqual([info]);
    const stored = (await storage.getProviderKey!({ tenant: 'acme' }, 'openai'))!;
    expect(JSON.stringify(stored)).not.toContain('sk-acme-openai-secret');
    expect(await resolve({ tenant: 'acme', provider: 'openai' })).toEqual({ apiKey: 'sk-acme-openai-secret-000001' });
    await identity.providerKeys.set('openai', 'sk-acme-openai-secret-000002', { principal: ACME_ADMIN });
    expect(await resolve({ tenant: 'acme', provider: 'openai' })).toEqual({ apiKey: 'sk-acme-openai-secret-000002' }); // the cache was dropped
    expect(await identity.providerKeys.delete('openai', { principal: ACME_ADMIN })).toBe(true);
    expect(await resolve({ tenant: 'acme', provider: 'openai' })).toBeUndefined();
    expect(await identity.providerKeys.delete('openai', { principal: ACME_ADMIN })).toBe(false);
    // Another instance sees changes once its cache expires.
    const { identity: other, clock: otherClock } = make(storage, { credentialCacheMs: 1000 });
    const otherResolve = other.credentials();
    expect(await otherResolve({ tenant: 'acme', provider: 'anthropic' })).toBeUndefined();
    await identity.providerKeys.set('anthropic', 'sk-ant-acme-000003', { principal: ACME_ADMIN });
    expect(await otherResolve({ tenant: 'acme', provider: 'anthropic' })).toBeUndefined(); // cached miss
    otherClock.time += 1001;
    expect(await otherResolve({ tenant: 'acme', provider: 'anthropic' })).toEqual({ apiKey: 'sk-ant-acme-000003' });
    expect(clock.time).toBe(T0);
  });

  it('says how to configure the vault when there is none', async () => {
    const identity = createIdentity({ storage: memoryStorage(), env: {}, jwt: false });
    await expect(identity.providerKeys.set('openai', 'sk-x-000000000000', { principal: ACME_ADMIN })).rejects.toThrow(/DUH_VAULT_KEYS/);
  });

  it('refuses to decrypt with the wrong vault, naming the key id', async () => {
    const storage = memoryStorage();
    await make(storage).identity.providerKeys.set('openai', 'sk-acme-000000000004', { principal: ACME_ADMIN });
    const { identity } = make(storage, { vault: createVault({ keys: { current: 'k2', keys: { k2: randomBytes(32).toString('base64') } } }) });
    await expect(identity.credentials()({ tenant: 'acme', provider: 'openai' })).rejects.toThrow(/vault key `k1`, which is not configured \(configured: k2\)/);
  });
});

describe.each(DRIVER_KINDS)('tenant isolation through the identity service on %s', (kind) => {
  it('tenant B sees, changes and authenticates nothing of tenant A', async () => {
    const { driver } = openDriver(kind);
    const { identity } = make(driver);
    const acmeUser = await identity.users.create({ email: 'same@example.com', password: 'acme password', role: 'admin' }, { principal: ACME_ADMIN });
    const globexUser = await identity.users.create({ email: 'same@example.com', password: 'globex password', role: 'viewer' }, { principal: GLOBEX_ADMIN });
    const acmeKey = await identity.apiKeys.create({ userId: acmeUser.id, scopes: ['admin'] }, { principal: ACME_ADMIN });
    await identity.providerKeys.set('openai', 'sk-acme-only-0000000000005', { principal: ACME_ADMIN });
    const asGlobex = { principal: GLOBEX_ADMIN };

    expect((await identity.users.list(asGlobex)).users.map((user) => user.id)).toEqual([globexUser.id]);
    expect(NotFoundError.isInstance(await failure(identity.users.get(acmeUser.id, asGlobex)))).toBe(true);
    expect((await identity.users.get('same@example.com', asGlobex)).id).toBe(globexUser.id);
    expect(NotFoundError.isInstance(await failure(identity.users.setRole(acmeUser.id, 'viewer', asGlobex)))).toBe(true);
    expect(NotFoundError.isInstance(await failure(identity.users.deactivate(acmeUser.id, asGlobex)))).toBe(true);
    expect(NotFoundError.isInstance(await failure(identity.apiKeys.create({ userId: acmeUser.id }, asGlobex)))).toBe(true);
    expect(await identity.apiKeys.list(asGlobex)).toEqual([]);
    expect(NotFoundError.isInstance(await failure(identity.apiKeys.revoke(acmeKey.apiKey.id, asGlobex)))).toBe(true);
    expect(await identity.providerKeys.list(asGlobex)).toEqual([]);
    expect(await identity.providerKeys.delete('openai', asGlobex)).toBe(false);
    expect(await identity.credentials()({ tenant: 'globex', provider: 'openai' })).toBeUndefined();
    expect(await identity.credentials()({ tenant: 'acme', provider: 'openai' })).toEqual({ apiKey: 'sk-acme-only-0000000000005' });

    // Sign-in and keys land in their own tenant.
    await expect(identity.login({ tenant: 'globex', email: 'same@example.com', password: 'acme password' })).rejects.toThrow('Invalid credentials.');
    expect((await identity.login({ tenant: 'globex', email: 'same@example.com', password: 'globex password' })).principal).toMatchObject({ id: globexUser.id, tenant: 'globex', roles: ['viewer'] });
    expect(await identity.authenticate(acmeKey.key)).toMatchObject({ id: acmeUser.id, tenant: 'acme', roles: ['admin'] });

    // Nothing changed in acme, and each tenant's audit log holds only its own calls.
    expect(await identity.users.get(acmeUser.id, { principal: ACME_ADMIN })).toMatchObject({ role: 'admin', active: true });
    expect((await identity.apiKeys.list({ principal: ACME_ADMIN }))[0]?.revokedAt).toBeNull();
    await identity.flush();
    const [acmeLog, globexLog] = [await auditOf(driver, 'acme'), await auditOf(driver, 'globex')];
    expect(acmeLog.map((event) => [event.action, event.outcome])).toEqual([
      ['user:create', 'success'],
      ['key:create', 'success'],
      ['provider-key:write', 'success'],
      ['user:read', 'success'],
      ['key:read', 'success'],
    ]);
    expect(globexLog.filter((event) => event.outcome === 'failure').map((event) => event.action)).toEqual(['user:read', 'user:update', 'user:update', 'key:create', 'key:revoke', 'auth:login']);
    expect(globexLog.every((event) => event.tenant === 'globex') && acmeLog.every((event) => event.tenant === 'acme')).toBe(true);
    expect(await identity.audit.verify({ principal: ACME_ADMIN })).toMatchObject({ ok: true });
    expect(await identity.audit.verify(asGlobex)).toMatchObject({ ok: true });
  });
});

describe.each(DRIVER_KINDS)('no secret anywhere on %s', (kind) => {
  it('keeps passwords, API keys, provider keys, the JWT secret and vault keys out of results, errors, audit entries, logs and the store', async () => {
    const opened = openDriver(kind);
    const logged: unknown[] = [];
    const logger = { info: (...args: unknown[]) => logged.push(args), warn: (...args: unknown[]) => logged.push(args), error: (...args: unknown[]) => logged.push(args) };
    const { identity } = make(opened.driver, { logger });
    const password = `pw-${randomBytes(12).toString('base64url')}`;
    const providerKey = `sk-live-${randomBytes(18).toString('base64url')}`;
    const outputs: unknown[] = [];
    const capture = async <T>(promise: Promise<T>): Promise<T | undefined> => {
      try {
        const value = await promise;
        outputs.push(value);
        return value;
      } catch (error) {
        outputs.push(String(error), JSON.stringify(error), (error as Error).stack, inspect(error));
        return undefined;
      }
    };
    const user = (await capture(identity.users.create({ email: 'g@acme.test', password, role: 'admin' }, { principal: ACME_ADMIN })))!;
    const created = (await capture(identity.apiKeys.create({ userId: user.id, scopes: ['admin'] }, { principal: ACME_ADMIN })))!;
    const secrets = [password, created.key, created.key.split('_').slice(2).join('_'), providerKey, JWT_SECRET, VAULT_KEY];
    await capture(identity.providerKeys.set('openai', providerKey, { principal: ACME_ADMIN }));
    await capture(identity.providerKeys.list({ principal: ACME_ADMIN }));
    const login = await capture(identity.login({ tenant: 'acme', email: 'g@acme.test', password }));
    await capture(identity.login({ tenant: 'acme', email: 'g@acme.test', password: `${password}-wrong` }));
    await capture(identity.authenticate(created.key));
    await capture(identity.authenticate(`${created.key.slice(0, -2)}xx`));
    await capture(identity.authenticate(`${login!.token!.slice(0, -3)}abc`));
    await capture(identity.users.setPassword(user.id, `${password}-new`, { principal: ACME_ADMIN }));
    await capture(identity.users.create({ email: 'h@acme.test', password: 'short' }, { principal: ACME_ADMIN }));
    await capture(identity.apiKeys.list({ principal: ACME_ADMIN }));
    await capture(identity.audit.list({ principal: ACME_ADMIN }));
    await identity.flush();
    secrets.push(login!.token!);
    const serialized = [
      ...outputs.map((output) => (typeof output === 'string' ? output : JSON.stringify(output) + inspect(output, { depth: 10 }))),
      JSON.stringify(await auditOf(opened.driver, 'acme')),
      JSON.stringify(identity),
      inspect(identity, { depth: 10 }),
      JSON.stringify(logged),
      JSON.stringify(await opened.driver.listProviderKeys!({ tenant: 'acme' })),
    ].join('\n');
    // The session token is returned by login on purpose (that is what login is for); everything else must be clean.
    for (const secret of secrets.filter((secret) => secret !== login!.token && secret !== created.key)) expect(serialized, 'a secret leaked').not.toContain(secret);
    expect(serialized.split(login!.token!).length - 1).toBe(2); // only login's own result (JSON + inspect)
    // The plaintext API key appears only where it is handed over: read explicitly, never serialized.
    expect(serialized).not.toContain(created.key);
    // At rest: the store holds hashes and ciphertext, never a plaintext secret.
    const rest =
      kind === 'sqlite'
        ? readdirSync(dirname(opened.path!))
            .filter((name) => name.startsWith(opened.path!.split('/').at(-1)!))
            .map((name) => readFileSync(`${dirname(opened.path!)}/${name}`).toString('latin1'))
            .join('\n')
        : kind === 'postgres'
          ? JSON.stringify(
              await Promise.all(['users', 'api_keys', 'provider_keys', 'audit_events'].map(async (table) => (await postgresPool().query(`SELECT * FROM "${opened.schema}".${table}`)).rows)),
            )
          : '';
    for (const secret of secrets) expect(rest, 'a secret is stored in plaintext').not.toContain(secret);
  });
});

describe('identity objects print nothing secret', () => {
  it('serializes and inspects as a summary', () => {
    const identity: Identity = make(memoryStorage()).identity;
    expect(JSON.parse(JSON.stringify(identity))).toEqual({ storage: 'memory', sessions: true, vault: { current: 'k1', keyIds: ['k1'] } });
    expect(inspect(identity)).toBe("Identity { storage: 'memory', sessions: true }");
  });
});

// API keys: format, hashing, scopes, expiry; and their life through the identity service on every driver.
import { describe, expect, it } from 'vitest';
import { AuthenticationError, InvalidOptionError } from '../../src/errors.js';
import { createIdentity, effectiveRoles, generateApiKey, hashApiKeySecret, parseApiKey, parseExpiry, validateScopes, verifyApiKeySecret } from '../../src/identity/index.js';
import type { Principal } from '../../src/principal.js';
import { DRIVER_KINDS, openDriver } from './_drivers.js';

const ADMIN: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
const T0 = Date.UTC(2026, 0, 1);

const failure = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe('API key format', () => {
  it('is duh_<16 hex id>_<43 base64url secret>, parses back, and stores only the SHA-256 of the secret', () => {
    const { key, id, secretHash } = generateApiKey();
    expect(key).toMatch(/^duh_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(key)!;
    expect(parsed.id).toBe(id);
    expect(secretHash).toBe(hashApiKeySecret(parsed.secret));
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretHash).not.toContain(parsed.secret);
    expect(verifyApiKeySecret(parsed.secret, secretHash)).toBe(true);
    expect(verifyApiKeySecret(`${parsed.secret.slice(0, -1)}${parsed.secret.endsWith('A') ? 'B' : 'A'}`, secretHash)).toBe(false);
    expect(verifyApiKeySecret(parsed.secret, 'not-a-hash')).toBe(false);
    expect(generateApiKey().key).not.toBe(key);
    for (const bad of ['', 'duh_', `sk-${key}`, key.replace('duh_', 'dah_'), `${key}x`, key.slice(0, -1)]) expect(parseApiKey(bad), bad).toBeUndefined();
  });

  it('validates scopes and expiries, naming the option', () => {
    expect(validateScopes(['read', 'ask', 'read'])).toEqual(['read', 'ask']);
    expect(() => validateScopes(['write'])).toThrow(/Unknown API key scope "write"; use read, ask, admin/);
    expect(() => validateScopes([])).toThrow(/at least one scope/);
    expect(parseExpiry('30d', T0)).toBe('2026-01-31T00:00:00.000Z');
    expect(parseExpiry('12h', T0)).toBe('2026-01-01T12:00:00.000Z');
    expect(parseExpiry('2027-01-01', T0)).toBe('2027-01-01T00:00:00.000Z');
    expect(parseExpiry(undefined, T0)).toBeNull();
    expect(parseExpiry('never', T0)).toBeNull();
    for (const bad of ['soon', '30', '-1d', '2025-01-01']) {
      const error = (() => {
        try {
          parseExpiry(bad, T0);
        } catch (caught) {
          return caught;
        }
      })();
      expect(InvalidOptionError.isInstance(error) && (error as InvalidOptionError).option === 'expires', bad).toBe(true);
    }
  });

  it('caps the user\'s role by the key\'s scopes', () => {
    expect(effectiveRoles('admin', ['admin'])).toEqual(['admin']);
    expect(effectiveRoles('admin', ['ask', 'read'])).toEqual(['contributor']);
    expect(effectiveRoles('admin', ['read'])).toEqual(['viewer']);
    expect(effectiveRoles('viewer', ['ask'])).toEqual(['viewer']);
    expect(effectiveRoles('contributor', ['admin'])).toEqual(['contributor']);
    expect(effectiveRoles('auditor', ['admin'])).toEqual(['auditor']);
    expect(effectiveRoles('auditor', ['read'])).toEqual([]);
  });
});

describe.each(DRIVER_KINDS)('API keys through the identity service on %s', (kind) => {
  const setup = async () => {
    const { driver } = openDriver(kind);
    const clock = { time: T0, now: () => clock.time };
    const identity = createIdentity({ storage: driver, clock, passwords: { cost: 1024 }, jwt: false });
    const alice = await identity.users.create({ email: 'Alice@Example.com', role: 'admin' }, { principal: ADMIN });
    return { driver, clock, identity, alice };
  };

  it('create → authenticate → revoke → rejected', async () => {
    const { identity, alice, driver } = await setup();
    const created = await identity.apiKeys.create({ userId: alice.email, name: 'ci', scopes: ['ask', 'read'] }, { principal: ADMIN });
    expect(created.key).toMatch(/^duh_/);
    expect(created.apiKey).toMatchObject({ userId: alice.id, tenant: 'acme', name: 'ci', scopes: ['read', 'ask'], expiresAt: null, revokedAt: null, lastUsedAt: null });
    expect(JSON.stringify(created)).not.toContain(created.key);
    expect((await driver.findApiKey!(created.apiKey.id))?.secretHash).toBe(hashApiKeySecret(parseApiKey(created.key)!.secret));

    const principal = await identity.authenticate(created.key);
    expect(principal).toEqual({ id: alice.id, tenant: 'acme', roles: ['contributor'], via: 'api-key', keyId: created.apiKey.id, scopes: ['read', 'ask'] });
    expect(await identity.authenticate(`Bearer ${created.key}`)).toMatchObject({ id: alice.id });

    const revoked = await identity.apiKeys.revoke(created.apiKey.id, { principal: ADMIN });
    expect(revoked.revokedAt).toBe(new Date(T0).toISOString());
    const error = await failure(identity.authenticate(created.key));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe('Invalid or revoked API key.');
    await identity.flush();
    const log = await driver.listAudit!({ tenant: 'acme' }, { limit: 100 });
    expect(log.at(-1)).toMatchObject({ action: 'auth:api-key', outcome: 'failure', reason: 'the key is revoked', resource: `api-key:${created.apiKey.id}`, actor: alice.id });
  });

  it('refuses an expired key, a wrong secret, an unknown id and a deactivated user, never echoing the key', async () => {
    const { identity, alice, clock } = await setup();
    const expiring = await identity.apiKeys.create({ userId: alice.id, expires: '1h' }, { principal: ADMIN });
    await expect(identity.authenticate(expiring.key)).resolves.toMatchObject({ id: alice.id });
    clock.time += 3_600_000;
    const expired = await failure(identity.authenticate(expiring.key));
    expect((expired as Error).message).toBe('API key expired; create a new one.');

    const good = await identity.apiKeys.create({ userId: alice.id }, { principal: ADMIN });
    const parsed = parseApiKey(good.key)!;
    const wrongSecret = `duh_${parsed.id}_${generateApiKey().key.split('_').slice(2).join('_')}`;
    const unknownId = `duh_${'0'.repeat(16)}_${parsed.secret}`;
    for (const bad of [wrongSecret, unknownId, 'duh_nonsense', 'sk-not-a-duh-key']) {
      const error = await failure(identity.authenticate(bad));
      expect(AuthenticationError.isInstance(error), bad).toBe(true);
      expect(`${(error as Error).message} ${JSON.stringify(error)}`).not.toContain(parsed.secret);
    }
    await identity.users.deactivate(alice.id, { principal: ADMIN });
    await expect(identity.authenticate(good.key)).rejects.toThrow('The user of this API key is deactivated.');
    await identity.users.activate(alice.id, { principal: ADMIN });
    await expect(identity.authenticate(good.key)).resolves.toMatchObject({ id: alice.id });
  });

  it('touches lastUsedAt off the critical path, at most once per interval', async () => {
    const { identity, alice, clock, driver } = await setup();
    const { key, apiKey } = await identity.apiKeys.create({ userId: alice.id }, { principal: ADMIN });
    await identity.authenticate(key);
    await identity.flush();
    expect((await driver.findApiKey!(apiKey.id))?.lastUsedAt).toBe(new Date(T0).toISOString());
    clock.time += 30_000;
    await identity.authenticate(key);
    await identity.flush();
    expect((await driver.findApiKey!(apiKey.id))?.lastUsedAt).toBe(new Date(T0).toISOString()); // throttled
    clock.time += 31_000;
    await identity.authenticate(key);
    await identity.flush();
    expect((await driver.findApiKey!(apiKey.id))?.lastUsedAt).toBe(new Date(T0 + 61_000).toISOString());
    const [listed] = await identity.apiKeys.list({ principal: ADMIN, userId: alice.id });
    expect(listed).toEqual({ ...apiKey, lastUsedAt: new Date(T0 + 61_000).toISOString() });
    expect(Object.keys(listed!)).not.toContain('secretHash');
  });
});

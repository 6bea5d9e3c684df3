// AES-256-GCM provider-key vault: round trip, context binding, rotation, missing or wrong keys.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { createVault, providerKeyContext, VaultError } from '../../src/identity/vault.js';
import { DRIVER_KINDS, openDriver } from './_drivers.js';

const key = () => randomBytes(32).toString('base64');
const K1 = key();
const K2 = key();
const SECRET = 'sk-live-provider-key-0123456789abcdef';
const ACME = providerKeyContext('acme', 'openai');

describe('vault', () => {
  it('round-trips a secret under the current key with a fresh IV each time', () => {
    const vault = createVault({ keys: { current: 'k1', keys: { k1: K1 } } });
    const [one, two] = [vault.encrypt(SECRET, ACME), vault.encrypt(SECRET, ACME)];
    expect(one.keyId).toBe('k1');
    expect(one.ciphertext).not.toBe(two.ciphertext);
    expect(one.iv).not.toBe(two.iv);
    expect(Buffer.from(one.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(one.tag, 'base64')).toHaveLength(16);
    expect(JSON.stringify(one)).not.toContain(SECRET);
    expect(vault.decrypt(one, ACME)).toBe(SECRET);
    expect(vault.decrypt(two, ACME)).toBe(SECRET);
  });

  it('accepts keys as base64, base64url or hex, and the keyring as JSON in DUH_VAULT_KEYS', () => {
    const bytes = randomBytes(32);
    for (const text of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')]) {
      const sealed = createVault({ keys: { current: 'k', keys: { k: text } } }).encrypt(SECRET, ACME);
      expect(createVault({ keys: { current: 'k', keys: { k: bytes.toString('hex') } } }).decrypt(sealed, ACME)).toBe(SECRET);
    }
    const fromEnv = createVault({ env: { DUH_VAULT_KEYS: JSON.stringify({ current: 'k2', keys: { k1: K1, k2: K2 } }) } });
    expect(fromEnv.currentKeyId).toBe('k2');
    expect(fromEnv.keyIds).toEqual(['k1', 'k2']);
  });

  it('binds a ciphertext to its tenant and provider: moved elsewhere it does not decrypt', () => {
    const vault = createVault({ keys: { current: 'k1', keys: { k1: K1 } } });
    const sealed = vault.encrypt(SECRET, ACME);
    for (const context of [providerKeyContext('globex', 'openai'), providerKeyContext('acme', 'anthropic')]) {
      expect(() => vault.decrypt(sealed, context)).toThrow(/does not authenticate/);
    }
    const flipped = { ...sealed, ciphertext: Buffer.from(Buffer.from(sealed.ciphertext, 'base64').map((byte, index) => (index === 0 ? byte ^ 1 : byte))).toString('base64') };
    expect(() => vault.decrypt(flipped, ACME)).toThrow(/does not authenticate/);
  });

  it('names the key id (never key material) when the key is missing or is not the one that encrypted', () => {
    const sealed = createVault({ keys: { current: 'k1', keys: { k1: K1 } } }).encrypt(SECRET, ACME);
    const without = createVault({ keys: { current: 'k2', keys: { k2: K2 } } });
    let error: unknown;
    try {
      without.decrypt(sealed, ACME);
    } catch (caught) {
      error = caught;
    }
    expect(VaultError.isInstance(error)).toBe(true);
    expect((error as VaultError).keyId).toBe('k1');
    expect((error as Error).message).toMatch(/vault key `k1`, which is not configured \(configured: k2\)/);
    const wrong = createVault({ keys: { current: 'k1', keys: { k1: K2 } } });
    expect(() => wrong.decrypt(sealed, ACME)).toThrow(/vault key `k1` does not authenticate/);
    for (const text of [String(error), JSON.stringify(error), inspect(without), JSON.stringify(without)]) {
      for (const material of [K1, K2, SECRET]) expect(text).not.toContain(material);
    }
  });

  it('refuses a missing or malformed keyring with a message naming the key id, not its value', () => {
    expect(() => createVault({ env: {} })).toThrow(/DUH_VAULT_KEYS/);
    expect(() => createVault({ keys: '{not json' })).toThrow(/must be JSON/);
    expect(() => createVault({ keys: { current: 'k3', keys: { k1: K1 } } })).toThrow(/`current` must name one of its keys \(k1\)/);
    const short = randomBytes(16).toString('base64');
    let error: unknown;
    try {
      createVault({ keys: { current: 'short', keys: { short } } });
    } catch (caught) {
      error = caught;
    }
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/Vault key `short` must be exactly 32 bytes.*decodes to 16 bytes/);
    expect(JSON.stringify({ message: (error as Error).message, value: (error as InvalidOptionError).value })).not.toContain(short);
  });

  describe.each(DRIVER_KINDS)('rotation on %s', (kind) => {
    it('re-encrypts every stored provider key under the current key; the old key can then be dropped', async () => {
      const { driver } = openDriver(kind);
      const old = createVault({ keys: { current: 'k1', keys: { k1: K1 } } });
      const stored: [string, string, string][] = [
        ['acme', 'openai', 'sk-acme-openai-key-000000000001'],
        ['acme', 'anthropic', 'sk-ant-acme-key-000000000002'],
        ['globex', 'openai', 'sk-globex-openai-key-0000000003'],
      ];
      for (const [tenant, provider, secret] of stored) {
        await driver.putProviderKey!({ tenant }, { provider, ...old.encrypt(secret, providerKeyContext(tenant, provider)), at: new Date(0).toISOString() });
      }
      const both = createVault({ keys: { current: 'k2', keys: { k1: K1, k2: K2 } } });
      expect(await both.rotate(driver)).toEqual({ rotated: 3, current: 0, skipped: 0 });
      expect(await both.rotate(driver)).toEqual({ rotated: 0, current: 3, skipped: 0 });
      expect((await driver.listProviderKeys!('all')).map((info) => info.keyId)).toEqual(['k2', 'k2', 'k2']);
      const onlyNew = createVault({ keys: { current: 'k2', keys: { k2: K2 } } });
      for (const [tenant, provider, secret] of stored) {
        const record = (await driver.getProviderKey!({ tenant }, provider))!;
        expect(onlyNew.decrypt(record, providerKeyContext(tenant, provider))).toBe(secret);
        expect(() => old.decrypt(record, providerKeyContext(tenant, provider))).toThrow(/vault key `k2`, which is not configured/);
      }
      // Each re-encryption is in its tenant's audit log, naming key ids only.
      const acmeLog = await driver.listAudit!({ tenant: 'acme' }, { limit: 10 });
      expect(acmeLog.map((event) => [event.action, event.resource, event.actor, event.details])).toEqual([
        ['provider-key:rotate', 'provider-key:anthropic', null, { from: 'k1', to: 'k2' }],
        ['provider-key:rotate', 'provider-key:openai', null, { from: 'k1', to: 'k2' }],
      ]);
    });

    it('leaves a key that changed while the rotation ran alone (compare-and-set)', async () => {
      const { driver } = openDriver(kind);
      const old = createVault({ keys: { current: 'k1', keys: { k1: K1 } } });
      const context = providerKeyContext('acme', 'openai');
      await driver.putProviderKey!({ tenant: 'acme' }, { provider: 'openai', ...old.encrypt('sk-original-key-0000000000', context), at: new Date(0).toISOString() });
      const both = createVault({ keys: { current: 'k2', keys: { k1: K1, k2: K2 } } });
      // Someone sets a new key right after the rotation read the old one.
      const racing = {
        ...driver,
        getProviderKey: async (scope: { tenant: string }, provider: string) => {
          const read = await driver.getProviderKey!(scope, provider);
          await driver.putProviderKey!(scope, { provider, ...old.encrypt('sk-set-meanwhile-00000000', context), at: new Date(1).toISOString() });
          return read;
        },
      };
      expect(await both.rotate(racing)).toEqual({ rotated: 0, current: 0, skipped: 1 });
      expect(old.decrypt((await driver.getProviderKey!({ tenant: 'acme' }, 'openai'))!, context)).toBe('sk-set-meanwhile-00000000');
    });
  });
});

// scrypt password hashes: self-describing, salted, constant-time verified, upgradable.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { hashPassword, isPasswordHash, needsRehash, PASSWORD_DEFAULTS, verifyPassword } from '../../src/identity/passwords.js';

const FAST = { cost: 1024 };

describe('passwords', () => {
  it('hashes into a self-describing scrypt string with a fresh salt each time, and verifies it', async () => {
    const [one, two] = [await hashPassword('correct horse battery staple', FAST), await hashPassword('correct horse battery staple', FAST)];
    expect(one).toMatch(/^\$scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(one).not.toBe(two);
    expect(await verifyPassword('correct horse battery staple', one)).toBe(true);
    expect(await verifyPassword('correct horse battery staple', two)).toBe(true);
    expect(isPasswordHash(one)).toBe(true);
  });

  it('defaults to OWASP scrypt parameters (N=2^17, r=8, p=1)', async () => {
    expect(PASSWORD_DEFAULTS).toMatchObject({ cost: 131072, blockSize: 8, parallelization: 1 });
    expect(await hashPassword('a default-cost password')).toMatch(/^\$scrypt\$N=131072,r=8,p=1\$/);
  });

  it('rejects a wrong password, an empty one, and Unicode look-alikes only when they differ after NFC', async () => {
    const stored = await hashPassword('pässwörd-123', FAST);
    expect(await verifyPassword('passwörd-123', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
    expect(await verifyPassword('pa\u0308sswo\u0308rd-123', stored)).toBe(true); // decomposed umlauts normalise to the same
  });

  it('treats a tampered or malformed hash as no match (and never throws)', async () => {
    const stored = await hashPassword('hunter2hunter2', FAST);
    const parts = stored.split('$');
    const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
    const tampered = [
      [...parts.slice(0, 4), flip(parts[4]!)].join('$'), // derived key changed
      [...parts.slice(0, 3), flip(parts[3]!), parts[4]].join('$'), // salt changed
      stored.replace('N=1024', 'N=2048'), // parameters changed
      stored.replace('N=1024', 'N=1000'), // not a power of two
      stored.replace('N=1024', `N=${2 ** 30}`), // would eat the machine: refused before deriving
      stored.replace('$scrypt$', '$bcrypt$'),
      stored.slice(0, -5),
      '',
      'plain text',
    ];
    for (const hash of tampered) expect(await verifyPassword('hunter2hunter2', hash), hash).toBe(false);
    expect(isPasswordHash('$scrypt$N=1000,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA')).toBe(false);
  });

  it('says when a stored hash is weaker than the current settings (so login can upgrade it)', async () => {
    const weak = await hashPassword('upgrade me please', FAST);
    expect(needsRehash(weak, FAST)).toBe(false);
    expect(needsRehash(weak, { cost: 2048 })).toBe(true);
    expect(needsRehash(weak, { ...FAST, blockSize: 16 })).toBe(true);
    expect(needsRehash('garbage', FAST)).toBe(true);
  });

  it('refuses bad input without repeating the password', async () => {
    const error = await hashPassword('', FAST).catch((caught: unknown) => caught);
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    await expect(hashPassword('secret-password', { cost: 1000 })).rejects.toThrow(/power of two/);
    const bad = await hashPassword(42 as unknown as string, FAST).catch((caught: Error) => caught);
    expect(JSON.stringify({ message: (bad as Error).message, value: (bad as InvalidOptionError).value })).not.toContain('42');
  });
});

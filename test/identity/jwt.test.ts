// HS256 session tokens with jose: valid, expired, wrong secret, tampered; errors never carry the token.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, InvalidOptionError } from '../../src/errors.js';
import { createSessions, looksLikeJwt } from '../../src/identity/jwt.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const clockAt = (start: number) => {
  const clock = { time: start, now: () => clock.time };
  return clock;
};

const failure = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe('session tokens (JWT HS256)', () => {
  it('issues a token with sub, tenant, roles, iat, exp and iss, and verifies it', async () => {
    const clock = clockAt(Date.UTC(2026, 0, 1));
    const sessions = createSessions({ secret: SECRET, clock, ttlSeconds: 3600 });
    const { token, expiresAt } = await sessions.issue({ id: 'u1', tenant: 'acme', roles: ['admin'] });
    expect(looksLikeJwt(token)).toBe(true);
    expect(expiresAt).toBe('2026-01-01T01:00:00.000Z');
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = await sessions.verify(token);
    expect(claims).toEqual({ sub: 'u1', tenant: 'acme', roles: ['admin'], iat: Date.UTC(2026, 0, 1) / 1000, exp: Date.UTC(2026, 0, 1) / 1000 + 3600 });
  });

  it('carries a keyed digest of a stamp, never the stamp, and gives it back on verify', async () => {
    const sessions = createSessions({ secret: SECRET });
    const other = createSessions({ secret: `${SECRET}-other` });
    const stamp = '$scrypt$N=1024,r=8,p=1$c2FsdA$aGFzaA';
    const { token } = await sessions.issue({ id: 'u1', tenant: 'acme', stamp });
    const claims = await sessions.verify(token);
    expect(claims.stamp).toBe(sessions.digestStamp!(stamp));
    expect(claims.stamp).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(token.split('.')[1]!, 'base64url').toString()).not.toContain('c2FsdA');
    expect(sessions.digestStamp!(`${stamp}x`)).not.toBe(claims.stamp);
    expect(other.digestStamp!(stamp), 'the digest depends on the secret').not.toBe(claims.stamp);
    expect((await sessions.verify((await sessions.issue({ id: 'u1', tenant: 'acme' })).token)).stamp).toBeUndefined();
    // A forged stamp claim breaks the signature like any other claim.
    const [header, , signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()), stp: sessions.digestStamp!('') })).toString('base64url');
    expect(AuthenticationError.isInstance(await failure(sessions.verify(`${header}.${forged}.${signature}`)))).toBe(true);
  });

  it('rejects an expired token with an AuthenticationError that does not contain the token', async () => {
    const clock = clockAt(Date.UTC(2026, 0, 1));
    const sessions = createSessions({ secret: SECRET, clock, ttlSeconds: 60 });
    const { token } = await sessions.issue({ id: 'u1', tenant: 'acme' });
    clock.time += 59_000;
    await expect(sessions.verify(token)).resolves.toMatchObject({ sub: 'u1' });
    clock.time += 2_000;
    const error = await failure(sessions.verify(token));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe('Session token expired; sign in again.');
    expect(JSON.stringify(error) + String((error as Error).stack)).not.toContain(token);
  });

  it('rejects a token signed with another secret, a tampered payload, another algorithm, another issuer and garbage', async () => {
    const sessions = createSessions({ secret: SECRET });
    const other = createSessions({ secret: 'another-secret-that-is-also-32-bytes-or-more' });
    const { token } = await other.issue({ id: 'u1', tenant: 'acme', roles: ['viewer'] });
    const [header, , signature] = (await sessions.issue({ id: 'u1', tenant: 'acme', roles: ['viewer'] })).token.split('.');
    const escalated = Buffer.from(JSON.stringify({ sub: 'u1', tenant: 'acme', roles: ['admin'], iss: 'duh', iat: 1, exp: 4_102_444_800 })).toString('base64url');
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${escalated}.`;
    const foreignIssuer = await new SignJWT({ tenant: 'acme', roles: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer('someone-else').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const hs512 = await new SignJWT({ tenant: 'acme', roles: [] }).setProtectedHeader({ alg: 'HS512' }).setSubject('u1').setIssuer('duh').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    for (const bad of [token, `${header}.${escalated}.${signature}`, unsigned, foreignIssuer, hs512, 'not.a.jwt', 'x']) {
      const error = await failure(sessions.verify(bad));
      expect(AuthenticationError.isInstance(error), bad).toBe(true);
      expect((error as Error).message).toBe('Invalid session token.');
      expect((error as Error).message).not.toContain(bad);
    }
  });

  it('needs a secret of at least 32 bytes, from the option or DUH_JWT_SECRET, and never echoes it', () => {
    expect(() => createSessions({ env: {} })).toThrow(/DUH_JWT_SECRET/);
    let error: unknown;
    try {
      createSessions({ secret: 'short-secret' });
    } catch (caught) {
      error = caught;
    }
    expect(InvalidOptionError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/12 bytes; it must be at least 32/);
    expect(JSON.stringify({ message: (error as Error).message, value: (error as InvalidOptionError).value })).not.toContain('short-secret');
    expect(() => createSessions({ env: { DUH_JWT_SECRET: SECRET } })).not.toThrow();
    const sessions = createSessions({ secret: SECRET });
    expect(JSON.stringify(sessions)).not.toContain(SECRET);
  });
});

// The identity service and the engine together, on every driver: a principal from an API key runs with its
// tenant's own provider key (decrypted by credentials()), the key never reaches events, records or the audit
// log, and the engine's entries and the identity service's share one verified chain per tenant.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import type { ConsensusEvent } from '../../src/events.js';
import type { CredentialResolver } from '../../src/governance.js';
import { createIdentity } from '../../src/identity/index.js';
import { rbac } from '../../src/policy/rbac.js';
import { trio } from '../helpers.js';
import { DRIVER_KINDS, openDriver } from './_drivers.js';

const ADMIN = { id: 'ops', tenant: 'acme', roles: ['admin'] };

describe.each(DRIVER_KINDS)('identity with Consensus on %s', (kind) => {
  it("authenticates a key, runs with the tenant's own provider key, and audits both sides in one chain", async () => {
    const { driver } = openDriver(kind);
    const identity = createIdentity({ storage: driver, passwords: { cost: 1024 }, jwt: false, vault: { keys: { current: 'k1', keys: { k1: randomBytes(32).toString('base64') } } } });
    const user = await identity.users.create({ email: 'runner@acme.test', role: 'contributor' }, { principal: ADMIN });
    const { key } = await identity.apiKeys.create({ userId: user.id, scopes: ['ask', 'read'] }, { principal: ADMIN });
    const tenantKey = `sk-ant-acme-${randomBytes(12).toString('hex')}`;
    await identity.providerKeys.set('anthropic', tenantKey, { principal: ADMIN });

    const credentials: CredentialResolver = identity.credentials(); // exactly the engine's type
    const { models, proposer } = trio();
    const duh = new Consensus({ models, storage: driver, credentials, policy: rbac(), rounds: 1 });
    const principal = await identity.authenticate(key, { ip: '192.0.2.10' });
    expect(principal).toMatchObject({ id: user.id, tenant: 'acme', roles: ['contributor'] });
    const events: ConsensusEvent[] = [];
    const result = await duh.ask('Shard by tenant or by region?', { principal, origin: { ip: '192.0.2.10' }, onEvent: (event) => events.push(event) });
    await duh.flush();
    await identity.flush();

    expect(proposer.calls.length).toBeGreaterThan(0);
    expect(proposer.calls.every((call) => call.apiKey === tenantKey)).toBe(true);
    const stored = await driver.getThread({ tenant: 'acme' }, result.threadId);
    const log = await driver.listAudit!({ tenant: 'acme' }, { limit: 1000 });
    for (const text of [JSON.stringify(events), JSON.stringify(result), JSON.stringify(stored), JSON.stringify(log)]) {
      expect(text).not.toContain(tenantKey);
      expect(text).not.toContain(key);
    }
    expect(log.map((event) => event.action)).toEqual(expect.arrayContaining(['user:create', 'key:create', 'provider-key:write', 'run:start']));
    expect(log.find((event) => event.action === 'run:start')).toMatchObject({ actor: user.id, ip: '192.0.2.10' });
    expect(await identity.audit.verify({ principal: ADMIN })).toMatchObject({ ok: true, entries: log.length });
    // Another tenant runs on the shared key: it has none of its own.
    const other = await duh.ask('Same question, another tenant', { principal: { id: 'g1', tenant: 'globex', roles: ['contributor'] } });
    expect(other.threadId).not.toBe(result.threadId);
    expect(proposer.calls.at(-1)?.apiKey).toBeUndefined();
  });
});

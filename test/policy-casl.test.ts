// examples/policy-casl.ts: a duh Policy backed by CASL, asked directly and through a Consensus.
import { describe, expect, it, vi } from 'vitest';
import { caslPolicy, defineAbilityFor, demo } from '../examples/policy-casl.js';
import type { PolicyAction, PolicyDecision, PolicyResource } from '../src/policy.js';
import type { Principal } from '../src/principal.js';

const ALLOWED = ['anthropic:claude-opus-4-6', 'openai:gpt-5.2'];
const policy = caslPolicy({ contributorModels: ALLOWED });

const viewer: Principal = { id: 'bob', tenant: 'acme', roles: ['viewer'] };
const contributor: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor'] };
const admin: Principal = { id: 'carol', tenant: 'acme', roles: ['admin'] };

const ask = (principal: Principal, action: PolicyAction, resource: PolicyResource) => policy(principal, action, resource) as PolicyDecision;
const thread = (ownerId: string, tenant = 'acme'): PolicyResource => ({ type: 'thread', tenant, id: '0195f3a2-7c41-7e8b-9d2a', ownerId });
const run = (models: string[], ownerId = 'alice'): PolicyResource => ({ type: 'run', tenant: 'acme', id: '0195f3a2-run', ownerId, models, question: 'Shard by tenant?' });
const model = (ref: string): PolicyResource => ({ type: 'model', tenant: 'acme', id: ref, models: [ref] });
const ALLOW = { allow: true };

describe('examples/policy-casl.ts: viewer', () => {
  it('lists and reads the threads of its own tenant', () => {
    expect(ask(viewer, 'thread:list', { type: 'tenant', tenant: 'acme' })).toEqual(ALLOW);
    expect(ask(viewer, 'thread:read', thread('alice'))).toEqual(ALLOW);
    expect(ask(viewer, 'recall', { type: 'tenant', tenant: 'acme' })).toEqual(ALLOW);
  });

  it('reads nothing of another tenant, and says so', () => {
    expect(ask(viewer, 'thread:read', thread('mallory', 'globex'))).toEqual({ allow: false, reason: 'principal `bob` of tenant `acme` cannot act in tenant `globex`' });
    expect(ask(viewer, 'thread:list', { type: 'tenant', tenant: 'globex' })).toMatchObject({ allow: false });
  });

  it('starts no run and gives no feedback, naming the roles that may', () => {
    expect(ask(viewer, 'run:start', run(ALLOWED, 'bob'))).toEqual({ allow: false, reason: '`run:start` needs the role contributor or admin; `bob` has viewer' });
    expect(ask(viewer, 'thread:feedback', thread('bob'))).toEqual({ allow: false, reason: '`thread:feedback` needs the role contributor or admin; `bob` has viewer' });
    expect(ask(viewer, 'user:create', { type: 'user', tenant: 'acme', id: 'dave', role: 'viewer' })).toEqual({ allow: false, reason: '`user:create` needs the role admin; `bob` has viewer' });
  });
});

describe('examples/policy-casl.ts: contributor', () => {
  it('starts its own runs with allowed models, uses them and reserves budget for them', () => {
    expect(ask(contributor, 'run:start', run(ALLOWED))).toEqual(ALLOW);
    expect(ask(contributor, 'model:use', model('openai:gpt-5.2'))).toEqual(ALLOW);
    expect(ask(contributor, 'budget:reserve', { type: 'budget', tenant: 'acme', ownerId: 'alice', usd: 0.42 })).toEqual(ALLOW);
    expect(ask(contributor, 'thread:read', thread('bob'))).toEqual(ALLOW); // what viewers may, contributors may too
  });

  it('refuses models outside the allowlist, naming them', () => {
    expect(ask(contributor, 'model:use', model('google:gemini-3-pro-preview'))).toEqual({
      allow: false,
      reason: 'contributors may only use the models of the allowlist: `google:gemini-3-pro-preview` is not on it',
    });
    expect(ask(contributor, 'run:start', run([...ALLOWED, 'google:gemini-3-pro-preview', 'mistral:mistral-small-latest']))).toEqual({
      allow: false,
      reason: 'contributors may only use the models of the allowlist: `google:gemini-3-pro-preview`, `mistral:mistral-small-latest` are not on it',
    });
  });

  it('acts on its own runs and threads only', () => {
    expect(ask(contributor, 'thread:feedback', thread('alice'))).toEqual(ALLOW);
    expect(ask(contributor, 'thread:feedback', thread('bob'))).toEqual({
      allow: false,
      reason: "`thread:feedback` is allowed on the principal's own records only; `thread:0195f3a2-7c41-7e8b-9d2a` belongs to `bob`",
    });
    expect(ask(contributor, 'run:start', run(ALLOWED, 'bob'))).toMatchObject({ allow: false, reason: expect.stringContaining('own records only') });
    expect(ask(contributor, 'budget:reserve', { type: 'budget', tenant: 'acme', ownerId: 'bob', usd: 1 })).toMatchObject({ allow: false });
    expect(ask(contributor, 'thread:delete', thread('alice'))).toEqual({ allow: false, reason: '`thread:delete` needs the role admin; `alice` has contributor' });
  });
});

describe('examples/policy-casl.ts: admin', () => {
  it('manages users, API keys, provider keys and the audit log of its tenant', () => {
    expect(ask(admin, 'user:create', { type: 'user', tenant: 'acme', id: 'dave', role: 'contributor' })).toEqual(ALLOW);
    expect(ask(admin, 'key:revoke', { type: 'api-key', tenant: 'acme', id: 'key_1', ownerId: 'bob' })).toEqual(ALLOW);
    expect(ask(admin, 'provider-key:write', { type: 'provider-key', tenant: 'acme', id: 'openai' })).toEqual(ALLOW);
    expect(ask(admin, 'audit:read', { type: 'audit', tenant: 'acme' })).toEqual(ALLOW);
    expect(ask(admin, 'thread:delete', thread('bob'))).toEqual(ALLOW);
  });

  it('may use any model (its rules come after the contributor allowlist), but only in its tenant', () => {
    expect(ask(admin, 'model:use', model('google:gemini-3-pro-preview'))).toEqual(ALLOW);
    expect(ask({ ...admin, roles: ['contributor', 'admin'] }, 'run:start', run(['google:gemini-3-pro-preview'], 'carol'))).toEqual(ALLOW);
    expect(ask(admin, 'user:update', { type: 'user', tenant: 'globex', id: 'erin', role: 'admin' })).toEqual({ allow: false, reason: 'principal `carol` of tenant `acme` cannot act in tenant `globex`' });
    expect(ask(admin, 'backup:read', { type: 'tenant', tenant: 'acme', allTenants: true })).toEqual({ allow: false, reason: 'no role of this policy may act on every tenant at once' });
  });
});

describe('examples/policy-casl.ts: mapping', () => {
  it('denies a principal without roles, and leaves the resource it was given untouched', () => {
    const resource = Object.freeze(thread('alice'));
    expect(ask({ id: 'eve', tenant: 'acme' }, 'thread:read', resource)).toEqual({ allow: false, reason: '`thread:read` needs the role viewer or contributor or admin; `eve` has no role' });
    expect(Object.keys(resource)).toEqual(['type', 'tenant', 'id', 'ownerId']);
  });

  it('builds a CASL ability whose rules carry the conditions', () => {
    const ability = defineAbilityFor(contributor, { contributorModels: ALLOWED });
    expect(ability.can('run:start', 'run')).toBe(true);
    expect(ability.rulesFor('run:start', 'run').map((rule) => ({ inverted: rule.inverted, conditions: rule.conditions }))).toEqual([
      { inverted: true, conditions: { models: { $elemMatch: { $nin: ALLOWED } } } },
      { inverted: false, conditions: { tenant: 'acme', ownerId: 'alice' } },
    ]);
  });

  it('runs as the policy of a Consensus: the contributor asks, the viewer is refused but reads the thread', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const lines = await demo();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^alice \(contributor\) asks: \S.*…$/);
    expect(lines[1]).toMatch(/^bob \(viewer\) asks: refused, Policy denied `run:start` on `run:[^`]+`: `run:start` needs the role contributor or admin; `bob` has viewer/);
    expect(lines[2]).toBe('bob reads alice\'s thread: "Should we shard the orders table by tenant?"');
    expect(lines[3]).toMatch(/^bob gives feedback on it: refused, Policy denied `thread:feedback` on `thread:[^`]+`: `thread:feedback` needs the role contributor or admin; `bob` has viewer/);
  });
});

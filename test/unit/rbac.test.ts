// The default role-based policy: duh's viewer < contributor < admin matrix, tenants, own records, model allowlists.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { PolicyDecision, PolicyResource } from '../../src/policy.js';
import { decide } from '../../src/policy/authorize.js';
import { modelAllowed, rbac } from '../../src/policy/rbac.js';
import type { Principal } from '../../src/principal.js';

const viewer: Principal = { id: 'v1', tenant: 'acme', roles: ['viewer'] };
const contributor: Principal = { id: 'c1', tenant: 'acme', roles: ['contributor'] };
const admin: Principal = { id: 'a1', tenant: 'acme', roles: ['admin'] };
const thread = (ownerId: string | null, tenant = 'acme'): PolicyResource => ({ type: 'thread', tenant, id: 't1', ownerId });
const tenant = (name = 'acme'): PolicyResource => ({ type: 'tenant', tenant: name });

const policy = rbac();
const allowed = (decision: PolicyDecision | boolean | Promise<PolicyDecision | boolean>) => (decision as PolicyDecision).allow;
const reason = (decision: PolicyDecision | boolean | Promise<PolicyDecision | boolean>) => (decision as { reason?: string }).reason ?? '';

describe('rbac() defaults', () => {
  it('lets viewers read but not ask', () => {
    expect(allowed(policy(viewer, 'thread:read', thread('c1')))).toBe(true);
    expect(allowed(policy(viewer, 'thread:list', tenant()))).toBe(true);
    expect(allowed(policy(viewer, 'recall', tenant()))).toBe(true);
    expect(allowed(policy(viewer, 'cost:read', tenant()))).toBe(true);
    const denied = policy(viewer, 'run:start', { type: 'run', tenant: 'acme' });
    expect(allowed(denied)).toBe(false);
    expect(reason(denied)).toBe('`run:start` needs one of the roles contributor, admin; `v1` has viewer');
  });

  it('lets contributors ask, and give feedback on or delete only their own threads', () => {
    expect(allowed(policy(contributor, 'run:start', { type: 'run', tenant: 'acme' }))).toBe(true);
    expect(allowed(policy(contributor, 'model:use', { type: 'model', tenant: 'acme', id: 'openai:gpt-5.2' }))).toBe(true);
    expect(allowed(policy(contributor, 'thread:feedback', thread('c1')))).toBe(true);
    expect(allowed(policy(contributor, 'thread:delete', thread('c1')))).toBe(true);
    const others = policy(contributor, 'thread:delete', thread('someone-else'));
    expect(allowed(others)).toBe(false);
    expect(reason(others)).toContain("own records only");
    // Anonymous threads belong to nobody.
    expect(allowed(policy(contributor, 'thread:feedback', thread(null)))).toBe(false);
    expect(allowed(policy(contributor, 'backup:read', tenant()))).toBe(false);
  });

  it("lets admins manage users, keys, backups, the audit log and other principals' records", () => {
    for (const action of ['user:create', 'user:update', 'key:revoke', 'provider-key:write', 'audit:read', 'backup:restore'] as const) {
      expect(allowed(policy(admin, action, { type: 'tenant', tenant: 'acme' })), action).toBe(true);
    }
    expect(allowed(policy(admin, 'thread:delete', thread('c1')))).toBe(true);
  });

  it('lets users read themselves and manage their own keys', () => {
    expect(allowed(policy(viewer, 'user:read', { type: 'user', tenant: 'acme', id: 'v1' }))).toBe(true);
    expect(allowed(policy(viewer, 'user:read', { type: 'user', tenant: 'acme', id: 'c1' }))).toBe(false);
    expect(allowed(policy(contributor, 'key:create', { type: 'api-key', tenant: 'acme', ownerId: 'c1' }))).toBe(true);
    expect(allowed(policy(contributor, 'key:create', { type: 'api-key', tenant: 'acme', ownerId: 'v1' }))).toBe(false);
  });

  it('keeps every principal inside its tenant, even admins', () => {
    const denied = policy(admin, 'thread:read', thread('x', 'globex'));
    expect(allowed(denied)).toBe(false);
    expect(reason(denied)).toBe('principal `a1` of tenant `acme` cannot act in tenant `globex`');
    expect(allowed(policy(admin, 'backup:read', { type: 'tenant', tenant: 'acme', allTenants: true }))).toBe(false);
  });

  it('allows cross-tenant backups only to the configured roles', () => {
    const operator = rbac({ roles: { operator: { inherits: ['admin'] } }, crossTenantRoles: ['operator'] });
    const ops: Principal = { id: 'o1', tenant: 'acme', roles: ['operator'] };
    expect(allowed(operator(ops, 'backup:read', { type: 'tenant', tenant: 'acme', allTenants: true }))).toBe(true);
    expect(allowed(operator(admin, 'backup:read', { type: 'tenant', tenant: 'acme', allTenants: true }))).toBe(false);
  });

  it('denies principals without a known role, saying so', () => {
    const stranger: Principal = { id: 's1', tenant: 'acme', roles: ['unknown'] };
    expect(reason(policy(stranger, 'thread:read', thread('c1')))).toBe('`thread:read` needs one of the roles viewer, contributor, admin; `s1` has no known role');
    expect(allowed(policy({ id: 'n', tenant: 'acme' }, 'thread:read', thread('c1')))).toBe(false);
  });

  it('checks role grants: defined roles only, granted by someone who holds them', () => {
    expect(allowed(policy(admin, 'user:update', { type: 'user', tenant: 'acme', id: 'c1', role: 'admin' }))).toBe(true);
    expect(reason(policy(admin, 'user:create', { type: 'user', tenant: 'acme', role: 'root' }))).toBe('role `root` is not defined; define it in rbac({ roles })');
    const custom = rbac({ roles: { lead: { inherits: ['contributor'], can: ['user:update'] } } });
    const lead: Principal = { id: 'l1', tenant: 'acme', roles: ['lead'] };
    expect(allowed(custom(lead, 'user:update', { type: 'user', tenant: 'acme', id: 'c1', role: 'viewer' }))).toBe(true);
    expect(reason(custom(lead, 'user:update', { type: 'user', tenant: 'acme', id: 'c1', role: 'admin' }))).toBe('`l1` cannot grant role `admin`, which it does not hold');
  });
});

describe('rbac() model allowlists', () => {
  const limited = rbac({ modelsByRole: { contributor: ['openai:*', 'anthropic:claude-sonnet-4-5'] }, modelsByTenant: { globex: ['google:*'] } });
  const model = (id: string, tenantName = 'acme'): PolicyResource => ({ type: 'model', tenant: tenantName, id, models: [id] });

  it('limits a role to its models', () => {
    expect(allowed(limited(contributor, 'model:use', model('openai:gpt-5.2')))).toBe(true);
    expect(allowed(limited(contributor, 'model:use', model('anthropic:claude-sonnet-4-5')))).toBe(true);
    const denied = limited(contributor, 'model:use', model('anthropic:claude-opus-4-6'));
    expect(allowed(denied)).toBe(false);
    expect(reason(denied)).toBe('the roles contributor may not use model `anthropic:claude-opus-4-6`');
    // Admins are not listed: every model.
    expect(allowed(limited(admin, 'model:use', model('anthropic:claude-opus-4-6')))).toBe(true);
  });

  it('limits a tenant to its models, whatever the role', () => {
    const globexAdmin: Principal = { id: 'g1', tenant: 'globex', roles: ['admin'] };
    expect(allowed(limited(globexAdmin, 'model:use', model('google:gemini-3-pro-preview', 'globex')))).toBe(true);
    expect(reason(limited(globexAdmin, 'model:use', model('openai:gpt-5.2', 'globex')))).toBe('tenant `globex` may not use model `openai:gpt-5.2`');
  });

  it('matches refs, provider wildcards and *', () => {
    expect(modelAllowed('openai:gpt-5.2', ['openai:gpt-5.2'])).toBe(true);
    expect(modelAllowed('openai:gpt-5.2', ['openai:*'])).toBe(true);
    expect(modelAllowed('openai-compatible:llama', ['openai:*'])).toBe(false);
    expect(modelAllowed('x:y', ['*'])).toBe(true);
    expect(modelAllowed('x:y', [])).toBe(false);
  });
});

describe('rbac() configuration errors', () => {
  it('names an unknown action', () => {
    expect(() => rbac({ roles: { odd: { can: ['thread:explode' as never] } } })).toThrow(InvalidOptionError);
    expect(() => rbac({ roles: { odd: { can: ['thread:explode' as never] } } })).toThrow('Role `odd` names an unknown action `thread:explode`');
  });

  it('names an undefined parent and a cycle', () => {
    expect(() => rbac({ roles: { a: { inherits: ['ghost'] } } })).toThrow('Role `a` inherits `ghost`, which is not defined.');
    expect(() => rbac({ roles: { a: { inherits: ['b'] }, b: { inherits: ['a'] } } })).toThrow('Roles inherit in a cycle: a → b → a.');
  });

  it('rejects a bad allowlist', () => {
    expect(() => rbac({ modelsByRole: { viewer: 'openai:*' as never } })).toThrow('`modelsByRole.viewer` must be a list of model refs');
  });
});

describe('decide()', () => {
  const resource = tenant();
  it('allows everything without a policy', async () => {
    expect(await decide(undefined, undefined, 'backup:restore', resource)).toEqual({ allow: true });
  });
  it('accepts booleans and decisions, sync or async', async () => {
    expect(await decide(() => true, viewer, 'recall', resource)).toEqual({ allow: true });
    expect(await decide(async () => false, viewer, 'recall', resource)).toEqual({ allow: false, reason: 'denied by policy' });
    expect(await decide(() => ({ allow: false, reason: 'closed on Sundays' }), viewer, 'recall', resource)).toEqual({ allow: false, reason: 'closed on Sundays' });
  });
  it('denies when the hook throws or answers nonsense', async () => {
    expect(await decide(() => { throw new Error('db down'); }, viewer, 'recall', resource)).toEqual({ allow: false, reason: 'the policy failed: db down' });
    expect(await decide(() => 'yes' as never, viewer, 'recall', resource)).toEqual({ allow: false, reason: 'the policy returned neither a decision nor a boolean' });
  });
  it('passes the anonymous principal when none is given', async () => {
    let seen: Principal | undefined;
    await decide((principal) => ((seen = principal), true), undefined, 'recall', resource);
    expect(seen).toEqual({ id: 'anonymous', tenant: 'default', roles: [] });
  });
});

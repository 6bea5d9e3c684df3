/**
 * `rbac()`: the default policy. duh's roles `viewer < contributor < admin`, tenant isolation, "own records"
 * rules, and model allowlists per role or per tenant, all configurable.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import type { Principal } from '../principal.js';
import { POLICY_ACTIONS, type Policy, type PolicyAction, type PolicyDecision, type PolicyResource } from '../policy.js';

/** What one role may do. Roles inherit everything their parents may do. */
export interface RoleDefinition {
  /** Roles whose grants this role includes. */
  inherits?: readonly string[];
  /** Actions allowed on any record of the principal's tenant. */
  can?: readonly PolicyAction[];
  /** Actions allowed only on the principal's own records (`ownerId` equals the principal's id, or the user itself). */
  canOwn?: readonly PolicyAction[];
}

/** Options of {@link rbac}. */
export interface RbacOptions {
  /**
   * Roles to add, or to replace by name. The defaults are `viewer`, `contributor` and `admin`
   * (see {@link DEFAULT_ROLES}); a role given here with the same name replaces the default one.
   */
  roles?: Readonly<Record<string, RoleDefinition>>;
  /**
   * Models each role may use (`model:use`), as refs (`openai:gpt-5.2`), provider wildcards (`openai:*`) or `*`.
   * A principal may use a model when any of its roles allows it. Roles not listed may use every model.
   */
  modelsByRole?: Readonly<Record<string, readonly string[]>>;
  /** Models each tenant may use, in the same notation. Tenants not listed may use every model. */
  modelsByTenant?: Readonly<Record<string, readonly string[]>>;
  /**
   * Roles that may act on every tenant at once (`allTenants` backups, restores and cost reports). @default [] (nobody: each
   * principal works within its own tenant only)
   */
  crossTenantRoles?: readonly string[];
}

/**
 * duh's documented role matrix: viewers read, contributors also ask and give feedback on their own threads,
 * admins also manage users, keys, provider keys, backups, the audit log and other principals' records in their
 * tenant.
 */
export const DEFAULT_ROLES: Readonly<Record<'viewer' | 'contributor' | 'admin', RoleDefinition>> = Object.freeze({
  viewer: {
    can: ['thread:list', 'thread:read', 'thread:export', 'recall', 'cost:read'],
    canOwn: ['user:read', 'key:read'],
  },
  contributor: {
    inherits: ['viewer'],
    can: ['run:start', 'model:use', 'budget:reserve'],
    canOwn: ['thread:feedback', 'thread:delete', 'key:create', 'key:revoke'],
  },
  admin: {
    inherits: ['contributor'],
    can: [
      'thread:feedback',
      'thread:delete',
      'thread:sweep',
      'backup:read',
      'backup:restore',
      'user:create',
      'user:read',
      'user:update',
      'key:create',
      'key:read',
      'key:revoke',
      'provider-key:write',
      'provider-key:read',
      'provider-key:delete',
      'audit:read',
    ],
  },
});

interface Grants {
  can: Set<PolicyAction>;
  canOwn: Set<PolicyAction>;
  /** This role and every role it inherits, transitively. */
  includes: Set<string>;
}

function checkActions(role: string, field: 'can' | 'canOwn', actions: readonly PolicyAction[] | undefined): void {
  for (const action of actions ?? []) {
    if (!POLICY_ACTIONS.includes(action)) {
      throw new InvalidOptionError(`roles.${role}.${field}`, action, `Role \`${role}\` names an unknown action \`${String(action)}\`; use one of ${POLICY_ACTIONS.join(', ')}.`);
    }
  }
}

function resolveRoles(definitions: Readonly<Record<string, RoleDefinition>>): Map<string, Grants> {
  const resolved = new Map<string, Grants>();
  const visit = (role: string, path: string[]): Grants => {
    const done = resolved.get(role);
    if (done) return done;
    if (path.includes(role)) throw new InvalidOptionError(`roles.${role}.inherits`, [...path, role], `Roles inherit in a cycle: ${[...path, role].join(' → ')}.`);
    const definition = definitions[role];
    if (!definition) throw new InvalidOptionError(`roles.${path.at(-1)}.inherits`, role, `Role \`${path.at(-1)}\` inherits \`${role}\`, which is not defined.`);
    checkActions(role, 'can', definition.can);
    checkActions(role, 'canOwn', definition.canOwn);
    const grants: Grants = { can: new Set(definition.can), canOwn: new Set(definition.canOwn), includes: new Set([role]) };
    for (const parent of definition.inherits ?? []) {
      const inherited = visit(parent, [...path, role]);
      for (const action of inherited.can) grants.can.add(action);
      for (const action of inherited.canOwn) grants.canOwn.add(action);
      for (const name of inherited.includes) grants.includes.add(name);
    }
    resolved.set(role, grants);
    return grants;
  };
  for (const role of Object.keys(definitions)) visit(role, []);
  return resolved;
}

/** Whether `ref` (`provider:model`) matches an allowlist entry (`provider:model`, `provider:*` or `*`). */
export function modelAllowed(ref: string, allowlist: readonly string[]): boolean {
  return allowlist.some((entry) => entry === '*' || entry === ref || (entry.endsWith(':*') && ref.startsWith(entry.slice(0, -1))));
}

function checkAllowlists(option: string, lists: Readonly<Record<string, readonly string[]>> | undefined): void {
  for (const [name, list] of Object.entries(lists ?? {})) {
    if (!Array.isArray(list) || list.some((entry) => typeof entry !== 'string' || !entry)) {
      throw new InvalidOptionError(`${option}.${name}`, list, `\`${option}.${name}\` must be a list of model refs like \`openai:gpt-5.2\`, \`openai:*\` or \`*\`.`);
    }
  }
}

/**
 * The default role-based policy.
 *
 * - A principal acts only within its own tenant (unless one of its roles is in `crossTenantRoles`, for
 *   `allTenants` backups, restores and cost reports).
 * - Each action needs a role that grants it: `can` on any record of the tenant, `canOwn` on the principal's
 *   own records only (threads it created, its keys, its own user).
 * - `model:use` also checks the role and tenant model allowlists.
 * - A role may be granted (`user:create`, `user:update` with `role`) only when it is defined, and only by a
 *   principal whose roles include it (an admin can make admins; a custom role below admin needs an admin).
 *
 * @throws {InvalidOptionError} for an unknown action, an undefined or cyclic `inherits`, or a bad allowlist
 *
 * @example
 * ```ts
 * const duh = new Consensus({
 *   models,
 *   policy: rbac({
 *     roles: { auditor: { inherits: ['viewer'], can: ['audit:read'] } },
 *     modelsByRole: { contributor: ['openai:*', 'anthropic:claude-sonnet-4-5'] },
 *   }),
 * });
 * ```
 */
export function rbac(options: RbacOptions = {}): Policy {
  const definitions: Record<string, RoleDefinition> = { ...DEFAULT_ROLES, ...options.roles };
  const roles = resolveRoles(definitions);
  checkAllowlists('modelsByRole', options.modelsByRole);
  checkAllowlists('modelsByTenant', options.modelsByTenant);
  const crossTenant = new Set(options.crossTenantRoles ?? []);
  // The roles granting each action, for reasons that say what is missing.
  const grantedBy = (action: PolicyAction): string[] =>
    [...roles].filter(([, grants]) => grants.can.has(action) || grants.canOwn.has(action)).map(([name]) => name);

  return (principal: Principal, action: PolicyAction, resource: PolicyResource): PolicyDecision => {
    const held = (principal.roles ?? []).filter((role) => roles.has(role));
    const deny = (reason: string): PolicyDecision => ({ allow: false, reason });
    if (resource.allTenants) {
      if (!held.some((role) => crossTenant.has(role))) return deny(`acting on every tenant needs one of the cross-tenant roles (${[...crossTenant].join(', ') || 'none configured'})`);
    } else if (resource.tenant !== principal.tenant) {
      return deny(`principal \`${principal.id}\` of tenant \`${principal.tenant}\` cannot act in tenant \`${resource.tenant}\``);
    }
    const own = resource.type === 'user' ? resource.id === principal.id : resource.ownerId !== undefined && resource.ownerId === principal.id;
    const allowed = held.some((role) => {
      const grants = roles.get(role)!;
      return grants.can.has(action) || (own && grants.canOwn.has(action));
    });
    if (!allowed) {
      const needed = grantedBy(action);
      const onlyOwn = held.some((role) => roles.get(role)!.canOwn.has(action));
      if (onlyOwn) return deny(`\`${action}\` is allowed on the principal's own records only; \`${resource.id ?? resource.type}\` belongs to someone else`);
      return deny(`\`${action}\` needs one of the roles ${needed.join(', ') || '(none grants it)'}; \`${principal.id}\` has ${held.length ? held.join(', ') : 'no known role'}`);
    }
    if (action === 'model:use') {
      for (const ref of resource.models ?? (resource.id ? [resource.id] : [])) {
        const byTenant = options.modelsByTenant?.[resource.tenant];
        if (byTenant && !modelAllowed(ref, byTenant)) return deny(`tenant \`${resource.tenant}\` may not use model \`${ref}\``);
        // Only the roles that may use models at all count: a read-only role cannot lift an asking role's list.
        const users = held.filter((role) => roles.get(role)!.can.has('model:use') || roles.get(role)!.canOwn.has('model:use'));
        const lists = users.map((role) => options.modelsByRole?.[role]);
        if (lists.every((list) => list !== undefined) && !lists.some((list) => modelAllowed(ref, list!))) {
          return deny(`the roles ${users.join(', ')} may not use model \`${ref}\``);
        }
      }
    }
    if ((action === 'user:create' || action === 'user:update') && resource.role !== undefined) {
      if (!roles.has(resource.role)) return deny(`role \`${resource.role}\` is not defined; define it in rbac({ roles })`);
      if (!held.some((role) => roles.get(role)!.includes.has(resource.role!))) return deny(`\`${principal.id}\` cannot grant role \`${resource.role}\`, which it does not hold`);
    }
    return { allow: true };
  };
}

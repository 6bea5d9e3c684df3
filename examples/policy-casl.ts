// A duh Policy backed by CASL (@casl/ability): abilities per role, with conditions on the resource's tenant,
// owner and models, checked for every (principal, action, resource) duh asks about.
// Needs @casl/ability (v7): npm install @casl/ability. Run: npm run build && npx node examples/policy-casl.ts
import { AbilityBuilder, createMongoAbility, subject, type ForcedSubject, type MongoAbility } from '@casl/ability';
import { Consensus, PolicyDeniedError, type Policy, type PolicyAction, type PolicyDecision, type PolicyResource, type Principal } from 'duh';
import { demoPanel } from 'duh/testing';

/** What CASL checks: duh's actions on duh's resource types (plain objects tagged with `subject()`). */
type Subjects = PolicyResource['type'];
/** A resource tagged with its type, one member per type, so CASL types each rule's conditions. */
type Tagged<T extends Subjects = Subjects> = T extends Subjects ? PolicyResource & ForcedSubject<T> : never;
type AppAbility = MongoAbility<[PolicyAction, Subjects | Tagged]>;

export interface CaslPolicyOptions {
  /** The models contributors may use (`run:start` and `model:use`), as `provider:model` refs. Admins may use any. */
  contributorModels: readonly string[];
}

const ROLES = ['viewer', 'contributor', 'admin'] as const;

/**
 * The abilities of one principal. Each role adds its rules in order of privilege, and CASL lets later rules win,
 * so an admin's rules override a contributor's model restriction.
 * - viewer: lists and reads the threads of its tenant (and recalls, exports, reads costs);
 * - contributor: also starts runs, uses models and reserves budget, on its own runs only, with allowed models
 *   only, and gives feedback on its own threads;
 * - admin: also manages users, API keys, provider keys and the audit log of its tenant, and any thread in it.
 */
export function defineAbilityFor(principal: Principal, options: CaslPolicyOptions): AppAbility {
  const { can, cannot, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  const roles = new Set(principal.roles ?? []);
  const tenant = principal.tenant;
  const own = { tenant, ownerId: principal.id };
  if (roles.has('viewer') || roles.has('contributor') || roles.has('admin')) {
    can(['thread:list', 'recall', 'cost:read'], 'tenant', { tenant });
    can(['thread:read', 'thread:export'], 'thread', { tenant });
  }
  if (roles.has('contributor') || roles.has('admin')) {
    can('run:start', 'run', own);
    can('budget:reserve', 'budget', own);
    can('model:use', 'model', { tenant });
    can('thread:feedback', 'thread', own);
    // Any model outside the allowlist (`$elemMatch` + `$nin` on the resource's `models` array) is refused.
    cannot(['run:start', 'model:use'], ['run', 'model'], { models: { $elemMatch: { $nin: [...options.contributorModels] } } }).because(
      'contributors may only use the models of the allowlist',
    );
  }
  if (roles.has('admin')) {
    can(['run:start', 'model:use'], ['run', 'model'], { tenant }); // any model, later rule: wins over the allowlist
    can(['thread:feedback', 'thread:delete'], 'thread', { tenant });
    can(['user:create', 'user:read', 'user:update'], 'user', { tenant });
    can(['key:create', 'key:read', 'key:revoke'], 'api-key', { tenant });
    can(['provider-key:write', 'provider-key:read', 'provider-key:delete'], 'provider-key', { tenant });
    can('audit:read', 'audit', { tenant });
  }
  return build();
}

/**
 * A duh {@link Policy} backed by CASL: `ability.can(action, subject(resource.type, resource))`, with a reason
 * that says what is missing when it denies.
 */
export function caslPolicy(options: CaslPolicyOptions): Policy {
  // Which roles grant an action on a resource type at all (conditions aside), for the reasons.
  const byRole = ROLES.map((role) => [role, defineAbilityFor({ id: role, tenant: role, roles: [role] }, options)] as const);
  const rolesFor = (action: PolicyAction, type: Subjects) => byRole.filter(([, ability]) => ability.can(action, type)).map(([role]) => role);

  return (principal, action, resource): PolicyDecision => {
    const ability = defineAbilityFor(principal, options);
    // subject() tags the object it is given: tag a copy, never the engine's resource.
    const tagged = subject(resource.type, { ...resource });
    if (ability.can(action, tagged)) return { allow: true };
    const deny = (reason: string): PolicyDecision => ({ allow: false, reason });
    const rule = ability.relevantRuleFor(action, tagged);
    if (rule?.inverted) {
      const outside = (resource.models ?? []).filter((ref) => !options.contributorModels.includes(ref));
      return deny(`${rule.reason ?? 'denied'}: ${outside.map((ref) => `\`${ref}\``).join(', ')} ${outside.length === 1 ? 'is' : 'are'} not on it`);
    }
    if (resource.allTenants) return deny('no role of this policy may act on every tenant at once');
    if (resource.tenant !== principal.tenant) return deny(`principal \`${principal.id}\` of tenant \`${principal.tenant}\` cannot act in tenant \`${resource.tenant}\``);
    if (!ability.can(action, resource.type)) {
      const needed = rolesFor(action, resource.type);
      const held = principal.roles?.length ? principal.roles.join(', ') : 'no role';
      return deny(`\`${action}\` needs the role ${needed.join(' or ') || '(none grants it)'}; \`${principal.id}\` has ${held}`);
    }
    // A rule for the action exists, but its conditions did not match: here only ownership is left.
    return deny(`\`${action}\` is allowed on the principal's own records only; \`${resource.type}:${resource.id ?? resource.tenant}\` belongs to \`${resource.ownerId ?? 'nobody'}\``);
  };
}

/** Two principals of one tenant against a scripted panel: who may do what, and why not. */
export async function demo(): Promise<string[]> {
  const models = demoPanel({ latencyMs: 0, chunkDelayMs: 0 }); // scripted models: offline, nothing billed
  const policy = caslPolicy({ contributorModels: models.map((model) => model.ref) });
  const duh = new Consensus({ models, policy, rounds: 1 });
  const alice: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor'] };
  const bob: Principal = { id: 'bob', tenant: 'acme', roles: ['viewer'] };
  const lines: string[] = [];
  /** Run `step`, noting what it returned or why the policy refused it. */
  const attempt = async <T>(what: string, step: () => Promise<T>, show: (value: T) => string): Promise<T | undefined> => {
    try {
      const value = await step();
      lines.push(`${what}: ${show(value)}`);
      return value;
    } catch (error) {
      if (!PolicyDeniedError.isInstance(error)) throw error;
      lines.push(`${what}: refused, ${error.message}`);
      return undefined;
    }
  };
  const result = await attempt('alice (contributor) asks', () => duh.ask('Should we shard the orders table by tenant?', { principal: alice }), (run) => `${run.decision.slice(0, 48)}…`);
  await attempt('bob (viewer) asks', () => duh.ask('Can I run one too?', { principal: bob }), (run) => run.decision);
  if (result) {
    await attempt("bob reads alice's thread", () => duh.threads.get(result.threadId, { principal: bob }), (thread) => `"${thread.question}"`);
    await attempt('bob gives feedback on it', () => duh.feedback(result.threadId, 'success', { principal: bob }), () => 'done');
  }
  console.log(lines.join('\n'));
  return lines;
}

if (import.meta.main) await demo();

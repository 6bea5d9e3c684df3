/**
 * Asking the policy: one place that turns a hook's answer (or its exception) into a decision or a
 * `PolicyDeniedError`.
 *
 * @module
 */
import { PolicyDeniedError, serializeError } from '../errors.js';
import type { Principal } from '../principal.js';
import { ANONYMOUS, type Policy, type PolicyAction, type PolicyDecision, type PolicyResource } from '../policy.js';

/** The short name of a resource used in messages and audit entries (`thread:0195…`, `model:openai:gpt-5.2`). */
export function resourceName(resource: PolicyResource): string {
  return resource.id === undefined ? `${resource.type}:${resource.tenant}` : `${resource.type}:${resource.id}`;
}

/** Ask `policy`; a hook that throws or returns something else than a decision denies. No policy allows everything. */
export async function decide(policy: Policy | undefined, principal: Principal | undefined, action: PolicyAction, resource: PolicyResource): Promise<PolicyDecision> {
  if (!policy) return { allow: true };
  let answer: unknown;
  try {
    answer = await policy(principal ?? ANONYMOUS, action, resource);
  } catch (error) {
    return { allow: false, reason: `the policy failed: ${serializeError(error).message}` };
  }
  if (answer === true) return { allow: true };
  if (answer === false) return { allow: false, reason: 'denied by policy' };
  if (typeof answer === 'object' && answer !== null && 'allow' in answer) {
    const decision = answer as { allow: unknown; reason?: unknown };
    if (decision.allow === true) return { allow: true };
    if (decision.allow === false) return { allow: false, reason: typeof decision.reason === 'string' && decision.reason ? decision.reason : 'denied by policy' };
  }
  return { allow: false, reason: 'the policy returned neither a decision nor a boolean' };
}

/** Ask `policy` and throw a {@link PolicyDeniedError} (action, resource, reason) when it denies. */
export async function authorize(policy: Policy | undefined, principal: Principal | undefined, action: PolicyAction, resource: PolicyResource): Promise<void> {
  const decision = await decide(policy, principal, action, resource);
  if (!decision.allow) throw new PolicyDeniedError(action, resourceName(resource), decision.reason);
}

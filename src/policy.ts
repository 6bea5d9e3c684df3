/**
 * The policy contract, version 1: one async function asked before anything happens on a principal's behalf.
 *
 * duh asks the policy before a run starts (`run:start`), before each model is used (`model:use`), before money
 * is reserved from a budget (`budget:reserve`), and before any record is read, changed or deleted (`thread:*`,
 * `recall`, `cost:read`, `backup:*`, and the identity actions `user:*`, `key:*`, `provider-key:*`, `audit:*`).
 * A denial stops the operation with a `PolicyDeniedError` (an `error` event in a stream) naming the action and
 * the reason.
 *
 * This file imports nothing of ours except the principal contract: it is a contract.
 *
 * @module
 */
import type { Principal } from './principal.js';

/** Everything duh asks a policy about. */
export type PolicyAction =
  // Runs
  | 'run:start'
  | 'model:use'
  | 'budget:reserve'
  // Stored runs
  | 'thread:list'
  | 'thread:read'
  | 'thread:delete'
  | 'thread:sweep'
  | 'thread:feedback'
  | 'thread:export'
  | 'recall'
  | 'cost:read'
  | 'backup:read'
  | 'backup:restore'
  // Identity and administration
  | 'user:create'
  | 'user:read'
  | 'user:update'
  | 'key:create'
  | 'key:read'
  | 'key:revoke'
  | 'provider-key:write'
  | 'provider-key:read'
  | 'provider-key:delete'
  | 'audit:read';

/** Every {@link PolicyAction}, in the order above. */
export const POLICY_ACTIONS: readonly PolicyAction[] = [
  'run:start',
  'model:use',
  'budget:reserve',
  'thread:list',
  'thread:read',
  'thread:delete',
  'thread:sweep',
  'thread:feedback',
  'thread:export',
  'recall',
  'cost:read',
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
];

/** What an action is about. `tenant` is always set; the other fields when they apply. */
export interface PolicyResource {
  /** `run`, `model`, `budget`, `thread`, `tenant` (listings, recall, cost, backups), `user`, `api-key`, `provider-key`, `audit`. */
  type: 'run' | 'model' | 'budget' | 'thread' | 'tenant' | 'user' | 'api-key' | 'provider-key' | 'audit';
  /** The tenant the resource lives in. */
  tenant: string;
  /** The record's id (thread id, user id, key id, provider name, model ref). */
  id?: string;
  /** The principal id that owns the record (a thread's creator, a key's user), or null when anonymous. */
  ownerId?: string | null;
  /** For `model:use`: the model ref (`provider:model`); for `run:start`: every model of the panel. */
  models?: readonly string[];
  /** For `budget:reserve`: the worst-case amount to reserve, in USD. */
  usd?: number;
  /** For `run:start`: the question (so a policy can screen it). */
  question?: string;
  /** For `user:update`/`user:create`: the role being granted. */
  role?: string;
  /** For `backup:read`/`backup:restore`: true when every tenant is involved. */
  allTenants?: boolean;
}

/** A policy's answer: allow, or deny with a reason shown to the caller. */
export type PolicyDecision = { allow: true } | { allow: false; reason: string };

/**
 * The policy hook. Return (or resolve to) a {@link PolicyDecision}, or simply `true`/`false`. A hook that throws
 * denies, and the error's message becomes the reason.
 */
export type Policy = (principal: Principal, action: PolicyAction, resource: PolicyResource) => PolicyDecision | boolean | Promise<PolicyDecision | boolean>;

/** The principal of calls made without one: anonymous, in the `default` tenant, with no roles. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', tenant: 'default', roles: Object.freeze([]) as readonly string[] });

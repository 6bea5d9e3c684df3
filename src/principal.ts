/**
 * Who a run or a read is for. Every run belongs to a principal; every stored record to its tenant.
 *
 * This file imports nothing of ours: it is a contract. Policies, roles, limits and budgets build on it.
 *
 * @module
 */

/** A user (or service) acting within a tenant. */
export interface Principal {
  /** Stable user id (stored on the threads the principal creates). */
  id: string;
  /** The tenant whose records the principal works with. */
  tenant: string;
  /** Roles, for policies (duh's are `admin`, `contributor`, `viewer`). */
  roles?: readonly string[];
}

/** Where a call came from, for the audit log (a server fills it from the HTTP request). */
export interface RequestOrigin {
  ip?: string;
  userAgent?: string;
}

/** Options of any call made for a principal. Without one, the call is anonymous in the `default` tenant. */
export interface PrincipalOption {
  principal?: Principal;
  /** Where the call came from; written to the audit log. */
  origin?: RequestOrigin;
}

/**
 * The engine's side of the audit log: who did what to which resource, with what outcome, from where. Entries go
 * through the storage driver's `appendAudit` (hash-chained per tenant by the driver). Writing never blocks or
 * fails the operation it records: a failed write is logged, and `flush()` waits for writes in flight.
 *
 * @module
 */
import { PolicyDeniedError, serializeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Policy, PolicyAction, PolicyResource } from '../policy.js';
import { decide, resourceName } from '../policy/authorize.js';
import type { Principal, RequestOrigin } from '../principal.js';
import type { AuditOutcome, StorageDriver, StorageScope } from '../storage.js';
import type { Clock } from '../clock.js';

/** Who an audit entry is about. A run context and a records call both fit. */
export interface AuditSubject {
  scope: StorageScope;
  principal: Principal | undefined;
  origin?: RequestOrigin | undefined;
}

/** Writes audit entries when enabled and the driver stores them. */
export class AuditTrail {
  readonly #storage: StorageDriver;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #pending = new Set<Promise<unknown>>();
  /** Whether entries are written (the option is on and the driver has `appendAudit`). */
  readonly enabled: boolean;

  constructor(storage: StorageDriver, logger: Logger, clock: Clock, enabled: boolean) {
    this.#storage = storage;
    this.#logger = logger;
    this.#clock = clock;
    this.enabled = enabled && typeof storage.appendAudit === 'function';
  }

  /** Append an entry in the background. Reasons pass through the error family's secret redaction. */
  record(subject: AuditSubject, action: string, resource: string, outcome: AuditOutcome, reason?: string, details?: Record<string, string | number | boolean | null>): void {
    if (!this.enabled) return;
    const write = this.#storage
      .appendAudit!(subject.scope, {
        at: new Date(this.#clock.now()).toISOString(),
        actor: subject.principal?.id ?? null,
        action,
        resource,
        outcome,
        reason: reason === undefined ? null : serializeError(new Error(reason)).message,
        ip: subject.origin?.ip ?? null,
        userAgent: subject.origin?.userAgent ?? null,
        ...(details ? { details } : {}),
      })
      .catch((error: unknown) => {
        this.#logger.error({ tenant: subject.scope.tenant, action, err: serializeError(error).message }, 'duh: could not write an audit entry');
      });
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }

  /** Wait for every entry in flight. */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }
}

/** A policy denial: written to the audit trail (when there is one) and returned as the error to throw. */
export function denied(audit: AuditTrail | undefined, subject: AuditSubject, action: PolicyAction, resource: PolicyResource, reason: string): PolicyDeniedError {
  audit?.record(subject, action, resourceName(resource), 'deny', reason);
  return new PolicyDeniedError(action, resourceName(resource), reason);
}

/** Ask the policy; a denial is audited and thrown as `PolicyDeniedError`. No policy allows everything. */
export async function authorizeAudited(policy: Policy | undefined, audit: AuditTrail | undefined, subject: AuditSubject, action: PolicyAction, resource: PolicyResource): Promise<void> {
  if (!policy) return;
  const decision = await decide(policy, subject.principal, action, resource);
  if (!decision.allow) throw denied(audit, subject, action, resource, decision.reason);
}

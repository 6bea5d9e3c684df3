/**
 * Checking a tenant's audit log. Every entry carries the hash of the one before it, so the chain can be
 * re-computed from the stored entries alone: the first entry whose `seq`, `prevHash` or `hash` does not follow
 * from what precedes it is where the log was changed, cut or reordered.
 *
 * What a chain cannot show on its own: entries removed from the **end** (the shorter log is still a valid
 * chain). Keep the latest `hash` somewhere the database's writers cannot reach (a ticket, a log shipper, a
 * signed export) and compare it with {@link AuditVerification}'s `head` to catch that too.
 *
 * @module
 */
import { AUDIT_GENESIS_HASH, auditCanonicalString, requireStorageMethod, type StorageDriver, type StorageScope, type StoredAuditEvent } from '../storage.js';

/** The result of {@link verifyAuditChain}. */
export type AuditVerification =
  | {
      ok: true;
      /** How many entries were checked. */
      entries: number;
      /** The hash of the last entry (64 zeros for an empty log): record it elsewhere to detect a cut tail later. */
      head: string;
    }
  | {
      ok: false;
      /** The `seq` of the first entry that does not check out (the expected `seq` when one is missing). */
      seq: number;
      /** Its id, or null when the entry is missing. */
      id: string | null;
      /** What is wrong with it. */
      reason: string;
    };

/** Options of {@link verifyAuditChain}. */
export interface VerifyAuditOptions {
  /** Entries read per call to `listAudit`. @default 500 */
  pageSize?: number;
}

/** Hex SHA-256 of a text's UTF-8 bytes (WebCrypto, in Node and browsers alike). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The hash an entry should carry, from its other fields (the contract's canonical string). */
export function auditEntryHash(event: StoredAuditEvent): Promise<string> {
  const { hash: _hash, ...unhashed } = event;
  return sha256Hex(auditCanonicalString(unhashed));
}

/**
 * Re-compute a tenant's audit chain and report the first entry that breaks it.
 *
 * @throws {StorageError} when the driver has no `listAudit`, or reading fails
 * @example
 * ```ts
 * const result = await verifyAuditChain(storage, { tenant: 'acme' });
 * if (!result.ok) console.error(`audit log altered at seq ${result.seq}: ${result.reason}`);
 * ```
 */
export async function verifyAuditChain(storage: StorageDriver, scope: StorageScope, options: VerifyAuditOptions = {}): Promise<AuditVerification> {
  const listAudit = requireStorageMethod(storage, 'listAudit', 'audit log verification');
  const pageSize = options.pageSize ?? 500;
  let expectedSeq = 1;
  let previous = AUDIT_GENESIS_HASH;
  for (;;) {
    const page = await listAudit(scope, { afterSeq: expectedSeq - 1, limit: pageSize });
    for (const event of page) {
      if (event.seq !== expectedSeq) {
        return event.seq > expectedSeq
          ? { ok: false, seq: expectedSeq, id: null, reason: `entry ${expectedSeq} is missing (the next stored entry is ${event.seq})` }
          : { ok: false, seq: event.seq, id: event.id, reason: `entry ${event.seq} is out of order (expected ${expectedSeq})` };
      }
      if (event.tenant !== scope.tenant) return { ok: false, seq: event.seq, id: event.id, reason: `entry ${event.seq} names tenant ${JSON.stringify(event.tenant)}` };
      if (event.prevHash !== previous) {
        return { ok: false, seq: event.seq, id: event.id, reason: `entry ${event.seq} does not link to entry ${event.seq - 1} (its prevHash differs from that entry's hash): an entry was changed, removed or inserted` };
      }
      if ((await auditEntryHash(event)) !== event.hash) {
        return { ok: false, seq: event.seq, id: event.id, reason: `entry ${event.seq}'s contents do not match its hash: it was changed after it was written` };
      }
      previous = event.hash;
      expectedSeq++;
    }
    if (page.length < pageSize) return { ok: true, entries: expectedSeq - 1, head: previous };
  }
}

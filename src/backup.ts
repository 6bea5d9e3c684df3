/**
 * Portable backups: JSON lines, a header line then one thread per line (with its turns, feedback, votes and
 * subtasks).
 *
 * @module
 */
import { StorageError } from './errors.js';
import { subtaskPlanProblem, THREAD_STATUSES, TURN_STATES, type StoredThread, type TurnState, voteProblem } from './storage.js';

/** The format name and version in a backup's header line. */
export const BACKUP_FORMAT = 'duh-backup';
export const BACKUP_VERSION = 1;

/** The header line of a backup. */
export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  exportedAt: string;
}

/** Serialise threads as backup lines (each ends with a newline). */
export async function* backupLines(threads: AsyncIterable<StoredThread>, exportedAt: string): AsyncIterable<string> {
  const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, exportedAt };
  yield `${JSON.stringify(header)}\n`;
  for await (const thread of threads) yield `${JSON.stringify({ thread })}\n`;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parse and check a whole backup before anything is written: a corrupt or truncated backup is rejected with
 * the line that is wrong, so a restore is all or nothing.
 */
export function parseBackup(text: string, driver: string): StoredThread[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const fail = (line: number, why: string): never => {
    throw new StorageError(driver, `The backup is not valid at line ${line}: ${why}. Nothing was restored.`);
  };
  if (lines.length === 0) fail(1, 'it is empty');
  let header: unknown;
  try {
    header = JSON.parse(lines[0]!);
  } catch {
    fail(1, 'the header is not JSON');
  }
  if (!isObject(header) || header['format'] !== BACKUP_FORMAT) fail(1, `the header must say "format": "${BACKUP_FORMAT}"`);
  if ((header as Record<string, unknown>)['version'] !== BACKUP_VERSION) fail(1, `unsupported version ${String((header as Record<string, unknown>)['version'])} (this duh reads ${BACKUP_VERSION})`);
  const threads: StoredThread[] = [];
  const seen = new Set<string>();
  for (let index = 1; index < lines.length; index++) {
    let record: unknown;
    try {
      record = JSON.parse(lines[index]!);
    } catch {
      fail(index + 1, 'not JSON (the file may be truncated)');
    }
    const thread = isObject(record) ? record['thread'] : undefined;
    if (!isObject(thread)) fail(index + 1, 'expected {"thread": {...}}');
    const t = thread as Record<string, unknown>;
    for (const field of ['id', 'tenant', 'question', 'protocol', 'createdAt', 'updatedAt'] as const) {
      if (typeof t[field] !== 'string' || t[field] === '') fail(index + 1, `\`thread.${field}\` must be a non-empty string`);
    }
    if (!THREAD_STATUSES.includes(t['status'] as never)) fail(index + 1, '`thread.status` must be active, complete or failed');
    if (!Array.isArray(t['turns'])) fail(index + 1, '`thread.turns` must be an array');
    for (const turn of t['turns'] as unknown[]) {
      if (!isObject(turn) || typeof turn['roundNumber'] !== 'number' || !Array.isArray(turn['contributions'])) fail(index + 1, 'a turn needs roundNumber and contributions');
      const { contributions, decision, state } = turn as { contributions: unknown[]; decision?: unknown; state?: unknown };
      // A round stored phase by phase may have stopped before COMMIT: any turn state, but a decision only at COMMIT.
      if (!TURN_STATES.includes(state as TurnState)) fail(index + 1, `a turn's \`state\` must be one of ${TURN_STATES.join(', ')}`);
      if (decision !== null && decision !== undefined && state !== 'COMMIT') fail(index + 1, `only a COMMIT turn has a decision (round ${String((turn as Record<string, unknown>)['roundNumber'])} is at ${String(state)})`);
      for (const contribution of contributions) {
        if (!isObject(contribution) || typeof contribution['model'] !== 'string' || typeof contribution['role'] !== 'string' || typeof contribution['content'] !== 'string') {
          fail(index + 1, 'a contribution needs model, role and content strings');
        }
        for (const field of ['inputTokens', 'outputTokens', 'costUsd', 'latencyMs'] as const) {
          if (typeof (contribution as Record<string, unknown>)[field] !== 'number') fail(index + 1, `a contribution's \`${field}\` must be a number`);
        }
      }
      if (decision !== null && decision !== undefined && (!isObject(decision) || typeof decision['content'] !== 'string' || typeof decision['confidence'] !== 'number' || typeof decision['rigor'] !== 'number')) {
        fail(index + 1, 'a decision needs content, confidence and rigor');
      }
    }
    // Votes and subtasks are newer than the format: a backup written before them has neither (none, then).
    for (const field of ['votes', 'subtasks'] as const) if (t[field] !== undefined && !Array.isArray(t[field])) fail(index + 1, `\`thread.${field}\` must be an array`);
    for (const vote of (t['votes'] as unknown[] | undefined) ?? []) {
      const problem = voteProblem(vote);
      if (problem) fail(index + 1, problem);
    }
    const planProblem = subtaskPlanProblem([], (t['subtasks'] as unknown[] | undefined) ?? []);
    if (planProblem) fail(index + 1, planProblem);
    const key = `${String(t['tenant'])}/${String(t['id'])}`;
    if (seen.has(key)) fail(index + 1, `thread ${String(t['id'])} appears twice`);
    seen.add(key);
    const stored = thread as unknown as StoredThread;
    threads.push({ ...stored, userId: stored.userId ?? null, error: stored.error ?? null, outcome: stored.outcome ?? null, votes: stored.votes ?? [], subtasks: stored.subtasks ?? [] });
  }
  return threads;
}

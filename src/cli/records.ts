/**
 * The CLI's record commands: `threads`, `show`, `recall`, `feedback`, `cost`, `export`, `backup`, `restore`.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Consensus } from '../consensus.js';
import { InvalidOptionError } from '../errors.js';
import type { Principal } from '../principal.js';
import type { CostGroup, OutcomeResult, ThreadStatus } from '../storage.js';

/** What a record command needs. */
export interface RecordCommand {
  duh: Consensus;
  args: readonly string[];
  values: Readonly<Record<string, string | boolean | undefined>>;
  principal: Principal | undefined;
  write: (text: string) => void;
}

/** A string flag's value (undefined when absent or given as a bare switch). */
export const text = (values: RecordCommand['values'], name: string): string | undefined => {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
};

/** An integer flag's value; anything else is an `InvalidOptionError` naming `--name`. */
export const integer = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new InvalidOptionError(name, value, `--${name} must be an integer, received ${JSON.stringify(value)}.`);
  return parsed;
};

const need = (args: readonly string[], what: string, usage: string): string => {
  const value = args[0];
  if (!value) throw new UsageError(`\`duh ${usage}\` needs ${what}.`);
  return value;
};

/** A command used wrongly (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The shortest prefix (at least 13 characters) that tells each id apart from the others shown. UUIDv7 ids start
 * with the millisecond timestamp (the first 13 characters), so ids made within a minute of each other share
 * their first 8 characters; 13 tells apart any two threads not created in the same millisecond.
 */
export function shortIds(ids: readonly string[]): Map<string, string> {
  const shortest = new Map<string, string>();
  for (const id of ids) {
    let length = 13;
    while (length < id.length && ids.some((other) => other !== id && other.startsWith(id.slice(0, length)))) length++;
    shortest.set(id, id.slice(0, length));
  }
  return shortest;
}

const pad = (value: string, width: number) => (value.length >= width ? value : value + ' '.repeat(width - value.length));
const short = (value: string, width: number) => (value.length > width ? `${value.slice(0, width - 1)}…` : value);

/** Run a record command; returns false when `command` is not one. */
export async function runRecordCommand(command: string, input: RecordCommand): Promise<boolean> {
  const { duh, args, values, principal, write } = input;
  const withPrincipal = principal ? { principal } : {};
  const json = values['json'] === true;
  switch (command) {
    case 'threads': {
      const status = text(values, 'status') as ThreadStatus | undefined;
      const limit = integer('limit', text(values, 'limit'));
      const offset = integer('offset', text(values, 'offset'));
      const page = await duh.threads.list({ ...withPrincipal, ...(status ? { status } : {}), ...(limit !== undefined ? { limit } : {}), ...(offset !== undefined ? { offset } : {}) });
      if (json) write(`${JSON.stringify(page, null, 2)}\n`);
      else {
        const ids = shortIds(page.threads.map((thread) => thread.id));
        const width = Math.max(13, ...[...ids.values()].map((id) => id.length));
        for (const thread of page.threads) write(`${pad(ids.get(thread.id)!, width)}  ${pad(thread.status, 8)}  ${thread.createdAt.slice(0, 16).replace('T', ' ')}  ${short(thread.question, 80)}\n`);
        write(`${page.threads.length} of ${page.total} thread(s)\n`);
      }
      return true;
    }
    case 'show': {
      const id = need(args, 'a thread id or a prefix of at least 8 characters', 'show <id>');
      if (json) write(`${JSON.stringify(await duh.threads.get(id, withPrincipal), null, 2)}\n`);
      else write(`${await duh.export(id, { ...withPrincipal, format: 'markdown' })}\n`);
      return true;
    }
    case 'recall': {
      const query = args.join(' ');
      if (!query.trim()) throw new UsageError('`duh recall <query>` needs a query.');
      const limit = integer('limit', text(values, 'limit'));
      const hits = await duh.recall(query, { ...withPrincipal, ...(limit !== undefined ? { limit } : {}) });
      if (json) write(`${JSON.stringify(hits, null, 2)}\n`);
      else {
        const ids = shortIds(hits.map((hit) => hit.threadId));
        for (const hit of hits) {
          const confidence = hit.confidence === null ? '' : ` (${Math.round(hit.confidence * 100)}%)`;
          write(`${ids.get(hit.threadId)!}  ${short(hit.question, 70)}${confidence}\n${hit.decision ? `          ${short(hit.decision.replace(/\s+/g, ' '), 200)}\n` : ''}`);
        }
        if (hits.length === 0) write(`No thread matches ${JSON.stringify(query)}.\n`);
      }
      return true;
    }
    case 'feedback': {
      const id = need(args, 'a thread id', 'feedback <id> --result success|failure|partial');
      const result = text(values, 'result');
      if (!result) throw new UsageError('`duh feedback` needs --result success|failure|partial.');
      const notes = text(values, 'notes');
      const thread = await duh.feedback(id, result as OutcomeResult, { ...withPrincipal, ...(notes ? { notes } : {}) });
      write(`Recorded ${result} for ${thread.id}.\n`);
      return true;
    }
    case 'cost': {
      const by = (text(values, 'by') ?? 'model') as CostGroup;
      const since = text(values, 'since');
      const until = text(values, 'until');
      const allTenants = values['all-tenants'] === true;
      const rows = await duh.cost({ ...withPrincipal, groupBy: by, ...(since ? { since } : {}), ...(until ? { until } : {}), ...(allTenants ? { allTenants } : {}) });
      if (json) write(`${JSON.stringify(rows, null, 2)}\n`);
      else {
        for (const row of rows) write(`${pad(row.key, 40)}  $${row.costUsd.toFixed(4).padStart(10)}  ${String(row.calls).padStart(6)} calls  ${row.inputTokens} in / ${row.outputTokens} out\n`);
        write(`Total $${rows.reduce((sum, row) => sum + row.costUsd, 0).toFixed(4)}\n`);
      }
      return true;
    }
    case 'export': {
      const id = need(args, 'a thread id', 'export <id>');
      const format = (text(values, 'format') ?? 'markdown') as 'json' | 'markdown';
      const content = text(values, 'content') as 'full' | 'decision' | undefined;
      const output = await duh.export(id, { ...withPrincipal, format, ...(content ? { content } : {}), includeDissent: values['no-dissent'] !== true });
      const path = text(values, 'output');
      if (path) {
        await writeFile(path, output.endsWith('\n') ? output : `${output}\n`);
        write(`Wrote ${path}\n`);
      } else write(output.endsWith('\n') ? output : `${output}\n`);
      return true;
    }
    case 'backup': {
      const path = need(args, 'a file path', 'backup <file>');
      let body = '';
      let threads = -1;
      for await (const line of duh.backup({ ...withPrincipal, allTenants: values['all-tenants'] === true })) {
        body += line;
        threads++;
      }
      await writeFile(path, body);
      write(`Backed up ${threads} thread(s) to ${path}\n`);
      return true;
    }
    case 'restore': {
      const path = need(args, 'a backup file path', 'restore <file> [--replace]');
      // Merging is the safe default; replacing deletes the backed-up tenants' current threads first.
      const replace = values['replace'] === true;
      const restored = await duh.restore(await readFile(path, 'utf8'), { mode: replace ? 'replace' : 'merge' });
      write(`Restored ${restored.threads} thread(s) from ${path}${replace ? ' (replaced)' : ' (merged)'}\n`);
      return true;
    }
    default:
      return false;
  }
}

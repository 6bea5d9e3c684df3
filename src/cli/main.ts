#!/usr/bin/env node
/**
 * The `duh` command line: `duh ask "question"`.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { ModelRef } from '../adapter.js';
import { Consensus } from '../consensus.js';
import { AbortedError, DuhError, InvalidOptionError, serializeError } from '../errors.js';
import type { RunOptions } from '../options.js';
import type { DemoPanelOptions } from '../testing/demo-panel.js';
import { DEFAULT_TENANT, type StorageDriver } from '../storage.js';
import type { Principal } from '../principal.js';
import { demoPanel } from '../testing/demo-panel.js';
import { selectModels } from './models.js';
import { runRecordCommand, UsageError } from './records.js';
import { IDENTITY_COMMANDS, runIdentityCommand } from './identity.js';
import { openStorage } from './storage.js';
import { formatResult, ProgressRenderer } from './render.js';

const HELP = `duh: several models answer one question together and commit a decision.

Usage
  duh ask "question" [options]        run a consensus and store it
  duh threads [--status s] [--limit n] [--offset n]
  duh show <id>                        a stored thread (id or a prefix of 8+ characters)
  duh recall <query> [--limit n]       search past questions and decisions
  duh feedback <id> --result success|failure|partial [--notes text]
  duh cost [--by model|provider|user|day|tenant] [--since date] [--until date] [--all-tenants]
  duh export <id> [--format markdown|json] [--content full|decision] [--no-dissent] [-o file]
  duh backup <file> [--all-tenants]    every thread as JSON lines
  duh restore <file> [--replace]       merge into what is stored (default), or replace the tenants' threads
  duh user create <email> [--role r] [--name n] [--password-stdin] | list | set-role <id-or-email> <role>
                                       | deactivate | activate | end-sessions <id-or-email>
  duh key create --user <id-or-email> [--name n] [--scopes ask,read] [--expires 30d] | list | revoke <key-id>
  duh audit verify | list              check the tenant's hash-chained audit log (exit 1 when altered)
  duh provider-key set <provider> < key.txt | list | delete <provider> | rotate
                                       the tenant's own provider keys, encrypted (keyring in DUH_VAULT_KEYS)

Storage and identity (every command)
  --storage <spec>        memory | sqlite:<path> | postgres://… (default DUH_STORAGE, else sqlite:./duh.db)
  --tenant <name>, --user <id>   act as this principal (default DUH_TENANT / DUH_USER, else anonymous)
  --json                  machine-readable output (threads, show, recall, cost, ask)

Options of ask
  --rounds <n>            maximum rounds (default 3)
  --protocol <name>       consensus (voting and auto arrive in a later release)
  --panel <a,b,...>       only use these models (provider:model refs)
  --proposer <ref>        force the proposer
  --challengers <a,b,...> force the challengers
  --challenger-count <n>  how many challengers to select (default 2)
  --cost-limit <usd>      stop before a round that could cost more than this in total
  --json                  print the decision record as JSON (progress goes to stderr)
  --demo                  run offline on scripted models (the default when no provider key is set)
  --no-color              no colours (also when NO_COLOR is set)
  -h, --help              this help
  -v, --version           print the version

Examples
  duh ask "Should we shard by tenant or by region?"
  duh ask "Is Rust a good first language?" --rounds 2 --json
`;

/** What `main` needs from the outside world; injectable for tests. */
export interface CliIo {
  stdout: { write(text: string): void; isTTY?: boolean };
  stderr: { write(text: string): void };
  env: Readonly<Record<string, string | undefined>>;
  /** Settings for the scripted demo models (tests set zero delays). */
  demoPanel?: DemoPanelOptions;
  /** Aborts the run (the real CLI wires SIGINT to it). */
  signal?: AbortSignal;
  /** The whole of standard input (`duh user create --password-stdin`, `duh provider-key set`). */
  readStdin?: () => Promise<string>;
}

function list(option: string, value: string | undefined): ModelRef[] | undefined {
  if (value === undefined) return undefined;
  const refs = value.split(',').map((ref) => ref.trim()).filter(Boolean);
  if (refs.length === 0) throw new InvalidOptionError(option, value, `--${option} needs a comma-separated list of provider:model refs.`);
  return refs as ModelRef[];
}

function numeric(option: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) {
    throw new InvalidOptionError(option, value, `--${option} must be ${integer ? 'an integer' : 'a number'}, received ${JSON.stringify(value)}.`);
  }
  return parsed;
}

/** Run the CLI with `argv` (without the node and script paths); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        rounds: { type: 'string' },
        protocol: { type: 'string' },
        panel: { type: 'string' },
        proposer: { type: 'string' },
        challengers: { type: 'string' },
        'challenger-count': { type: 'string' },
        'cost-limit': { type: 'string' },
        storage: { type: 'string' },
        tenant: { type: 'string' },
        user: { type: 'string' },
        status: { type: 'string' },
        limit: { type: 'string' },
        offset: { type: 'string' },
        result: { type: 'string' },
        notes: { type: 'string' },
        by: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        format: { type: 'string' },
        content: { type: 'string' },
        'no-dissent': { type: 'boolean', default: false },
        output: { type: 'string', short: 'o' },
        'all-tenants': { type: 'boolean', default: false },
        role: { type: 'string' },
        name: { type: 'string' },
        scopes: { type: 'string' },
        expires: { type: 'string' },
        after: { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        replace: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        demo: { type: 'boolean', default: false },
        'no-color': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (error) {
    io.stderr.write(`Error: ${(error as Error).message}\nRun \`duh --help\` for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.stdout.write(`${DUH_VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.stdout.write(HELP);
    return values.help || command === 'help' ? 0 : 2;
  }
  const tenant = values.tenant ?? io.env['DUH_TENANT'];
  const user = values.user ?? io.env['DUH_USER'];
  const principal: Principal | undefined = tenant || user ? { id: user || 'cli', tenant: tenant || DEFAULT_TENANT } : undefined;
  if (IDENTITY_COMMANDS.has(command)) {
    try {
      return await runIdentityCommand(command, rest, values, io);
    } catch (error) {
      io.stderr.write(`Error: ${DuhError.isInstance(error) || error instanceof UsageError ? (error as Error).message : serializeError(error).message}\n`);
      return error instanceof UsageError ? 2 : 1;
    }
  }
  if (command !== 'ask') {
    if (!RECORD_COMMANDS.has(command)) {
      io.stderr.write(`Error: unknown command \`${command}\`. Run \`duh --help\` for the commands.\n`);
      return 2;
    }
    let storage: StorageDriver | undefined;
    try {
      storage = await openStorage(values.storage, io.env);
      const duh = new Consensus({ models: demoPanel(), storage });
      await runRecordCommand(command, { duh, args: rest, values, principal, write: (text) => io.stdout.write(text) });
      return 0;
    } catch (error) {
      if (error instanceof UsageError) {
        io.stderr.write(`Error: ${error.message}\n`);
        return 2;
      }
      io.stderr.write(`Error: ${DuhError.isInstance(error) ? error.message : serializeError(error).message}\n`);
      return 1;
    } finally {
      await storage?.close?.();
    }
  }
  const question = rest.join(' ');
  if (!question.trim()) {
    io.stderr.write('Error: `duh ask` needs a question, e.g. duh ask "Should we shard by tenant or by region?"\n');
    return 2;
  }
  const live = io.stdout.isTTY === true && !values.json;
  const color = live && !values['no-color'] && (io.env['NO_COLOR'] ?? '') === '';
  const progressOut = values.json ? io.stderr : io.stdout;
  let renderer: ProgressRenderer | undefined;
  let storage: StorageDriver | undefined;
  try {
    const selection = selectModels(io.env, { demo: values.demo, ...(io.demoPanel ? { demoPanel: io.demoPanel } : {}) });
    storage = await openStorage(values.storage, io.env);
    const duh = new Consensus({ models: selection.models, storage });
    const options: RunOptions = {};
    if (principal) options.principal = principal;
    const rounds = numeric('rounds', values.rounds, true);
    if (rounds !== undefined) options.rounds = rounds;
    if (values.protocol !== undefined) options.protocol = values.protocol as RunOptions['protocol'] & string;
    const panel = list('panel', values.panel);
    if (panel) options.panel = panel;
    if (values.proposer !== undefined) options.proposer = values.proposer as ModelRef;
    const challengers = list('challengers', values.challengers);
    if (challengers) options.challengers = challengers;
    const challengerCount = numeric('challenger-count', values['challenger-count'], true);
    if (challengerCount !== undefined) options.challengerCount = challengerCount;
    const costLimit = numeric('cost-limit', values['cost-limit'], false);
    if (costLimit !== undefined) options.costLimitUsd = costLimit;
    if (io.signal) options.signal = io.signal;

    const stream = duh.stream(question, options);
    progressOut.write(`${selection.notice}\n`);
    renderer = new ProgressRenderer(progressOut, { live, color });
    for await (const event of stream) renderer.handle(event);
    renderer.stop();
    const result = await stream.result;
    if (values.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else io.stdout.write(formatResult(result, { color, demo: selection.demo }));
    return 0;
  } catch (error) {
    renderer?.stop();
    if (AbortedError.isInstance(error)) {
      io.stderr.write('Aborted.\n');
      return 130;
    }
    const message = DuhError.isInstance(error) ? error.message : serializeError(error).message;
    io.stderr.write(`Error: ${message}\n`);
    return 1;
  } finally {
    await storage?.close?.();
  }
}

const RECORD_COMMANDS = new Set(['threads', 'show', 'recall', 'feedback', 'cost', 'export', 'backup', 'restore']);

declare const __DUH_VERSION__: string | undefined;
/** Filled in at build time; `dev` when run from source. */
const DUH_VERSION: string = typeof __DUH_VERSION__ === 'string' ? __DUH_VERSION__ : 'dev';

const invokedDirectly = (() => {
  try {
    const entry = process.argv[1];
    return entry !== undefined && /(?:^|[\\/])(?:cli\.(?:mjs|cjs|js|ts)|duh)$/.test(entry);
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('SIGINT')));
  const readStdin = async () => {
    let input = '';
    process.stdin.setEncoding('utf8'); // whole characters, even when a chunk ends inside one
    for await (const chunk of process.stdin) input += chunk as string;
    return input;
  };
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal, readStdin }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`Error: ${serializeError(error).message}\n`);
      process.exitCode = 1;
    },
  );
}

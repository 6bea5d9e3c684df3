// Killing a process in the middle of a run leaves no half-written phase and the thread readable (the storage
// issues). A child process (fixtures/kill-mid-run-child.mjs, on the built package in dist/) runs a 5-round
// consensus on slow scripted models against a real SQLite file or Postgres schema, the engine storing each phase
// as it completes, and reports its progress on stdout; the test SIGKILLs it at a chosen point, then opens the
// same storage with a fresh driver and checks that the thread is there, still `active`, and holds exactly the
// phases whose writes resolved (plus, at most, the one in flight): every round before the last committed with
// every contribution and its decision, the last one possibly in progress with exactly the contributions of the
// phases its state says. Listing, recall, cost and export still work, and a new run in the same storage
// completes. One scenario hides appendPhase (and startThread), so the engine writes whole rounds with appendTurn;
// one kills the child before its first write, which (with startThread) leaves nothing stored at all. Every wait is on
// a line the child printed (or on the database's own state), never on a sleep.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { systemClock } from '../../src/clock.js';
import { DEFAULT_TENANT, type StorageDriver, type StoredThread } from '../../src/storage.js';
import { MockAdapter, type MockCallContext } from '../../src/testing/mock-adapter.js';
import { postgresStorage } from '../../storage/postgres.js';
import { sqliteStorage } from '../../storage/sqlite.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/kill-mid-run-child.mjs', import.meta.url));
const BUILT = join(ROOT, 'dist', 'storage', 'sqlite.mjs');
const PG_URL = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
const SCOPE = { tenant: DEFAULT_TENANT };
const TEST_TIMEOUT = 60_000;

// Checked per test (not once in beforeAll), so every test fails with this message rather than being skipped.
beforeEach(() => {
  if (!existsSync(BUILT)) {
    throw new Error(`${BUILT} is missing: the child process runs the built package. Run \`npm run build\` first (\`npm test\` builds before testing).`);
  }
});

// ---- the child process ----

interface ChildMessage {
  event: string;
  threadId?: string;
  round?: number;
  phase?: string;
  role?: string;
  index?: number;
  model?: string;
  text?: string;
  position?: number;
  inTransaction?: boolean;
  message?: string;
  state?: string;
}

interface Waiter {
  what: string;
  predicate: (message: ChildMessage) => boolean;
  resolve: (message: ChildMessage) => void;
  reject: (error: Error) => void;
}

const running = new Set<Child>();

/** One child run, its stdout parsed into messages as they arrive. */
class Child {
  readonly messages: ChildMessage[] = [];
  readonly process: ChildProcess;
  #stderr = '';
  #closed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<Waiter>();

  constructor(config: Record<string, unknown>) {
    this.process = spawn(process.execPath, [CHILD, JSON.stringify(config)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(this);
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      let message: ChildMessage;
      try {
        message = JSON.parse(line) as ChildMessage;
      } catch {
        message = { event: 'unparsed', text: line };
      }
      this.messages.push(message);
      for (const waiter of [...this.#waiters]) {
        if (waiter.predicate(message)) {
          this.#waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    });
    // 'close' comes after stdout ended, so every line has been seen by then.
    this.#done = new Promise((resolve) => {
      this.process.on('close', (code, signal) => {
        this.#closed = { code, signal };
        running.delete(this);
        for (const waiter of this.#waiters) waiter.reject(this.#endedBefore(waiter.what));
        this.#waiters.clear();
        resolve({ code, signal });
      });
    });
  }

  #endedBefore(what: string): Error {
    const tail = this.messages.slice(-8).map((message) => JSON.stringify(message)).join('\n  ');
    return new Error(
      `The child ended (code ${this.#closed?.code}, signal ${this.#closed?.signal}) before ${what}.\n` +
        `Last lines:\n  ${tail || '(none)'}\nstderr:\n${this.#stderr || '(empty)'}`,
    );
  }

  /** The first message (already received or still to come) matching `predicate`. */
  waitFor(what: string, predicate: (message: ChildMessage) => boolean): Promise<ChildMessage> {
    const seen = this.messages.find(predicate);
    if (seen) return Promise.resolve(seen);
    if (this.#closed) return Promise.reject(this.#endedBefore(what));
    return new Promise((resolve, reject) => this.#waiters.add({ what, predicate, resolve, reject }));
  }

  waitForEvent(event: string, round?: number): Promise<ChildMessage> {
    return this.waitFor(`"${event}"${round === undefined ? '' : ` of round ${round}`}`, (message) => message.event === event && (round === undefined || message.round === round));
  }

  /** Tell a child waiting at its gate to go on. */
  release(): void {
    this.process.stdin!.write('go\n');
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    if (!this.#closed) this.process.kill('SIGKILL');
    const { signal, code } = await this.#done;
    expect({ signal, code }, `the child was still running and died of SIGKILL (stderr: ${this.#stderr})`).toEqual({ signal: 'SIGKILL', code: null });
  }

  get threadId(): string {
    const start = this.messages.find((message) => message.event === 'run-start');
    if (!start?.threadId) throw new Error('The child has not reported run-start.');
    return start.threadId;
  }

  /** Rounds whose COMMIT phase (or, with `fallback`, appendTurn) resolved in the child before it died. */
  get committed(): number[] {
    return this.messages.filter((message) => message.event === 'committed').map((message) => message.round!);
  }

  /**
   * How far the stored run must and may be, as {@link progressOf} numbers: `durable` is the last write that
   * resolved (it must be stored), `handedOver` the last one handed to the driver (it may be, if it was in flight).
   */
  get progress(): { durable: number; handedOver: number } {
    const last = (events: string[]) =>
      Math.max(0, ...this.messages.filter((message) => events.includes(message.event)).map((message) => progressOf(message.round!, message.state ?? 'COMMIT')));
    return { durable: last(['phase-written', 'committed']), handedOver: last(['phase-start', 'append-start']) };
  }

  /** What a round must hold, from the child's member-end lines: role, model and full text of each call, in order (the first `count`). */
  expectedContributions(round: number, count = ROLES.length): { role: string; model: string; content: string }[] {
    const ends = this.messages.filter((message) => message.event === 'member-end' && message.round === round);
    const pick = (phase: string, index = 0) => {
      const end = ends.find((message) => message.phase === phase && message.index === index);
      if (!end) throw new Error(`The stored round ${round} has a contribution the child never finished (${phase} #${index}).`);
      return { role: end.role!, model: end.model!, content: end.text! };
    };
    const picks: [string, number][] = [['propose', 0], ['challenge', 0], ['challenge', 1], ['revise', 0], ['commit', 0]];
    return picks.slice(0, count).map(([phase, index]) => pick(phase, index));
  }
}

afterEach(async () => {
  for (const child of [...running]) await child.kill().catch(() => {});
});

// ---- where the runs are stored ----

interface Target {
  /** The child's storage settings. */
  config: Record<string, unknown>;
  /** A fresh driver on the same storage (closed after the test). */
  open(): StorageDriver;
  /** Checks of the storage below the driver (SQLite: integrity and foreign keys). */
  checkStore(): Promise<void>;
}

const opened: StorageDriver[] = [];
afterEach(async () => {
  for (const driver of opened.splice(0)) await driver.close?.();
});
const track = (driver: StorageDriver) => {
  opened.push(driver);
  return driver;
};

// ---- scripted models for the run after the crash (fast, never converging) ----

const phaseOf = ({ prompt, system }: Pick<MockCallContext, 'prompt' | 'system'>) => {
  if (prompt.startsWith('Classify the question')) return 'classify';
  if (system.includes('independent experts challenged')) return 'revise';
  if (system.includes('expert advisor')) return 'propose';
  return 'challenge';
};

function fastPanel() {
  const model = (ref: `${string}:${string}`, inputPricePerMTok: number, outputPricePerMTok: number) => {
    let n = 0;
    return new MockAdapter({
      ref,
      info: { inputPricePerMTok, outputPricePerMTok },
      reply: (_request, context) => {
        const phase = phaseOf(context);
        n++;
        return phase === 'classify' ? '{"intent":"technical","category":"storage","genus":"recovery"}' : `${phase} after the crash ${ref} x${n}a x${n}b x${n}c x${n}d`;
      },
    });
  };
  return [model('anthropic:fast-proposer', 5, 25), model('openai:fast-challenger', 2, 14), model('google:fast-classifier', 0.5, 12)];
}

// ---- the checks after a kill ----

const ROLES = ['proposer', 'challenger', 'challenger', 'reviser', 'classifier'];
const STATES = ['PROPOSE', 'CHALLENGE', 'REVISE', 'COMMIT'];
/** How many contributions a turn holds at each state (the classifier answers in this run). */
const CONTRIBUTIONS_AT: Record<string, number> = { PROPOSE: 1, CHALLENGE: 3, REVISE: 4, COMMIT: 5 };
/** A run's position after a phase: 1 for round 1's PROPOSE, 4 for its COMMIT, 5 for round 2's PROPOSE, … */
function progressOf(round: number, state: string): number {
  expect(STATES, `a turn state`).toContain(state);
  return (round - 1) * STATES.length + STATES.indexOf(state) + 1;
}

/**
 * Open the storage afresh and check the killed run's thread: readable, `active`, holding every write that resolved
 * in the child and at most the one in flight; rounds contiguous from 1, each before the last committed, the last
 * possibly in progress; every stored phase whole. Then listing, recall, cost and export, and a new run in the
 * same storage.
 */
async function verifyAfterKill(target: Target, child: Child, question: string, token: string): Promise<StoredThread> {
  await target.checkStore();
  const driver = track(target.open());
  const threadId = child.threadId;
  const thread = await driver.getThread(SCOPE, threadId);
  expect(thread, `thread ${threadId} after the kill`).not.toBeNull();
  const stored = thread!;
  expect(stored).toMatchObject({ id: threadId, question, protocol: 'consensus', status: 'active', error: null, outcome: null, tenant: DEFAULT_TENANT });

  const rounds = stored.turns.map((turn) => turn.roundNumber);
  expect(rounds, 'round numbers are contiguous from 1').toEqual(rounds.map((_, index) => index + 1));
  const last = stored.turns.at(-1);
  const reached = last ? progressOf(last.roundNumber, last.state) : 0;
  const { durable, handedOver } = child.progress;
  expect(
    [durable, handedOver],
    `stored up to ${last ? `round ${last.roundNumber} at ${last.state}` : 'nothing'}; the child reported written ${JSON.stringify(child.messages.filter((message) => message.event === 'phase-written' || message.event === 'committed').map((message) => [message.round, message.state ?? 'COMMIT']))}`,
  ).toContain(reached);

  for (const turn of stored.turns) {
    if (turn !== last) expect(turn.state, `round ${turn.roundNumber} is before the last, so committed`).toBe('COMMIT');
    const count = CONTRIBUTIONS_AT[turn.state]!;
    const expected = child.expectedContributions(turn.roundNumber, count);
    expect(turn.contributions.map((contribution) => contribution.role), `roles of round ${turn.roundNumber} at ${turn.state}`).toEqual(ROLES.slice(0, count));
    expect(
      turn.contributions.map(({ role, model, content }) => ({ role, model, content })),
      `round ${turn.roundNumber} holds every call of its stored phases in full`,
    ).toEqual(expected);
    for (const contribution of turn.contributions) expect(contribution).toMatchObject({ finishReason: 'stop', truncated: false });
    if (turn.state !== 'COMMIT') {
      expect(turn.decision, `a round in progress (round ${turn.roundNumber} at ${turn.state}) has no decision`).toBeNull();
      continue;
    }
    expect(turn.decision, `decision of round ${turn.roundNumber}`).not.toBeNull();
    expect(turn.decision!.content).toBe(expected[3]!.content);
    expect(turn.decision!.taxonomy).toEqual({ intent: 'technical', category: 'storage', genus: 'durability' });
    expect(Number.isFinite(turn.decision!.confidence) && Number.isFinite(turn.decision!.rigor)).toBe(true);
    for (const challenge of expected.slice(1, 3)) expect(turn.decision!.dissent).toContain(challenge.content);
  }
  // The thread row moved with its last phase (same transaction / statement).
  expect(stored.updatedAt).toBe(last?.completedAt ?? stored.createdAt);
  const committed = stored.turns.filter((turn) => turn.state === 'COMMIT');

  // The public API over the same storage.
  const duh = new Consensus({ models: fastPanel(), storage: driver, rounds: 2 });
  expect(await duh.threads.get(threadId.slice(0, 13))).toEqual(stored);
  const listed = await duh.threads.list();
  expect(listed.total).toBe(1);
  expect(listed.threads[0]).toMatchObject({ id: threadId, status: 'active', question });
  expect((await duh.threads.list({ status: 'active' })).total).toBe(1);
  const hits = await duh.recall(token);
  expect(hits.map((hit) => hit.threadId)).toEqual([threadId]);
  // Recall carries the latest decision: the last committed round's, never one of a round in progress.
  expect(hits[0]!.decision).toBe(committed.at(-1)?.decision?.content ?? null);
  if (committed.length > 0) expect((await duh.recall(`rev${committed.length}w3`)).map((hit) => hit.threadId)).toEqual([threadId]);
  const costs = await duh.cost();
  const contributions = stored.turns.flatMap((turn) => turn.contributions);
  expect(costs.reduce((sum, row) => sum + row.calls, 0)).toBe(contributions.length);
  expect(costs.reduce((sum, row) => sum + row.costUsd, 0)).toBeCloseTo(contributions.reduce((sum, contribution) => sum + contribution.costUsd, 0), 12);
  expect(await duh.export(threadId)).toContain(question);
  expect(JSON.parse(await duh.export(threadId, { format: 'json' }))).toBeTruthy();

  // A new run in the same storage completes, and leaves the killed thread as it was.
  const result = await duh.ask(`After the crash, does a new ${token}x run complete?`);
  expect(result.rounds).toHaveLength(2);
  const fresh = await driver.getThread(SCOPE, result.threadId);
  expect(fresh).toMatchObject({ status: 'complete', error: null });
  expect(fresh!.turns.map((turn) => turn.roundNumber)).toEqual([1, 2]);
  for (const turn of fresh!.turns) expect(turn.contributions.map((contribution) => contribution.role)).toEqual(ROLES);
  expect(await driver.getThread(SCOPE, threadId)).toEqual(stored);
  expect((await duh.threads.list()).total).toBe(2);

  // Two hours later, a sweep marks the abandoned thread failed and keeps its rounds; the finished run is untouched.
  const later = new Consensus({ models: fastPanel(), storage: driver, clock: { ...systemClock, now: () => Date.now() + 7_200_000 } });
  expect(await later.threads.sweep({ olderThanMs: 3_600_000 })).toEqual([threadId]);
  const swept = await driver.getThread(SCOPE, threadId);
  expect(swept).toMatchObject({ status: 'failed', error: expect.stringContaining('Interrupted: the run stopped without closing its thread') });
  expect(swept!.turns).toEqual(stored.turns);
  expect((await driver.getThread(SCOPE, result.threadId))?.status).toBe('complete');
  expect(await later.threads.sweep({ olderThanMs: 3_600_000 })).toEqual([]);
  await target.checkStore();
  return stored;
}

// ---- the kill scenarios, common to both drivers ----

const uniqueToken = () => `kmr${randomUUID().replaceAll('-', '').slice(0, 10)}`;
const questionWith = (token: string) => `Does a killed ${token} run keep its rounds whole?`;

interface Scenario {
  name: string;
  /** Child settings on top of the target's (e.g. `fallback`). */
  config?: Record<string, unknown>;
  /** Run the child until the kill point; may return more checks of what was stored. */
  until(child: Child): Promise<void | ((stored: StoredThread, child: Child) => void)>;
  /** Log what was stored (when more than one outcome is legitimate). */
  report?: boolean;
}

const roundOf = (stored: StoredThread, round: number) => stored.turns.find((turn) => turn.roundNumber === round);
const started = (child: Child, round: number, state: string) => child.messages.some((message) => message.event === 'phase-start' && message.round === round && message.state === state);

const SCENARIOS: Scenario[] = [
  {
    name: 'after round 1 was committed',
    async until(child) {
      await child.waitForEvent('committed', 1);
      return (stored) => expect(roundOf(stored, 1)?.state).toBe('COMMIT');
    },
  },
  {
    name: 'after round 2 was committed',
    async until(child) {
      await child.waitForEvent('committed', 2);
      return (stored) => expect(roundOf(stored, 2)?.state).toBe('COMMIT');
    },
  },
  {
    name: 'at the end of round 2, its COMMIT write handed to the driver (maybe not landed yet)',
    report: true,
    async until(child) {
      await child.waitForEvent('round-end', 2);
      return (stored) => expect(['REVISE', 'COMMIT']).toContain(roundOf(stored, 2)?.state);
    },
  },
  {
    name: 'in the middle of round 2’s challenge phase (a challenger streaming)',
    async until(child) {
      await child.waitForEvent('committed', 1);
      await child.waitFor('a challenger delta of round 2', (message) => message.event === 'member-delta' && message.round === 2 && message.role === 'challenger');
      expect(started(child, 2, 'CHALLENGE')).toBe(false);
      // Round 2's proposal is stored (or its write was in flight); none of its challenges can be.
      return (stored) => expect(stored.turns.length === 1 || roundOf(stored, 2)?.state === 'PROPOSE').toBe(true);
    },
  },
  {
    name: 'right after round 2’s CHALLENGE phase was written',
    async until(child) {
      await child.waitFor('round 2’s CHALLENGE phase written', (message) => message.event === 'phase-written' && message.round === 2 && message.state === 'CHALLENGE');
      return (stored, dead) => {
        // PROPOSE and CHALLENGE of round 2 are there whole: the proposal and both challenges, no decision.
        const turn = roundOf(stored, 2)!;
        expect(turn.state).toEqual(started(dead, 2, 'REVISE') ? expect.stringMatching(/^(CHALLENGE|REVISE)$/) : 'CHALLENGE');
        expect(turn.contributions.slice(0, 3).map(({ role, model, content }) => ({ role, model, content }))).toEqual(dead.expectedContributions(2, 3));
        expect(turn.decision).toBeNull();
        expect(stored.turns.map((each) => each.state)).toEqual(['COMMIT', turn.state]);
      };
    },
  },
  {
    name: 'without appendPhase (one appendTurn per round), after round 1 was committed',
    config: { fallback: true },
    async until(child) {
      await child.waitForEvent('committed', 1);
      return (stored, dead) => {
        expect(dead.messages.some((message) => message.event === 'phase-start')).toBe(false);
        expect(stored.turns.every((turn) => turn.state === 'COMMIT')).toBe(true);
      };
    },
  },
];

/**
 * Kill the child while round 1's proposer streams, before the run's first write (with startThread, the thread is
 * created by round 1's PROPOSE phase): nothing of the run is stored, nothing is left to sweep, and a new run in the
 * same storage completes. The storage is migrated first, as a database in use would be.
 */
async function killBeforeFirstWrite(target: Target): Promise<void> {
  const driver = track(target.open());
  await driver.listThreads(SCOPE, { limit: 1, offset: 0 });
  const token = uniqueToken();
  const child = new Child({ ...target.config, question: questionWith(token) });
  await child.waitFor('a proposer delta of round 1', (message) => message.event === 'member-delta' && message.round === 1 && message.role === 'proposer');
  await child.kill();
  expect(child.messages.some((message) => message.event === 'phase-start' || message.event === 'append-start'), 'no write was handed over').toBe(false);
  await target.checkStore();
  expect(await driver.getThread(SCOPE, child.threadId)).toBeNull();
  const duh = new Consensus({ models: fastPanel(), storage: driver, rounds: 1 });
  expect((await duh.threads.list()).total).toBe(0);
  const later = new Consensus({ models: fastPanel(), storage: driver, clock: { ...systemClock, now: () => Date.now() + 7_200_000 } });
  expect(await later.threads.sweep({ olderThanMs: 3_600_000 })).toEqual([]);
  const result = await duh.ask(`After an early crash, does a new ${token}x run complete?`);
  expect((await driver.getThread(SCOPE, result.threadId))?.status).toBe('complete');
}

async function killScenario(target: Target, scenario: Scenario, extra: Record<string, unknown> = {}): Promise<{ child: Child; stored: StoredThread }> {
  const driverName = String(target.config['driver']);
  const token = uniqueToken();
  const question = questionWith(token);
  const child = new Child({ ...target.config, ...scenario.config, ...extra, question });
  const more = await scenario.until(child);
  await child.kill();
  expect(child.messages.some((message) => message.event === 'run-end' || message.event === 'fatal' || message.event === 'error')).toBe(false);
  const stored = await verifyAfterKill(target, child, question, token);
  if (more) more(stored, child);
  if (scenario.report) {
    const last = stored.turns.at(-1);
    console.info(`[kill-mid-run] ${driverName}, killed ${scenario.name}: committed before the kill ${JSON.stringify(child.committed)}, stored up to round ${last?.roundNumber} at ${last?.state}`);
  }
  return { child, stored };
}

// ---- SQLite ----

describe('SIGKILL in the middle of a run: SQLite file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'duh-kill-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let counter = 0;

  const sqliteTarget = (): Target => {
    const path = join(dir, `run-${++counter}.db`);
    return {
      config: { driver: 'sqlite', path },
      open: () => sqliteStorage({ path }),
      async checkStore() {
        const db = new DatabaseSync(path);
        try {
          expect(db.prepare('PRAGMA integrity_check').all()).toEqual([{ integrity_check: 'ok' }]);
          expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
          // Nothing below the driver either: no contribution without its turn, no turn without contributions.
          expect(db.prepare('SELECT count(*) AS n FROM turns u WHERE NOT EXISTS (SELECT 1 FROM contributions c WHERE c.tenant = u.tenant AND c.thread_id = u.thread_id AND c.round_number = u.round_number)').get()).toEqual({ n: 0 });
        } finally {
          db.close();
        }
      },
    };
  };

  for (const scenario of SCENARIOS) {
    it(`killed ${scenario.name}`, { timeout: TEST_TIMEOUT }, async () => {
      await killScenario(sqliteTarget(), scenario);
    });
  }

  it('killed while round 1’s proposer streams, before the first write: nothing is stored', { timeout: TEST_TIMEOUT }, async () => {
    await killBeforeFirstWrite(sqliteTarget());
  });

  for (const tinyCache of [false, true]) {
    it(
      `killed inside the write transaction of round 2’s CHALLENGE phase, after the turn moved to CHALLENGE and the first challenge was inserted${tinyCache ? ' (tiny page cache: uncommitted pages spilled to the WAL)' : ''}`,
      { timeout: TEST_TIMEOUT },
      async () => {
        const target = sqliteTarget();
        let stalled: ChildMessage | undefined;
        const { child } = await killScenario(
          target,
          {
            name: 'stalled',
            async until(running) {
              await running.waitForEvent('committed', 1);
              stalled = await running.waitForEvent('stalled', 2);
              // None of the CHALLENGE phase survives: round 2 is as its PROPOSE phase left it.
              return (stored) => expect(stored.turns.map((turn) => [turn.roundNumber, turn.state, turn.contributions.length])).toEqual([
                [1, 'COMMIT', 5],
                [2, 'PROPOSE', 1],
              ]);
            },
          },
          { stall: { round: 2, position: 2, tinyCache } },
        );
        expect(stalled).toMatchObject({ round: 2, position: 2, inTransaction: true });
        expect(child.committed).toEqual([1]);
      },
    );
  }
});

// ---- Postgres ----

describe('SIGKILL in the middle of a run: Postgres schema', () => {
  let pool: pg.Pool;
  let unavailable: Error | undefined;
  const schemas = new Set<string>();
  let locker: pg.PoolClient | undefined;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    pool.on('error', () => {});
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      unavailable = new Error(
        `PostgreSQL is not answering at ${PG_URL} (${(error as Error).message}). These tests need a real PostgreSQL at 127.0.0.1:5432 with trust auth and a \`test\` database: ` +
          'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point DUH_TEST_POSTGRES_URL at one.',
      );
    }
  });

  beforeEach(() => {
    if (unavailable) throw unavailable;
  });

  afterEach(async () => {
    if (locker) {
      await locker.query('ROLLBACK').catch(() => {});
      locker.release();
      locker = undefined;
    }
    for (const schema of schemas) {
      // Backends of killed children go away once PostgreSQL notices; end any still there before dropping.
      await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`duh-kill-${schema}`]);
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
    schemas.clear();
  });

  afterAll(async () => {
    await pool?.end();
  });

  const postgresTarget = (): Target & { schema: string; applicationName: string } => {
    const schema = `duh_kill_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    schemas.add(schema);
    const applicationName = `duh-kill-${schema}`;
    return {
      schema,
      applicationName,
      config: { driver: 'postgres', url: PG_URL, schema, applicationName },
      open: () => postgresStorage({ pool, schema }),
      async checkStore() {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM "${schema}".turns u WHERE NOT EXISTS (SELECT 1 FROM "${schema}".contributions c WHERE c.tenant = u.tenant AND c.thread_id = u.thread_id AND c.round_number = u.round_number)`,
        );
        expect(rows).toEqual([{ n: 0 }]);
      },
    };
  };

  /** Poll PostgreSQL's own state until `check` holds (a bounded loop; the test timeout is the real limit). */
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (let attempt = 0; attempt < 2000; attempt++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`PostgreSQL never reached: ${what}`);
  };

  for (const scenario of SCENARIOS) {
    it(`killed ${scenario.name}`, { timeout: TEST_TIMEOUT }, async () => {
      await killScenario(postgresTarget(), scenario);
    });
  }

  it('killed while round 1’s proposer streams, before the first write: nothing is stored', { timeout: TEST_TIMEOUT }, async () => {
    await killBeforeFirstWrite(postgresTarget());
  });

  for (const fallback of [false, true]) {
    const what = fallback ? 'round 2’s appendTurn (without appendPhase)' : 'round 2’s CHALLENGE phase write';
    it(`killed while ${what} waits on a lock inside PostgreSQL (nothing of it visible; after the lock is released it lands whole or not at all)`, { timeout: TEST_TIMEOUT }, async () => {
      const target = postgresTarget();
      const token = uniqueToken();
      const question = questionWith(token);
      const child = new Child({ ...target.config, question, fallback, gate: { round: 2, state: fallback ? 'COMMIT' : 'CHALLENGE' } });
      await child.waitForEvent('committed', 1);
      await child.waitForEvent('gate', 2);
      // Hold the contributions table so the write queues inside the server (a driver writing a phase in several
      // statements would have committed its first ones by now).
      locker = await pool.connect();
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${target.schema}".contributions IN EXCLUSIVE MODE`);
      child.release();
      await until(`the child’s write of ${what} waiting on the lock`, async () => {
        const { rows } = await pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND state = 'active'", [target.applicationName]);
        return rows.length > 0;
      });
      await child.kill();
      expect(child.committed).toEqual([1]);

      // While its statement still waits, nothing of it is visible: round 2 is as its PROPOSE phase left it (or absent, without phases).
      const reader = track(target.open());
      const during = await reader.getThread(SCOPE, child.threadId);
      expect(during?.status).toBe('active');
      expect(during?.turns.map((turn) => [turn.roundNumber, turn.state])).toEqual(fallback ? [[1, 'COMMIT']] : [[1, 'COMMIT'], [2, 'PROPOSE']]);

      // Release the lock: the orphaned statement runs to its end (PostgreSQL notices the dead client only when it
      // answers), so the write may land, but only whole.
      await locker.query('COMMIT');
      locker.release();
      locker = undefined;
      await until('the killed child’s backends gone', async () => {
        const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [target.applicationName]);
        return rows[0].n === 0;
      });
      const stored = await verifyAfterKill(target, child, question, token);
      const last = stored.turns.at(-1)!;
      console.info(`[kill-mid-run] postgres, killed while ${what} waited on a lock: stored up to round ${last.roundNumber} at ${last.state} after the lock was released`);
    });
  }
});

// The engine stores each phase as it completes (storage issue 5): PROPOSE after the proposal, CHALLENGE after the
// challenges, REVISE after the revision, COMMIT (classification and decision) at commit. Each write is handed to
// the driver after the previous one finished, overlaps the next model call, and is awaited before the run ends; a
// failed write fails the run; an abort stores nothing after it; a driver without appendPhase gets one appendTurn
// per round. Readers see a round in progress as a turn without a decision.
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { AbortedError } from '../../src/errors.js';
import { DEFAULT_TENANT, type StorageDriver, type StoredThread, type StoredTurn, type TurnPhase } from '../../src/storage.js';
import type { MockResponder } from '../../src/testing/mock-adapter.js';
import { memoryStorage } from '../../storage/memory.js';
import { sqliteStorage } from '../../storage/sqlite.js';
import { byPhase, roleOf, trio } from '../helpers.js';

const SCOPE = { tenant: DEFAULT_TENANT };
const ROLES = ['proposer', 'challenger', 'challenger', 'reviser', 'classifier'];
const ROLES_AT = { PROPOSE: 1, CHALLENGE: 3, REVISE: 4, COMMIT: 5 } as const;

/** Challenges that never converge (distinct words every round), so a run goes every round it may. */
const diverging = () => {
  let n = 0;
  return byPhase({ challenge: () => `challenge ${++n}: ${Array.from({ length: 6 }, (_, i) => `c${n}w${i}`).join(' ')}`, classify: '{"intent":"technical","category":"databases","genus":"sharding"}' });
};
const panel = () => trio({ challengerA: diverging(), challengerB: diverging() });

type Log = string[];

/**
 * A memory driver whose phase writes take `delayMs` (a timer) and are logged (`write+ PROPOSE 1`, `write- PROPOSE 1`)
 * into `log`, with the number of writes in flight checked on every start. The run's first phase arrives through
 * startThread (which creates the thread with it) and is logged as a phase too; `starts` counts those calls and
 * `creates` lists the threads made with createThread (only runs that fail before their first write use it).
 */
function recordingDriver(log: Log, delayMs = 15) {
  const memory = memoryStorage();
  let inFlight = 0;
  let maxInFlight = 0;
  let starts = 0;
  const creates: string[] = [];
  const phases: TurnPhase[] = [];
  const record = async (phase: TurnPhase, write: () => Promise<void>) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    phases.push(phase);
    log.push(`write+ ${phase.state} ${phase.roundNumber}`);
    try {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await write();
    } finally {
      inFlight--;
      log.push(`write- ${phase.state} ${phase.roundNumber}`);
    }
  };
  const driver: StorageDriver = {
    ...memory,
    // Only for a run that fails before its first write: then the thread is stored as failed.
    createThread: (scope, thread) => (creates.push(thread.id), memory.createThread(scope, thread)),
    startThread: async (scope, thread, first) => {
      starts++;
      const { roundNumber, state, contributions, decision, completedAt: at } = first;
      await record({ roundNumber, state, contributions, decision, at }, () => memory.startThread!(scope, thread, first));
    },
    appendPhase: (scope, threadId, phase) => record(phase, () => memory.appendPhase!(scope, threadId, phase)),
    appendTurn: async () => {
      throw new Error('appendTurn must not be used when the driver has appendPhase');
    },
  };
  return { driver, memory, phases, creates, maxInFlight: () => maxInFlight, starts: () => starts };
}

/** The panel, logging each model call's start (`call propose`, `call challenge`, …) into `log`. */
const loggedPanel = (log: Log) => {
  const wrap =
    (responder: MockResponder): MockResponder =>
    (request, context) => {
      log.push(`call ${roleOf(context)}`);
      return typeof responder === 'function' ? responder(request, context) : responder;
    };
  const proposer = byPhase({ propose: 'Shard by tenant id.', revise: 'Shard by tenant id, with per-tenant pools.', classify: '{"intent":"technical","category":"databases","genus":"sharding"}' });
  return trio({ proposer: wrap(proposer), challengerA: wrap(diverging()), challengerB: wrap(diverging()) }).models;
};

/** A turn without what differs between two runs (timing). */
const shape = (turn: StoredTurn) => ({
  roundNumber: turn.roundNumber,
  state: turn.state,
  decision: turn.decision,
  contributions: turn.contributions.map(({ latencyMs: _latency, ...rest }) => rest),
});

describe('Consensus stores each phase as it completes', () => {
  it('writes PROPOSE, CHALLENGE, REVISE and COMMIT of every round in order, one at a time, each overlapping the next model call', async () => {
    const log: Log = [];
    const { driver, phases, creates, maxInFlight, starts } = recordingDriver(log);
    const duh = new Consensus({ models: loggedPanel(log), storage: driver, rounds: 2 });
    const result = await duh.ask('Shard the orders table by tenant?');
    log.push('run resolved');

    expect({ starts: starts(), creates }, 'round 1\'s PROPOSE phase creates the thread (startThread), once').toEqual({ starts: 1, creates: [] });
    expect(log[0], 'nothing is written before the first model call').toBe('call propose');

    expect(phases.map((phase) => `${phase.state} ${phase.roundNumber}`)).toEqual([
      'PROPOSE 1', 'CHALLENGE 1', 'REVISE 1', 'COMMIT 1',
      'PROPOSE 2', 'CHALLENGE 2', 'REVISE 2', 'COMMIT 2',
    ]);
    expect(maxInFlight(), 'writes of one run never overlap each other').toBe(1);
    // Off the critical path: the model call after each phase starts while that phase's write is still running.
    const next: Record<string, string> = { PROPOSE: 'call challenge', CHALLENGE: 'call revise', REVISE: 'call classify', COMMIT: 'call propose' };
    for (const phase of phases.slice(0, -1)) {
      const started = log.indexOf(`write+ ${phase.state} ${phase.roundNumber}`);
      const ended = log.indexOf(`write- ${phase.state} ${phase.roundNumber}`);
      const call = log.indexOf(next[phase.state]!, started);
      expect(call, `a model call after ${phase.state} ${phase.roundNumber} began before its write ended (${JSON.stringify(log)})`).toBeGreaterThan(started);
      expect(call).toBeLessThan(ended);
    }
    // …and awaited before the run ends.
    expect(log.indexOf('write- COMMIT 2')).toBeLessThan(log.indexOf('run resolved'));

    // Each phase carries exactly its own contributions; only COMMIT carries the decision.
    for (const phase of phases) {
      const roles = phase.contributions.map((contribution) => contribution.role);
      const expected = { PROPOSE: ['proposer'], CHALLENGE: ['challenger', 'challenger'], REVISE: ['reviser'], COMMIT: ['classifier'] }[phase.state];
      expect(roles, `${phase.state} ${phase.roundNumber}`).toEqual(expected);
      expect(phase.decision === null, `${phase.state} ${phase.roundNumber} decision`).toBe(phase.state !== 'COMMIT');
    }
    const record = result.rounds[1]!;
    expect(phases[7]!.decision).toEqual({ content: record.decision, confidence: record.confidence, rigor: record.rigor, dissent: record.dissent, taxonomy: record.taxonomy });

    const stored = await duh.threads.get(result.threadId);
    expect(stored.status).toBe('complete');
    for (const turn of stored.turns) {
      expect(turn.state).toBe('COMMIT');
      expect(turn.contributions.map((contribution) => contribution.role)).toEqual(ROLES);
      const [first, last] = [phases.find((phase) => phase.roundNumber === turn.roundNumber)!, phases.findLast((phase) => phase.roundNumber === turn.roundNumber)!];
      expect({ createdAt: turn.createdAt, completedAt: turn.completedAt }).toEqual({ createdAt: first.at, completedAt: last.at });
    }
  });

  it('stores the same rounds as the appendTurn fallback for a driver without appendPhase, with or without startThread', async () => {
    const phased = memoryStorage();
    const counting = (driver: StorageDriver) => {
      const calls: string[] = [];
      const counted: StorageDriver = {
        ...driver,
        createThread: (scope, thread) => (calls.push('createThread'), driver.createThread(scope, thread)),
        appendTurn: (scope, threadId, turn) => (calls.push(`appendTurn ${turn.roundNumber}`), driver.appendTurn(scope, threadId, turn)),
      };
      if (driver.startThread) counted.startThread = (scope, thread, first) => (calls.push(`startThread ${first.roundNumber} ${first.state}`), driver.startThread!(scope, thread, first));
      return { driver: counted, calls };
    };
    const { appendPhase: _appendPhase, ...withoutPhases } = memoryStorage();
    const { appendPhase: _appendPhase2, startThread: _startThread, ...plain } = memoryStorage();
    const run = async (storage: StorageDriver) => {
      const duh = new Consensus({ models: panel().models, storage, rounds: 3 });
      const { threadId } = await duh.ask('Shard the orders table by tenant?');
      return (await storage.getThread(SCOPE, threadId))!;
    };
    const starting = counting(withoutPhases);
    const oldStyle = counting(plain);
    const [a, b, c] = [await run(phased), await run(starting.driver), await run(oldStyle.driver)];
    expect(starting.calls, 'the first whole round creates the thread').toEqual(['startThread 1 COMMIT', 'appendTurn 2', 'appendTurn 3']);
    expect(oldStyle.calls, 'without startThread the thread is created when the run starts').toEqual(['createThread', 'appendTurn 1', 'appendTurn 2', 'appendTurn 3']);
    expect(a.turns.map(shape)).toEqual(b.turns.map(shape));
    expect(a.turns.map(shape)).toEqual(c.turns.map(shape));
    for (const thread of [b, c]) expect(thread.turns.every((turn) => turn.createdAt === turn.completedAt)).toBe(true);
    expect({ status: b.status, updatedAt: b.updatedAt >= b.turns.at(-1)!.completedAt }).toEqual({ status: 'complete', updatedAt: true });
  });

  it('stores a run that fails before its first write (startThread) as failed, with the error and no turns', async () => {
    const log: Log = [];
    const { driver, memory, starts, creates } = recordingDriver(log, 1);
    const duh = new Consensus({
      models: trio({ proposer: () => Promise.reject(Object.assign(new Error('proposer down'), { status: 400 })), challengerA: diverging(), challengerB: diverging() }).models,
      storage: driver,
      rounds: 2,
      fallbacks: {},
    });
    const error = await duh.ask('Fail before any write?').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(starts()).toBe(0);
    const [summary] = (await duh.threads.list()).threads;
    expect(creates).toEqual([summary!.id]);
    const thread = (await memory.getThread(SCOPE, summary!.id))!;
    expect(thread).toMatchObject({ status: 'failed', turns: [] });
    expect(thread.error).toMatch(/proposer down|proposer/i);
  });

  it('stops storing at an abort: the phases before it are whole, nothing after it is written, the thread is failed', async () => {
    for (const [abortAfter, expected] of [
      ['propose', undefined],
      ['revise', 'CHALLENGE'],
    ] as const) {
      const log: Log = [];
      const { driver, memory, phases } = recordingDriver(log, 1);
      const controller = new AbortController();
      const duh = new Consensus({
        models: panel().models,
        storage: driver,
        rounds: 2,
        onEvent: (event) => {
          if (event.type === 'member-end' && event.round === 1 && event.phase === abortAfter) controller.abort();
        },
      });
      const error = await duh.ask('Abort me?', { signal: controller.signal }).catch((caught: unknown) => caught);
      expect(AbortedError.isInstance(error), String(error)).toBe(true);
      const [summary] = (await duh.threads.list()).threads;
      const thread = (await memory.getThread(SCOPE, summary!.id))!;
      expect(thread.status).toBe('failed');
      if (expected === undefined) {
        expect(phases, 'an abort right after the proposal stores no phase').toEqual([]);
        expect(thread.turns).toEqual([]);
      } else {
        expect(phases.map((phase) => phase.state)).toEqual(['PROPOSE', 'CHALLENGE']);
        expect(thread.turns).toHaveLength(1);
        expect(thread.turns[0]).toMatchObject({ roundNumber: 1, state: expected, decision: null });
        expect(thread.turns[0]!.contributions.map((contribution) => contribution.role)).toEqual(ROLES.slice(0, ROLES_AT[expected]));
      }
    }
  });

  for (const [name, open] of [
    ['memory', () => memoryStorage()],
    ['sqlite', () => sqliteStorage({ path: ':memory:' })],
  ] as const) {
    it(`lets readers see a round in progress (${name}): a turn without a decision; recall, feedback, cost and export use what is stored`, async () => {
      const storage: StorageDriver = open();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let reached!: () => void;
      const reachedRevise = new Promise<void>((resolve) => (reached = resolve));
      let revisions = 0;
      const models = trio({
        challengerA: diverging(),
        challengerB: diverging(),
        proposer: async (_request, context) => {
          const role = roleOf(context);
          if (role === 'revise' && ++revisions === 2) {
            reached();
            await held; // round 2's revision waits: PROPOSE and CHALLENGE of round 2 are stored by then
          }
          return role === 'propose' ? 'Shard by tenant id.' : role === 'revise' ? `Shard by tenant id, revision ${revisions}.` : '{"intent":"technical","category":"databases","genus":"sharding"}';
        },
      }).models;
      const duh = new Consensus({ models, storage, rounds: 2 });
      const running = duh.ask('Shard the orders table, walrus?');
      await reachedRevise;
      // The CHALLENGE write was handed to the driver right before the revise call; let it land.
      const [summary] = (await duh.threads.list()).threads;
      let thread: StoredThread;
      for (;;) {
        thread = await duh.threads.get(summary!.id);
        if (thread.turns[1]?.state === 'CHALLENGE') break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      expect(thread.status).toBe('active');
      expect(thread.turns.map((turn) => [turn.roundNumber, turn.state, turn.decision === null])).toEqual([
        [1, 'COMMIT', false],
        [2, 'CHALLENGE', true],
      ]);
      expect(thread.turns[1]!.contributions.map((contribution) => contribution.role)).toEqual(['proposer', 'challenger', 'challenger']);
      expect(thread.updatedAt).toBe(thread.turns[1]!.completedAt);

      const [hit] = await duh.recall('walrus');
      expect(hit).toMatchObject({ threadId: summary!.id, decision: 'Shard by tenant id, revision 1.' });
      const withFeedback = await duh.feedback(summary!.id, 'success');
      expect(withFeedback.outcome?.roundNumber).toBe(1);
      const calls = (await duh.cost()).reduce((sum, row) => sum + row.calls, 0);
      expect(calls).toBe(5 + 3);
      const json = JSON.parse(await duh.export(summary!.id, { format: 'json' })) as { turns: { state: string; decision: unknown; contributions: unknown[] }[] };
      expect(json.turns.map((turn) => [turn.state, turn.decision === null, turn.contributions.length])).toEqual([
        ['COMMIT', false, 5],
        ['CHALLENGE', true, 3],
      ]);
      const markdown = await duh.export(summary!.id);
      expect(markdown).toContain('### Round 2');
      expect(markdown).toContain('Shard by tenant id, revision 1.');
      // A backup holds the round in progress, and restores it as it was.
      const backup: string[] = [];
      for await (const line of duh.backup()) backup.push(line);
      const copy = memoryStorage();
      await new Consensus({ models, storage: copy }).restore(backup.join(''));
      expect(await copy.getThread(SCOPE, summary!.id)).toEqual(await storage.getThread(SCOPE, summary!.id));

      release();
      const result = await running;
      const done = await duh.threads.get(result.threadId);
      expect(done.status).toBe('complete');
      expect(done.turns.map((turn) => turn.state)).toEqual(['COMMIT', 'COMMIT']);
      expect(done.turns[1]!.contributions.map((contribution) => contribution.role)).toEqual(ROLES);
      await storage.close?.();
    });
  }
});

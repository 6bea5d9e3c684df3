import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { ConsensusStateMachine, type ConsensusState, type MachineFacts } from '../../src/protocol/state-machine.js';

const STATES: readonly ConsensusState[] = ['idle', 'decompose', 'propose', 'challenge', 'revise', 'commit', 'complete', 'failed'];
const NON_TERMINAL: readonly ConsensusState[] = ['idle', 'decompose', 'propose', 'challenge', 'revise', 'commit'];
const TERMINAL: readonly ConsensusState[] = ['complete', 'failed'];

/** duh §1.1 transition table (without the implicit → failed). */
const VALID: Readonly<Record<ConsensusState, readonly ConsensusState[]>> = {
  idle: ['propose', 'decompose'],
  decompose: ['propose'],
  propose: ['challenge'],
  challenge: ['revise'],
  revise: ['commit'],
  commit: ['propose', 'complete'],
  complete: [],
  failed: [],
};

/** Facts under which every guard passes (round 1 of 3, converged so that complete is allowed too). */
function permissiveFacts(): MachineFacts {
  return {
    question: 'Monolith or microservices?',
    maxRounds: 3,
    round: 1,
    hasProposal: true,
    challengeCount: 2,
    hasRevision: true,
    converged: true,
  };
}

/** A machine over mutable facts. */
function machine(overrides: Partial<MachineFacts> = {}): { sm: ConsensusStateMachine; facts: MachineFacts } {
  const facts: MachineFacts = { ...permissiveFacts(), ...overrides };
  return { sm: new ConsensusStateMachine(() => facts), facts };
}

const PATHS: Readonly<Record<ConsensusState, readonly ConsensusState[]>> = {
  idle: [],
  decompose: ['decompose'],
  propose: ['propose'],
  challenge: ['propose', 'challenge'],
  revise: ['propose', 'challenge', 'revise'],
  commit: ['propose', 'challenge', 'revise', 'commit'],
  complete: ['propose', 'challenge', 'revise', 'commit', 'complete'],
  failed: ['failed'],
};

/** A machine driven to `state` under permissive facts, whose facts are then replaced by `then`. */
function machineAt(
  state: ConsensusState,
  then: Partial<MachineFacts> = {},
): { sm: ConsensusStateMachine; facts: MachineFacts } {
  const { sm, facts } = machine();
  for (const step of PATHS[state]) sm.transition(step);
  expect(sm.state).toBe(state);
  Object.assign(facts, permissiveFacts(), then);
  return { sm, facts };
}

/** Run `fn`, expect a ProtocolError, return its message. */
function protocolError(fn: () => unknown): string {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeDefined();
  expect(ProtocolError.isInstance(thrown)).toBe(true);
  return (thrown as Error).message;
}

describe('ConsensusStateMachine: basics', () => {
  it('starts idle, not terminal, without error', () => {
    const { sm } = machine();
    expect(sm.state).toBe('idle');
    expect(sm.isTerminal).toBe(false);
    expect(sm.error).toBeUndefined();
  });

  it('runs a full single round idle → propose → challenge → revise → commit → complete', () => {
    const { sm, facts } = machine({ converged: false, maxRounds: 1 });
    const seen: ConsensusState[] = [];
    for (const step of ['propose', 'challenge', 'revise', 'commit', 'complete'] as const) {
      sm.transition(step);
      seen.push(sm.state);
    }
    expect(seen).toEqual(['propose', 'challenge', 'revise', 'commit', 'complete']);
    expect(sm.isTerminal).toBe(true);
    expect(facts.round).toBe(1);
  });

  it('runs three rounds and completes at max rounds', () => {
    const { sm, facts } = machine({ converged: false, maxRounds: 3, round: 0 });
    for (let round = 1; round <= 3; round++) {
      sm.transition('propose');
      facts.round = round;
      sm.transition('challenge');
      sm.transition('revise');
      sm.transition('commit');
      if (round < 3) {
        expect(sm.canTransition('complete')).toBe(false);
        expect(sm.canTransition('propose')).toBe(true);
      }
    }
    expect(sm.canTransition('propose')).toBe(false);
    sm.transition('complete');
    expect(sm.state).toBe('complete');
  });
});

describe('ConsensusStateMachine: valid transitions (duh §1.1)', () => {
  const cases = NON_TERMINAL.flatMap((from) => VALID[from].map((to) => [from, to] as const));

  it('covers the 8 table entries', () => {
    expect(cases).toHaveLength(8);
  });

  it.each(cases)('%s → %s is allowed', (from, to) => {
    const { sm } = machineAt(from, from === 'commit' && to === 'propose' ? { converged: false } : {});
    expect(sm.canTransition(to)).toBe(true);
    sm.transition(to);
    expect(sm.state).toBe(to);
  });

  it.each(NON_TERMINAL)('%s → failed is allowed through transition()', (from) => {
    // Even with facts under which every guard fails.
    const { sm } = machineAt(from, { question: '', hasProposal: false, challengeCount: 0, hasRevision: false, converged: false });
    expect(sm.canTransition('failed')).toBe(true);
    sm.transition('failed');
    expect(sm.state).toBe('failed');
    expect(sm.isTerminal).toBe(true);
  });
});

describe('ConsensusStateMachine: invalid transitions', () => {
  const invalid = NON_TERMINAL.flatMap((from) =>
    STATES.filter((to) => to !== 'failed' && !VALID[from].includes(to)).map((to) => [from, to] as const),
  );

  it('enumerates every non-table pair from a non-terminal state', () => {
    // 6 non-terminal sources × 7 non-failed targets − 8 valid pairs
    expect(invalid).toHaveLength(6 * 7 - 8);
  });

  it.each(invalid)('%s → %s is rejected even when every guard would pass', (from, to) => {
    const { sm } = machineAt(from);
    expect(sm.canTransition(to)).toBe(false);
    const message = protocolError(() => sm.transition(to));
    expect(message).toContain(from);
    expect(message).toContain(to);
    expect(sm.state).toBe(from);
  });

  it.each([
    ['idle', 'challenge'],
    ['idle', 'commit'],
    ['idle', 'complete'],
    ['propose', 'revise'],
    ['propose', 'commit'],
    ['challenge', 'commit'],
    ['challenge', 'complete'],
    ['revise', 'complete'],
    ['revise', 'propose'],
    ['commit', 'challenge'],
    ['decompose', 'challenge'],
  ] as const)('representative: %s → %s is rejected', (from, to) => {
    const { sm } = machineAt(from);
    expect(() => sm.transition(to)).toThrow(ProtocolError);
    expect(sm.state).toBe(from);
  });

  it('rejects skipping CHALLENGE (propose → revise)', () => {
    const { sm } = machineAt('propose');
    const message = protocolError(() => sm.transition('revise'));
    expect(message).toBe('Invalid transition propose -> revise');
  });
});

describe('ConsensusStateMachine: guards', () => {
  describe('→ decompose', () => {
    it.each([[''], ['   '], ['\n\t ']])('rejects blank question %j', (question) => {
      const { sm } = machine({ question });
      expect(sm.canTransition('decompose')).toBe(false);
      protocolError(() => sm.transition('decompose'));
      expect(sm.state).toBe('idle');
    });

    it('allows a non-blank question', () => {
      const { sm } = machine({ question: ' Why? ' });
      sm.transition('decompose');
      expect(sm.state).toBe('decompose');
    });
  });

  describe('→ propose from idle/decompose', () => {
    it.each([[''], ['   '], ['\n']])('rejects blank question %j from idle', (question) => {
      const { sm } = machine({ question });
      expect(sm.canTransition('propose')).toBe(false);
      protocolError(() => sm.transition('propose'));
      expect(sm.state).toBe('idle');
    });

    it('rejects blank question from decompose', () => {
      const { sm } = machineAt('decompose', { question: '  ' });
      expect(sm.canTransition('propose')).toBe(false);
      protocolError(() => sm.transition('propose'));
      expect(sm.state).toBe('decompose');
    });

    it('from idle/decompose ignores round, max rounds and convergence', () => {
      const fromIdle = machine({ round: 5, maxRounds: 3, converged: true });
      fromIdle.sm.transition('propose');
      expect(fromIdle.sm.state).toBe('propose');
      const fromDecompose = machineAt('decompose', { round: 5, maxRounds: 3, converged: true });
      fromDecompose.sm.transition('propose');
      expect(fromDecompose.sm.state).toBe('propose');
    });
  });

  describe('→ challenge', () => {
    it('rejects when there is no proposal', () => {
      const { sm } = machineAt('propose', { hasProposal: false });
      expect(sm.canTransition('challenge')).toBe(false);
      protocolError(() => sm.transition('challenge'));
      expect(sm.state).toBe('propose');
    });

    it('allows once the proposal is set', () => {
      const { sm, facts } = machineAt('propose', { hasProposal: false });
      facts.hasProposal = true;
      sm.transition('challenge');
      expect(sm.state).toBe('challenge');
    });
  });

  describe('→ revise', () => {
    it('rejects when there are no challenges', () => {
      const { sm } = machineAt('challenge', { challengeCount: 0 });
      expect(sm.canTransition('revise')).toBe(false);
      protocolError(() => sm.transition('revise'));
      expect(sm.state).toBe('challenge');
    });

    it('allows with a single challenge', () => {
      const { sm } = machineAt('challenge', { challengeCount: 1 });
      sm.transition('revise');
      expect(sm.state).toBe('revise');
    });
  });

  describe('→ commit', () => {
    it('rejects when there is no revision', () => {
      const { sm } = machineAt('revise', { hasRevision: false });
      expect(sm.canTransition('commit')).toBe(false);
      protocolError(() => sm.transition('commit'));
      expect(sm.state).toBe('revise');
    });
  });

  describe('commit → complete', () => {
    it('rejects before max rounds when not converged', () => {
      const { sm } = machineAt('commit', { round: 1, maxRounds: 3, converged: false });
      expect(sm.canTransition('complete')).toBe(false);
      const message = protocolError(() => sm.transition('complete'));
      expect(message).toMatch(/complete/i);
      expect(sm.state).toBe('commit');
    });

    it('rejects one round short of max rounds when not converged', () => {
      const { sm } = machineAt('commit', { round: 2, maxRounds: 3, converged: false });
      expect(sm.canTransition('complete')).toBe(false);
    });

    it('allows at max rounds', () => {
      const { sm } = machineAt('commit', { round: 3, maxRounds: 3, converged: false });
      expect(sm.canTransition('complete')).toBe(true);
      sm.transition('complete');
      expect(sm.state).toBe('complete');
    });

    it('allows beyond max rounds', () => {
      const { sm } = machineAt('commit', { round: 4, maxRounds: 3, converged: false });
      sm.transition('complete');
      expect(sm.state).toBe('complete');
    });

    it('allows when converged before max rounds', () => {
      const { sm } = machineAt('commit', { round: 2, maxRounds: 3, converged: true });
      sm.transition('complete');
      expect(sm.state).toBe('complete');
    });

    it('allows when the run was stopped by a limit after a committed round (TS extension: cost limit)', () => {
      const { sm } = machineAt('commit', { round: 1, maxRounds: 3, converged: false, stopped: true });
      expect(sm.canTransition('complete')).toBe(true);
    });

    it('still rejects a stopped run with no committed round', () => {
      const { sm } = machineAt('commit', { round: 0, maxRounds: 3, converged: false, stopped: true });
      expect(sm.canTransition('complete')).toBe(false);
    });
  });

  describe('commit → propose (next round)', () => {
    it('allows before max rounds when not converged', () => {
      const { sm } = machineAt('commit', { round: 2, maxRounds: 3, converged: false });
      expect(sm.canTransition('propose')).toBe(true);
      sm.transition('propose');
      expect(sm.state).toBe('propose');
    });

    it('rejects when converged', () => {
      const { sm } = machineAt('commit', { round: 1, maxRounds: 3, converged: true });
      expect(sm.canTransition('propose')).toBe(false);
      const message = protocolError(() => sm.transition('propose'));
      expect(message).toMatch(/converged/);
      expect(sm.state).toBe('commit');
    });

    it('rejects at max rounds', () => {
      const { sm } = machineAt('commit', { round: 3, maxRounds: 3, converged: false });
      expect(sm.canTransition('propose')).toBe(false);
      const message = protocolError(() => sm.transition('propose'));
      expect(message).toMatch(/max rounds/);
      expect(sm.state).toBe('commit');
    });

    it('rejects beyond max rounds', () => {
      const { sm } = machineAt('commit', { round: 4, maxRounds: 3, converged: false });
      expect(sm.canTransition('propose')).toBe(false);
    });

    it('does not look at the question (a blank question does not block the next round)', () => {
      const { sm } = machineAt('commit', { round: 1, maxRounds: 3, converged: false, question: '' });
      expect(sm.canTransition('propose')).toBe(true);
    });
  });

  it('reads the facts at transition time, not at construction', () => {
    const { sm, facts } = machine({ question: '' });
    expect(sm.canTransition('propose')).toBe(false);
    facts.question = 'Now there is a question';
    expect(sm.canTransition('propose')).toBe(true);
  });
});

describe('ConsensusStateMachine: terminal states', () => {
  describe.each(TERMINAL)('%s', (terminal) => {
    it('is terminal with no valid transitions', () => {
      const { sm } = machineAt(terminal);
      expect(sm.isTerminal).toBe(true);
      expect(sm.validTransitions()).toEqual([]);
    });

    it.each(STATES)(`rejects ${terminal} → %s`, (to) => {
      const { sm } = machineAt(terminal);
      expect(sm.canTransition(to)).toBe(false);
      const message = protocolError(() => sm.transition(to));
      expect(message).toBe(`Cannot transition from terminal state ${terminal}`);
      expect(sm.state).toBe(terminal);
    });

    it('rejects fail()', () => {
      const { sm } = machineAt(terminal);
      const before = sm.error;
      const message = protocolError(() => sm.fail('too late'));
      expect(message).toBe(`Cannot transition from terminal state ${terminal}`);
      expect(sm.state).toBe(terminal);
      expect(sm.error).toBe(before);
    });
  });
});

describe('ConsensusStateMachine: fail()', () => {
  it.each(NON_TERMINAL)('from %s moves to failed and keeps the error', (from) => {
    const { sm } = machineAt(from);
    sm.fail(`boom in ${from}`);
    expect(sm.state).toBe('failed');
    expect(sm.isTerminal).toBe(true);
    expect(sm.error).toBe(`boom in ${from}`);
  });

  it('ignores the guards', () => {
    const { sm } = machineAt('propose', { question: '', hasProposal: false, challengeCount: 0, hasRevision: false });
    sm.fail('provider down');
    expect(sm.state).toBe('failed');
    expect(sm.error).toBe('provider down');
  });

  it('mid-loop keeps the error and blocks everything afterwards', () => {
    const { sm } = machineAt('challenge');
    sm.fail('All challengers failed');
    expect(sm.error).toBe('All challengers failed');
    expect(() => sm.transition('revise')).toThrow(ProtocolError);
    expect(sm.error).toBe('All challengers failed');
  });
});

describe('ConsensusStateMachine: validTransitions()', () => {
  it.each(NON_TERMINAL)('from %s lists the table targets plus failed', (from) => {
    const { sm } = machineAt(from);
    const valid = sm.validTransitions();
    expect(valid).toContain('failed');
    expect([...valid].sort()).toEqual([...VALID[from], 'failed'].sort());
  });

  it('always includes failed from a non-terminal state, even when every guard fails', () => {
    for (const from of NON_TERMINAL) {
      const { sm } = machineAt(from, { question: '', hasProposal: false, challengeCount: 0, hasRevision: false, converged: false, round: 1 });
      expect(sm.validTransitions()).toContain('failed');
    }
  });
});

describe('ConsensusStateMachine: canTransition mirrors transition', () => {
  const variants: readonly Partial<MachineFacts>[] = [
    {},
    { question: '' },
    { hasProposal: false },
    { challengeCount: 0 },
    { hasRevision: false },
    { converged: false, round: 1, maxRounds: 3 },
    { converged: false, round: 3, maxRounds: 3 },
    { converged: true, round: 1, maxRounds: 3 },
  ];

  it('for every state, target and fact variant', () => {
    let checked = 0;
    for (const from of STATES) {
      for (const to of STATES) {
        for (const variant of variants) {
          const { sm } = machineAt(from, variant);
          const predicted = sm.canTransition(to);
          let succeeded: boolean;
          try {
            sm.transition(to);
            succeeded = true;
          } catch (error) {
            expect(ProtocolError.isInstance(error)).toBe(true);
            succeeded = false;
          }
          expect(succeeded, `${from} -> ${to} with ${JSON.stringify(variant)}`).toBe(predicted);
          expect(sm.state).toBe(succeeded ? to : from);
          checked++;
        }
      }
    }
    expect(checked).toBe(STATES.length * STATES.length * variants.length);
  });

  it('canTransition does not change the state', () => {
    const { sm } = machineAt('commit');
    for (const to of STATES) sm.canTransition(to);
    expect(sm.state).toBe('commit');
  });
});

/**
 * The consensus state machine (duh §1.1): states, allowed transitions and their guards.
 *
 * The engine moves one machine per run; every transition is checked, so a phase can never be skipped.
 *
 * @module
 */
import { ProtocolError } from '../errors.js';

/** Every state of a consensus run. `complete` and `failed` are terminal. */
export type ConsensusState = 'idle' | 'decompose' | 'propose' | 'challenge' | 'revise' | 'commit' | 'complete' | 'failed';

const TRANSITIONS: Readonly<Record<ConsensusState, readonly ConsensusState[]>> = {
  idle: ['propose', 'decompose'],
  decompose: ['propose'],
  propose: ['challenge'],
  challenge: ['revise'],
  revise: ['commit'],
  commit: ['propose', 'complete'],
  complete: [],
  failed: [],
};

/** The facts the guards look at. */
export interface MachineFacts {
  question: string;
  maxRounds: number;
  round: number;
  hasProposal: boolean;
  challengeCount: number;
  hasRevision: boolean;
  converged: boolean;
  /** The run was stopped early by a limit (cost) after at least one committed round. */
  stopped?: boolean;
}

/** A consensus run's state, moved only through checked transitions. */
export class ConsensusStateMachine {
  #state: ConsensusState = 'idle';
  #error: string | undefined;
  readonly #facts: () => MachineFacts;

  /** @param facts Reads the current run facts for the guards. */
  constructor(facts: () => MachineFacts) {
    this.#facts = facts;
  }

  get state(): ConsensusState {
    return this.#state;
  }

  /** The message given to {@link fail}, if any. */
  get error(): string | undefined {
    return this.#error;
  }

  get isTerminal(): boolean {
    return this.#state === 'complete' || this.#state === 'failed';
  }

  /** States reachable now (always including `failed` from a non-terminal state), ignoring guards. */
  validTransitions(): ConsensusState[] {
    if (this.isTerminal) return [];
    return [...TRANSITIONS[this.#state], 'failed'];
  }

  /** Whether `to` is allowed now, guards included. */
  canTransition(to: ConsensusState): boolean {
    return this.#check(to) === undefined;
  }

  /** Move to `to`, or throw a {@link ProtocolError} saying why not. */
  transition(to: ConsensusState): void {
    const problem = this.#check(to);
    if (problem) throw new ProtocolError(problem);
    this.#state = to;
  }

  /** Move to `failed`, keeping the message. */
  fail(message: string): void {
    if (this.isTerminal) throw new ProtocolError(`Cannot transition from terminal state ${this.#state}`);
    this.#error = message;
    this.#state = 'failed';
  }

  #check(to: ConsensusState): string | undefined {
    const from = this.#state;
    if (this.isTerminal) return `Cannot transition from terminal state ${from}`;
    if (to === 'failed') return undefined;
    if (!TRANSITIONS[from].includes(to)) return `Invalid transition ${from} -> ${to}`;
    const facts = this.#facts();
    switch (to) {
      case 'decompose':
        return facts.question.trim() ? undefined : 'Cannot decompose: the question is empty';
      case 'propose':
        if (from === 'commit') {
          if (facts.converged) return 'Cannot start another round: the run has converged';
          if (facts.round >= facts.maxRounds) return `Cannot start round ${facts.round + 1}: max rounds (${facts.maxRounds}) reached`;
          return undefined;
        }
        return facts.question.trim() ? undefined : 'Cannot propose: the question is empty';
      case 'challenge':
        return facts.hasProposal ? undefined : 'Cannot challenge: there is no proposal';
      case 'revise':
        return facts.challengeCount > 0 ? undefined : 'Cannot revise: there are no challenges';
      case 'commit':
        return facts.hasRevision ? undefined : 'Cannot commit: there is no revision';
      case 'complete':
        return facts.converged || facts.round >= facts.maxRounds || (facts.stopped === true && facts.round >= 1)
          ? undefined
          : `Cannot complete: round ${facts.round} of ${facts.maxRounds} and not converged`;
      default:
        return undefined;
    }
  }
}

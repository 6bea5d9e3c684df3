/**
 * The event union, version 1: everything a run reports while it works.
 *
 * The same union is delivered in-process (`duh.stream()`, `onEvent`), and later over SSE and WebSocket. Every
 * event carries `v: 1`, the run's `threadId` and a `seq` number that starts at 0 and grows by one, so a client
 * that lost a remote stream can resume after the last `seq` it saw. Names are noun-verb with the verbs
 * `start`, `delta` and `end`.
 *
 * | type | when |
 * | --- | --- |
 * | `rate-limit-wait` | the run queues for a rate limit instead of failing (before a run or a call) |
 * | `budget` | money reserved from budgets before the run, or settled after it |
 * | `budget-degraded` | the run was scaled down (fewer rounds, cheaper models) to fit a budget |
 * | `warning` | something degraded without stopping the run (e.g. the limiter failed open) |
 * | `run-start` | once the run is admitted (policy, limits, budget), before any model is called |
 * | `round-start` / `round-end` | around each round; `round-end` says whether it converged |
 * | `phase-start` / `phase-end` | around propose, challenge, revise and commit |
 * | `member-start` / `member-delta` / `member-end` | one model call: start, each text delta, the finished contribution |
 * | `member-error` | a call failed; `willRetry` / `fallbackTo` say what happens next |
 * | `circuit-state` | a model's circuit breaker opened, went half-open or closed |
 * | `challenge` | a challenge was accepted, with its framing and sycophancy flag |
 * | `commit` | a round's decision, confidence, rigor and dissent |
 * | `cost` / `cost-warning` | spend after each call; the warning fires once when `costWarnUsd` is crossed |
 * | `run-end` | the run's result |
 * | `error` | the run failed (also when refused by the policy, a limit or a budget); nothing follows |
 *
 * @module
 */
import type { FinishReason, ModelRef, Usage } from './adapter.js';
import type { SerializedError } from './errors.js';
import type {
  ChallengeFraming,
  ConsensusResult,
  ContributionRole,
  ProtocolName,
  StopReason,
  Taxonomy,
} from './record.js';

/** The event-union version. Bumped only for breaking changes. */
export const EVENTS_VERSION = 1;

/** The phases of a consensus round. */
export type Phase = 'propose' | 'challenge' | 'revise' | 'commit';

/** Fields on every event. */
export interface EventBase {
  /** Event-union version (1). */
  v: 1;
  /** 0, 1, 2, ... within one run. */
  seq: number;
  /** The run's thread id. */
  threadId: string;
  /** Milliseconds since the epoch. */
  time: number;
}

/** Identifies one member call within a phase. */
export interface MemberRef {
  round: number;
  phase: Phase;
  role: ContributionRole;
  /** Position within the phase (challengers 0..n-1; always 0 for the proposer, reviser and classifier). */
  index: number;
  /** The model being called. */
  model: ModelRef;
}

export interface RunStartEvent extends EventBase {
  type: 'run-start';
  question: string;
  protocol: ProtocolName;
  maxRounds: number;
  /** The models this run may use (after the panel filter). */
  models: readonly ModelRef[];
}

export interface RoundStartEvent extends EventBase {
  type: 'round-start';
  round: number;
  maxRounds: number;
}

export interface PhaseStartEvent extends EventBase {
  type: 'phase-start';
  round: number;
  phase: Phase;
  /** The members called in this phase. */
  models: readonly ModelRef[];
}

export interface PhaseEndEvent extends EventBase {
  type: 'phase-end';
  round: number;
  phase: Phase;
}

export interface MemberStartEvent extends EventBase, MemberRef {
  type: 'member-start';
  /** 1 for the first try; higher for retries and fallbacks. */
  attempt: number;
  framing?: ChallengeFraming;
}

export interface MemberDeltaEvent extends EventBase, MemberRef {
  type: 'member-delta';
  text: string;
}

export interface MemberEndEvent extends EventBase, MemberRef {
  type: 'member-end';
  text: string;
  usage: Usage;
  costUsd: number;
  latencyMs: number;
  finishReason: FinishReason;
  truncated: boolean;
  attempts: number;
  fallbackFor?: ModelRef;
  providerMetadata?: Readonly<Record<string, unknown>>;
}

export interface MemberErrorEvent extends EventBase, MemberRef {
  type: 'member-error';
  error: SerializedError;
  attempt: number;
  /** The same model will be tried again after `retryInMs`. */
  willRetry: boolean;
  retryInMs?: number;
  /** The next fallback model to be tried, when retries are exhausted. */
  fallbackTo?: ModelRef;
  /** Nothing more will be tried for this member; the run continues without it when it can. */
  final: boolean;
}

/** A model's circuit breaker changed state (shared by every run of the same `Consensus`). */
export interface CircuitStateEvent extends EventBase {
  type: 'circuit-state';
  model: ModelRef;
  state: 'closed' | 'open' | 'half-open';
  previous: 'closed' | 'open' | 'half-open';
  /** Consecutive outage-type failures counted. */
  failures: number;
  /** When an open circuit lets a probe through (ms since the epoch); null otherwise. */
  retryAt: number | null;
}

export interface ChallengeEvent extends EventBase {
  type: 'challenge';
  round: number;
  index: number;
  model: ModelRef;
  framing: ChallengeFraming;
  sycophantic: boolean;
  text: string;
}

export interface CommitEvent extends EventBase {
  type: 'commit';
  round: number;
  decision: string;
  confidence: number;
  rigor: number;
  dissent: string | null;
  taxonomy: Taxonomy | null;
}

export interface RoundEndEvent extends EventBase {
  type: 'round-end';
  round: number;
  converged: boolean;
  costUsd: number;
}

export interface CostEvent extends EventBase {
  type: 'cost';
  round: number;
  model: ModelRef;
  /** Cost of the call that just ended. */
  deltaUsd: number;
  /** Spent by this run so far. */
  totalUsd: number;
  limitUsd: number | null;
}

export interface CostWarningEvent extends EventBase {
  type: 'cost-warning';
  totalUsd: number;
  warnUsd: number;
  limitUsd: number | null;
  message: string;
}

export interface RunEndEvent extends EventBase {
  type: 'run-end';
  stopReason: StopReason;
  result: ConsensusResult;
}

export interface ErrorEvent extends EventBase {
  type: 'error';
  error: SerializedError;
}

export interface RateLimitWaitEvent extends EventBase {
  type: 'rate-limit-wait';
  /** The bucket that is empty (`user:acme:u1:requests`, `model:openai:gpt-5.2:tokens`, ...). */
  bucket: string;
  /** How long the run waits before trying again. */
  waitMs: number;
  /** The call that waits, when it is a model call (absent for the run's own request). */
  member?: MemberRef;
}

/** One budget's figures in a `budget` event. */
export interface BudgetLine {
  /** `tenant:<tenant>:<window>` or `user:<tenant>:<user>:<window>`. */
  budget: string;
  /** Reserved (for `reserve`) or settled as actually spent (for `settle`). */
  amountUsd: number;
  /** Spent and reserved in the window after this step. */
  usedUsd: number;
  limitUsd: number;
  /** When the window ends (ISO 8601). */
  resetsAt: string;
}

export interface BudgetEvent extends EventBase {
  type: 'budget';
  /** `reserve`: the run's worst case was set aside before it started; `settle`: the real cost replaced it. */
  action: 'reserve' | 'settle';
  budgets: BudgetLine[];
}

export interface BudgetDegradedEvent extends EventBase {
  type: 'budget-degraded';
  fromRounds: number;
  toRounds: number;
  /** The scaled-down run's members: proposer, challengers, then the classifier (when decisions are classified). */
  models: ModelRef[];
  /** The scaled-down run's worst case, which fits. */
  worstCaseUsd: number;
  /** What the tightest budget had left. */
  availableUsd: number;
}

export interface WarningEvent extends EventBase {
  type: 'warning';
  /** `limiter-unavailable`: the rate-limit store failed and `failOpen` let the run through unmetered. */
  code: 'limiter-unavailable';
  message: string;
}

/** Every event a run emits. Narrow on `type`. */
export type ConsensusEvent =
  | RunStartEvent
  | RoundStartEvent
  | PhaseStartEvent
  | PhaseEndEvent
  | MemberStartEvent
  | MemberDeltaEvent
  | MemberEndEvent
  | MemberErrorEvent
  | CircuitStateEvent
  | ChallengeEvent
  | CommitEvent
  | RoundEndEvent
  | CostEvent
  | CostWarningEvent
  | RateLimitWaitEvent
  | BudgetEvent
  | BudgetDegradedEvent
  | WarningEvent
  | RunEndEvent
  | ErrorEvent;

/** The `type` of every event. */
export type ConsensusEventType = ConsensusEvent['type'];

/** An event without the fields the emitter stamps (`v`, `seq`, `threadId`, `time`). */
export type EventPayload<E extends ConsensusEvent = ConsensusEvent> = E extends ConsensusEvent
  ? Omit<E, keyof EventBase>
  : never;

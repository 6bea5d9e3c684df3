/**
 * The decision record: what a run returns and what storage keeps.
 *
 * @module
 */
import type { FinishReason, ModelRef, Usage } from './adapter.js';
import type { MemberFailure } from './errors.js';

/** The role a model played in a contribution. */
export type ContributionRole = 'proposer' | 'challenger' | 'reviser' | 'classifier';

/** How a challenger is asked to attack the proposal. Assigned round-robin in this order by default. */
export type ChallengeFraming = 'flaw' | 'alternative' | 'risk' | 'devils-advocate';

/** Every framing, in duh's default rotation order. */
export const CHALLENGE_FRAMINGS: readonly ChallengeFraming[] = ['flaw', 'alternative', 'risk', 'devils-advocate'];

/** The protocol a run used. Voting, auto and decompose arrive with the protocols issue. */
export type ProtocolName = 'consensus';

/** Why a run stopped. */
export type StopReason = 'converged' | 'max-rounds' | 'cost-limit';

/** One model call that produced text. */
export interface Contribution {
  role: ContributionRole;
  /** The model that answered (a fallback model when the configured one failed). */
  model: ModelRef;
  /** The configured member, when a fallback answered instead. */
  fallbackFor?: ModelRef;
  text: string;
  usage: Usage;
  /** US dollars at the model's catalog prices. */
  costUsd: number;
  /** Wall time of the successful attempt, in milliseconds. */
  latencyMs: number;
  finishReason: FinishReason;
  /** True only when the model stopped at the token limit (`finishReason: 'length'`). */
  truncated: boolean;
  /** Attempts made, retries and fallbacks included (1 = first try succeeded). */
  attempts: number;
  /** Provider extras reported with the answer (e.g. Perplexity citations); never secrets. */
  providerMetadata?: Readonly<Record<string, unknown>>;
}

/** A challenger's contribution, with its framing and sycophancy flag. */
export interface ChallengeContribution extends Contribution {
  role: 'challenger';
  framing: ChallengeFraming;
  /** The reply opened with praise or agreement (see duh's 14 markers in the first 200 characters). */
  sycophantic: boolean;
}

/** The decision taxonomy returned by the classifier call at commit. */
export interface Taxonomy {
  /** One of `factual`, `judgment`, `creative`, `strategic`, `technical` (others are kept but uncapped). */
  intent: string;
  /** Short topic label. */
  category: string;
  /** Finer label; empty string when the classifier gave none. */
  genus: string;
}

/** What one round produced. */
export interface RoundRecord {
  round: number;
  proposal: Contribution;
  challenges: readonly ChallengeContribution[];
  revision: Contribution;
  /** The committed decision text (the revision). */
  decision: string;
  /** min(cap by intent, rigor). */
  confidence: number;
  /** 0.5 + 0.5 × genuine / total challenges. */
  rigor: number;
  /** Genuine challenges as `[model]: text`, separated by a blank line; null when none. */
  dissent: string | null;
  taxonomy: Taxonomy | null;
  /** The classifier call, when one was made and answered. */
  classification: Contribution | null;
  /** True when this round's challenges repeat the previous round's (mean max Jaccard ≥ threshold). */
  converged: boolean;
  /** Members that failed and were tolerated: challengers, the classifier, and models a fallback replaced. */
  failures: readonly MemberFailure[];
  /** Sum of every contribution's cost in this round. */
  costUsd: number;
}

/** Cost of a run, in US dollars. */
export interface CostSummary {
  totalUsd: number;
  /** Index i is round i + 1. */
  byRound: readonly number[];
  /** Per model ref. */
  byModel: Readonly<Record<string, number>>;
}

/** Token usage of a run. */
export interface UsageSummary {
  inputTokens: number;
  outputTokens: number;
  /** Successful model calls. */
  calls: number;
}

/** The decision record a consensus run resolves to. */
export interface ConsensusResult {
  threadId: string;
  question: string;
  protocolUsed: ProtocolName;
  /** The final decision text. */
  decision: string;
  confidence: number;
  rigor: number;
  dissent: string | null;
  taxonomy: Taxonomy | null;
  /** True when the run stopped early because challenges converged. */
  converged: boolean;
  stopReason: StopReason;
  /** Every round, in order. `rounds.length` is the number of rounds run. */
  rounds: readonly RoundRecord[];
  cost: CostSummary;
  usage: UsageSummary;
  /** Every tolerated member failure, all rounds. */
  failures: readonly MemberFailure[];
  /** ISO timestamps. */
  startedAt: string;
  endedAt: string;
  durationMs: number;
}

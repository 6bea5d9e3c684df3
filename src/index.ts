/**
 * `duh`: a multi-model consensus engine. Several models answer one question together: one proposes, others
 * challenge, the proposer revises, and duh commits a decision with a confidence figure and the dissent that
 * survived.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * const duh = new Consensus({ models: [modelA, modelB, modelC] });
 * const { decision, confidence, dissent } = await duh.ask('Monolith or microservices for a five-person team?');
 * ```
 *
 * @module
 */
export { Consensus } from './consensus.js';
export { costRowsOf, MIN_ID_PREFIX } from './records.js';
export type { BackupOptions, CostOptions, ExportOptions, FeedbackOptions, ListThreadsOptions, RecallOptions, RestoreOptions, SweepOptions, ThreadsApi } from './records.js';
export type { Principal, PrincipalOption, RequestOrigin } from './principal.js';
export { BACKUP_FORMAT, BACKUP_VERSION, backupLines, parseBackup } from './backup.js';
export type { BackupHeader } from './backup.js';
export { threadToJson, threadToMarkdown } from './export.js';
export type { MarkdownOptions } from './export.js';
export { ConsensusStream } from './stream.js';
export type { CircuitBreakerOptions, CircuitState, CircuitStatus } from './engine/circuit-breaker.js';
export { DEFAULTS } from './options.js';
export type { ConsensusOptions, RetryOptions, RunOptions, RunSettings } from './options.js';

export { costOf, FINISH_REASONS, modelRef, parseModelRef } from './adapter.js';
export type {
  CallOptions,
  ChatMessage,
  FinishReason,
  GenerateRequest,
  GenerateResult,
  ModelAdapter,
  ModelCapability,
  ModelInfo,
  ModelRef,
  StreamPart,
  ToolCall,
  ToolDefinition,
  Usage,
} from './adapter.js';

export { EVENTS_VERSION } from './events.js';
export type * from './events.js';

export { CHALLENGE_FRAMINGS } from './record.js';
export type {
  ChallengeContribution,
  ChallengeFraming,
  ConsensusResult,
  Contribution,
  ContributionRole,
  CostSummary,
  ProtocolName,
  RoundRecord,
  StopReason,
  Taxonomy,
  UsageSummary,
} from './record.js';

export {
  AbortedError,
  AllChallengersFailedError,
  AuthenticationError,
  BudgetExceededError,
  CostLimitError,
  DuhError,
  InsufficientModelsError,
  InvalidOptionError,
  LimiterUnavailableError,
  isRetryableStatus,
  kindOfStatus,
  MissingDependencyError,
  NotFoundError,
  PolicyDeniedError,
  ProtocolError,
  ProviderError,
  ProviderRateLimitError,
  ProviderTimeoutError,
  RateLimitedError,
  redactSecrets,
  serializeError,
  StorageError,
  TruncatedStreamError,
} from './errors.js';
export type { BudgetFigures, DuhErrorCode, DuhErrorOptions, MemberFailure, ProviderErrorFields, ProviderErrorKind, SerializedError } from './errors.js';

export {
  AUDIT_GENESIS_HASH,
  AUDIT_OUTCOMES,
  auditCanonicalBody,
  auditCanonicalString,
  auditEntryProblem,
  auditEventId,
  auditEventOf,
  COST_GROUPS,
  DEFAULT_TENANT,
  firstTurnProblem,
  MAX_SUBTASK_LABEL_LENGTH,
  matchesRecall,
  OUTCOME_RESULTS,
  phaseOrderProblem,
  phaseShapeProblem,
  requireStorageMethod,
  SUBTASK_STATUSES,
  subtaskPlanProblem,
  subtasksInOrder,
  THREAD_STATUSES,
  toRecallHit,
  voteProblem,
  TURN_STATES,
} from './storage.js';
export type {
  ApiKeyQuery,
  AuditEntryInput,
  AuditOutcome,
  AuditQuery,
  NewApiKey,
  NewUser,
  ProviderKeyInfo,
  ProviderKeyPutOptions,
  ProviderKeyWrite,
  StoredApiKey,
  StoredAuditEvent,
  StoredProviderKey,
  StoredUser,
  UserPage,
  UserQuery,
  UserUpdate,
  CostGroup,
  CostQuery,
  CostRow,
  OutcomeResult,
  RestoreMode,
  StorageScope,
  StoredOutcome,
  NewThread,
  RecallHit,
  StorageDriver,
  StoredContribution,
  StoredDecision,
  StoredSubtask,
  StoredThread,
  StoredVote,
  SubtaskStatus,
  SubtaskUpdate,
  StoredTurn,
  ThreadPage,
  TurnPhase,
  TurnState,
  ThreadQuery,
  ThreadStatus,
  ThreadSummary,
} from './storage.js';
export { memoryStorage } from '../storage/memory.js';
export type { MemoryStorageOptions } from '../storage/memory.js';

export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';

export { detectSycophancy, SYCOPHANCY_MARKERS } from './protocol/sycophancy.js';
export { challengesConverged, jaccard } from './protocol/convergence.js';
export { computeConfidence, computeRigor, CONFIDENCE_CAPS, formatDissent } from './protocol/commit.js';

// Policy: the hook contract and the default role-based policy.
export { ANONYMOUS, POLICY_ACTIONS } from './policy.js';
export type { Policy, PolicyAction, PolicyDecision, PolicyResource } from './policy.js';
export { authorize, decide, resourceName } from './policy/authorize.js';
export { DEFAULT_ROLES, modelAllowed, rbac } from './policy/rbac.js';
export type { RbacOptions, RoleDefinition } from './policy/rbac.js';

// Limits and budgets: the option types, and the rate-limit store contract (stores live in duh/limiter/*).
export type {
  BucketLimits,
  BudgetOptions,
  BudgetOverflow,
  BudgetWindow,
  CredentialResolver,
  LimitsOptions,
  PrincipalBudget,
  PrincipalLimits,
  RateSpec,
} from './governance.js';
export { bucketOf, parseRate } from './limiter.js';
export type { BucketRequest, CounterDecision, CounterRequest, LimitDecision, Rate, RateLimitStore, RefundRequest, SettleRequest, SettleResult } from './limiter.js';
export { takeWithin } from './limiter/wait.js';
export type { TakeWithinOptions } from './limiter/wait.js';

/**
 * Options for {@link Consensus} and for each run, with their defaults and validation.
 *
 * Everything is checked once: constructor options in `new Consensus()`, run options when `ask()` or `stream()`
 * is called, before any model is touched. A bad value throws an {@link InvalidOptionError} that names the
 * option, the value received and what is expected.
 *
 * @module
 */
import { type ModelAdapter, type ModelRef, modelRef, parseModelRef } from './adapter.js';
import type { Clock } from './clock.js';
import { InvalidOptionError } from './errors.js';
import type { ConsensusEvent } from './events.js';
import type { Logger } from './logger.js';
import { CHALLENGE_FRAMINGS, type ChallengeFraming, type ProtocolName } from './record.js';
import type { Principal } from './principal.js';
import type { StorageDriver } from './storage.js';
import type { CircuitBreakerOptions } from './engine/circuit-breaker.js';
import type { BudgetOptions, BudgetOverflow, CredentialResolver, LimitsOptions } from './governance.js';
import type { RateLimitStore } from './limiter.js';
import type { Policy } from './policy.js';
import type { RequestOrigin } from './principal.js';

/** Retries of failed model calls (exponential backoff with jitter; `Retry-After` honoured). */
export interface RetryOptions {
  /** Retries after the first attempt. 0 disables retrying. @default 3 */
  maxRetries?: number;
  /** Delay before the first retry, doubled each time. @default 1000 */
  baseDelayMs?: number;
  /** Upper bound on any delay (applied after jitter), including a provider's `Retry-After`. @default 60000 */
  maxDelayMs?: number;
  /** Multiply backoff delays by a random factor in [0.5, 1.5) to spread retries out. @default true */
  jitter?: boolean;
}

/** Settings that can be given once to `new Consensus()` and overridden per run. */
export interface RunSettings {
  /** Maximum rounds (1..n); a run stops earlier when challenges converge. @default 3 */
  rounds?: number;
  /** Restrict the run to these models (refs). Unset: every model in `models`. */
  panel?: readonly ModelRef[];
  /** Use this model as the proposer instead of the most expensive eligible one. */
  proposer?: ModelRef;
  /** Use exactly these challengers (refs, repeats allowed) instead of selecting them. */
  challengers?: readonly ModelRef[];
  /** How many challengers to select when `challengers` is not given. @default 2 */
  challengerCount?: number;
  /** Framing rotation for challengers, by index. @default ['flaw', 'alternative', 'risk', 'devils-advocate'] */
  framings?: readonly ChallengeFraming[];
  /** Sampling temperature of the debate calls. @default 0.7 */
  temperature?: number;
  /** Output-token budget of each debate call, clamped to each model's `maxOutputTokens`. @default 16384 */
  maxOutputTokens?: number;
  /** Mean max Jaccard similarity at which challenges count as converged. @default 0.7 */
  convergenceThreshold?: number;
  /** Classify each decision (intent/category/genus) with the cheapest model; intent caps confidence. @default true */
  classify?: boolean;
  /** Retry policy for failed calls. */
  retry?: RetryOptions;
  /** Time limit of one model call (each attempt), in milliseconds. @default 300000 */
  timeoutMs?: number;
  /**
   * Hard limit on what one run may spend, in US dollars. A round starts only when its worst case fits: every
   * call's prompt counted at one token per UTF-8 byte (an upper bound for byte-level tokenizers) plus its full
   * output budget, at catalog prices, with fallbacks priced at the dearest link. When round 1 does not fit the
   * run throws `CostLimitError` before any call; when a later round does not fit, the run ends with the last
   * decision and `stopReason: 'cost-limit'`. Unset: no limit.
   */
  costLimitUsd?: number;
  /** Emit one `cost-warning` event (and a log line) when a run's spend crosses this. @default 1 */
  costWarnUsd?: number;
}

/** Options for `new Consensus()`. */
export interface ConsensusOptions extends RunSettings {
  /** The models that may take part, in priority order (earlier wins price ties). At least one. */
  models: readonly ModelAdapter[];
  /**
   * Fallbacks per member: when a model still fails after its retries, the next fallback answers in its place.
   * Keys are refs of `models`; values are refs of `models` or extra adapters.
   */
  fallbacks?: Readonly<Record<ModelRef, readonly (ModelRef | ModelAdapter)[]>>;
  /** Where runs are kept. @default memoryStorage() */
  storage?: StorageDriver;
  /** Structured logger (pino-compatible). @default silent */
  logger?: Logger;
  /** Called with every event of every run, after per-run `onEvent`. Exceptions it throws are logged and ignored. */
  onEvent?: (event: ConsensusEvent) => void;
  /** Source of time; inject one to test retries and timeouts without waiting. @default the system clock */
  clock?: Clock;
  /** Random numbers in [0, 1) for retry jitter. @default Math.random */
  random?: () => number;
  /**
   * Per-model circuit breakers shared by every run of this engine: after `failureThreshold` consecutive outage
   * failures (5xx, overloaded, network, timeout, cut stream) a model is skipped at once in favour of its fallback
   * until `cooldownMs` passes and a probe succeeds. `false` turns them off.
   * @default { failureThreshold: 5, cooldownMs: 30000 }
   */
  circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * Asked before a run starts, before each model is used, before money is reserved and before any record is
   * read, changed or deleted. Use `rbac()` for duh's roles. Unset: everything is allowed.
   */
  policy?: Policy;
  /** Token-bucket limits per user, per tenant and per provider or model, for requests and tokens. */
  limits?: LimitsOptions;
  /** USD budgets per user and per tenant per day or month; a run's worst case is reserved before it starts. */
  budget?: BudgetOptions;
  /** Where buckets and budgets live. Share one Redis store between instances. @default memoryLimiter() */
  limiter?: RateLimitStore;
  /** A tenant's own provider keys (bring your own key), e.g. `identity.credentials()` from duh/identity. */
  credentials?: CredentialResolver;
  /**
   * Write the audit log (runs, refusals, record changes, exports) through the storage driver's `appendAudit`.
   * @default true when `policy` is set, else false
   */
  audit?: boolean;
}

/** Options for one run (`ask()` / `stream()`), overriding the constructor's settings. */
export interface RunOptions extends RunSettings {
  /** Who the run is for: its thread is stored in the principal's tenant, stamped with the principal's id. */
  principal?: Principal;
  /** The protocol to run. Voting, auto and decompose arrive with the protocols release. @default 'consensus' */
  protocol?: ProtocolName;
  /** Cancels the run and every model call in flight. */
  signal?: AbortSignal;
  /** Called with every event of this run. Exceptions it throws are logged and ignored. */
  onEvent?: (event: ConsensusEvent) => void;
  /** When the run's worst case does not fit a budget: refuse, or run fewer rounds or cheaper models. @default budget.onExceed */
  onBudget?: BudgetOverflow;
  /** Where the request came from (IP, user agent), for the audit log. */
  origin?: RequestOrigin;
}

/** Fully resolved settings of one run. */
export interface ResolvedRun {
  question: string;
  protocol: ProtocolName;
  rounds: number;
  panel: readonly ModelRef[] | undefined;
  proposer: ModelRef | undefined;
  challengers: readonly ModelRef[] | undefined;
  challengerCount: number;
  framings: readonly ChallengeFraming[];
  temperature: number;
  maxOutputTokens: number;
  convergenceThreshold: number;
  classify: boolean;
  retry: Required<RetryOptions>;
  timeoutMs: number;
  costLimitUsd: number | undefined;
  costWarnUsd: number;
}

/** Defaults of every run setting (duh's values). */
export const DEFAULTS = {
  rounds: 3,
  challengerCount: 2,
  temperature: 0.7,
  maxOutputTokens: 16_384,
  convergenceThreshold: 0.7,
  classify: true,
  timeoutMs: 300_000,
  costWarnUsd: 1,
  retry: { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 60_000, jitter: true },
} as const;

/** The longest delay `setTimeout` honours (2^31 − 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

const PROTOCOLS: readonly ProtocolName[] = ['consensus'];
const UPCOMING_PROTOCOLS = ['voting', 'auto', 'decompose'];

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return String(value);
};

function integer(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be an integer >= ${min}, received ${show(value)}.`);
  }
  return value;
}

function number(option: string, value: unknown, min: number, max = Infinity, hint = ''): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be a number ${range}, received ${show(value)}.${hint}`);
  }
  return value;
}

function refList(option: string, value: unknown, known: ReadonlySet<string>, allowEmpty: boolean): ModelRef[] {
  if (!Array.isArray(value)) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be an array of model refs like "openai:gpt-5.2", received ${show(value)}.`);
  }
  if (!allowEmpty && value.length === 0) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option is empty; list at least one model ref, or leave it unset to use every model.`);
  }
  return value.map((ref, index) => knownRef(`${option}[${index}]`, ref, known));
}

function knownRef(option: string, value: unknown, known: ReadonlySet<string>): ModelRef {
  if (typeof value !== 'string' || !parseModelRef(value)) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be a model ref like "openai:gpt-5.2", received ${show(value)}.`);
  }
  if (!known.has(value)) {
    throw new InvalidOptionError(
      option,
      value,
      `The \`${option}\` option names ${show(value)}, which is not one of the models: ${[...known].join(', ')}. Add it to \`models\` or fix the ref.`,
    );
  }
  return value as ModelRef;
}

/** Check an adapter's shape; returns its ref. */
export function validateAdapter(option: string, model: unknown): ModelRef {
  const adapter = model as Partial<ModelAdapter> | null;
  const problem = (what: string) =>
    new InvalidOptionError(option, model, `The \`${option}\` entry is not a duh model adapter: ${what}. Pass objects that implement ModelAdapter v1 (see docs/adapters.md), or \`new MockAdapter(...)\` from duh/testing.`);
  if (typeof adapter !== 'object' || adapter === null) throw problem(`received ${show(model)}`);
  if (adapter.specificationVersion !== 'v1') throw problem(`\`specificationVersion\` is ${show(adapter.specificationVersion)}, expected "v1"`);
  if (typeof adapter.provider !== 'string' || !adapter.provider || adapter.provider.includes(':')) throw problem('`provider` must be a non-empty string without ":"');
  if (typeof adapter.modelId !== 'string' || !adapter.modelId) throw problem('`modelId` must be a non-empty string');
  if (typeof adapter.stream !== 'function' || typeof adapter.generate !== 'function') throw problem('it needs `generate()` and `stream()` methods');
  const info = adapter.info;
  if (typeof info !== 'object' || info === null) throw problem('`info` (catalog facts) is missing');
  for (const field of ['contextWindow', 'maxOutputTokens'] as const) {
    if (!Number.isInteger(info[field]) || info[field] < 1) throw problem(`\`info.${field}\` must be a positive integer, received ${show(info[field])}`);
  }
  for (const field of ['inputPricePerMTok', 'outputPricePerMTok'] as const) {
    if (typeof info[field] !== 'number' || !(info[field] >= 0)) throw problem(`\`info.${field}\` must be a number >= 0, received ${show(info[field])}`);
  }
  return modelRef(adapter as ModelAdapter);
}

/** Validate `new Consensus()` options; returns the models by ref and the fallback chains. */
export function validateConsensusOptions(options: ConsensusOptions): {
  models: Map<ModelRef, ModelAdapter>;
  fallbacks: Map<ModelRef, ModelAdapter[]>;
} {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'new Consensus() needs an options object with at least `models`.');
  }
  if (!Array.isArray(options.models) || options.models.length === 0) {
    throw new InvalidOptionError(
      'models',
      options.models,
      'The `models` option must list at least one model adapter, e.g. `models: [myAdapter("gpt-5.2"), ...]` or `models: demoPanel()` from duh/testing.',
    );
  }
  const models = new Map<ModelRef, ModelAdapter>();
  options.models.forEach((model, index) => {
    const ref = validateAdapter(`models[${index}]`, model);
    if (models.has(ref)) throw new InvalidOptionError(`models[${index}]`, ref, `The \`models\` option lists ${ref} twice; each model may appear once.`);
    models.set(ref, model);
  });
  const known = new Set<string>(models.keys());
  const fallbacks = new Map<ModelRef, ModelAdapter[]>();
  if (options.fallbacks !== undefined) {
    if (typeof options.fallbacks !== 'object' || options.fallbacks === null) {
      throw new InvalidOptionError('fallbacks', options.fallbacks, 'The `fallbacks` option must map model refs to lists of fallback models.');
    }
    for (const [ref, chain] of Object.entries(options.fallbacks)) {
      const option = `fallbacks[${JSON.stringify(ref)}]`;
      knownRef(`fallbacks key ${JSON.stringify(ref)}`, ref, known);
      if (!Array.isArray(chain)) throw new InvalidOptionError(option, chain, `The \`${option}\` option must be an array of model refs or adapters.`);
      fallbacks.set(
        ref as ModelRef,
        chain.map((entry, index) => {
          if (typeof entry === 'string') return models.get(knownRef(`${option}[${index}]`, entry, known))!;
          validateAdapter(`${option}[${index}]`, entry);
          return entry;
        }),
      );
    }
  }
  if (options.storage !== undefined) {
    const storage = options.storage as Partial<StorageDriver> | null;
    const missing = (['createThread', 'appendTurn', 'finishThread', 'getThread', 'listThreads', 'deleteThread', 'saveOutcome', 'exportThreads', 'importThreads'] as const).filter(
      (method) => typeof storage?.[method] !== 'function',
    );
    if (typeof storage !== 'object' || storage === null || storage.specificationVersion !== 'v1' || missing.length > 0) {
      throw new InvalidOptionError(
        'storage',
        typeof storage === 'object' && storage !== null ? `${String(storage.name)} driver` : storage,
        `The \`storage\` option must be a StorageDriver v1 (specificationVersion "v1"${missing.length ? `; missing ${missing.join(', ')}` : ''}). Use memoryStorage(), sqliteStorage(), postgresStorage() or a driver that passes storageDriverConformance.`,
      );
    }
  }
  for (const [option, fn] of [['storage', options.storage], ['logger', options.logger], ['clock', options.clock]] as const) {
    if (fn !== undefined && (typeof fn !== 'object' || fn === null)) {
      throw new InvalidOptionError(option, fn, `The \`${option}\` option must be an object, received ${show(fn)}.`);
    }
  }
  if (options.circuitBreaker !== undefined && options.circuitBreaker !== false) {
    if (typeof options.circuitBreaker !== 'object' || options.circuitBreaker === null) {
      throw new InvalidOptionError('circuitBreaker', options.circuitBreaker, 'The `circuitBreaker` option must be an object or false.');
    }
    const { failureThreshold, cooldownMs } = options.circuitBreaker;
    if (failureThreshold !== undefined) integer('circuitBreaker.failureThreshold', failureThreshold, 1);
    if (cooldownMs !== undefined) number('circuitBreaker.cooldownMs', cooldownMs, 0);
  }
  for (const option of ['onEvent', 'random'] as const) {
    if (options[option] !== undefined && typeof options[option] !== 'function') {
      throw new InvalidOptionError(option, options[option], `The \`${option}\` option must be a function.`);
    }
  }
  // Check the run defaults too, so a bad default fails at construction rather than on the first run.
  resolveRunSettings(options, {}, DEFAULTS_CHECK_QUESTION, models);
  return { models, fallbacks };
}

const DEFAULTS_CHECK_QUESTION = '(checking constructor defaults)';

/** Merge run options over constructor defaults over duh's defaults, and validate the result against the models. */
export function resolveRunSettings(
  defaults: RunSettings,
  run: RunOptions,
  question: unknown,
  models: ReadonlyMap<ModelRef, ModelAdapter>,
): ResolvedRun {
  if (typeof run !== 'object' || run === null) throw new InvalidOptionError('options', run, 'Run options must be an object.');
  if (typeof question !== 'string' || !question.trim()) {
    throw new InvalidOptionError('question', question, `The question must be a non-empty string, received ${show(question)}.`);
  }
  const pick = <K extends keyof RunSettings>(key: K): RunSettings[K] => (run[key] !== undefined ? run[key] : defaults[key]);
  const known = new Set<string>(models.keys());

  const protocol = run.protocol ?? 'consensus';
  if (!PROTOCOLS.includes(protocol)) {
    const upcoming = UPCOMING_PROTOCOLS.includes(protocol as string) ? ' It is not available in this release yet.' : '';
    throw new InvalidOptionError('protocol', protocol, `The \`protocol\` option must be one of ${PROTOCOLS.map(show).join(', ')}, received ${show(protocol)}.${upcoming}`);
  }

  const panelValue = pick('panel');
  const panel = panelValue === undefined ? undefined : refList('panel', panelValue, known, false);
  const proposerValue = pick('proposer');
  const proposer = proposerValue === undefined ? undefined : knownRef('proposer', proposerValue, known);
  const challengersValue = pick('challengers');
  const challengers = challengersValue === undefined ? undefined : refList('challengers', challengersValue, known, false);
  if (!proposer) {
    const pool = panel ?? [...known];
    if (!pool.some((ref) => models.get(ref as ModelRef)?.info.proposerEligible)) {
      const option = panel ? 'panel' : 'models';
      throw new InvalidOptionError(option, pool, `The \`${option}\` option leaves no proposer-eligible model (${pool.join(', ')}). Add one, or pass \`proposer\`.`);
    }
  }

  const framings = pick('framings') ?? CHALLENGE_FRAMINGS;
  if (!Array.isArray(framings) || framings.length === 0 || framings.some((framing) => !CHALLENGE_FRAMINGS.includes(framing))) {
    throw new InvalidOptionError('framings', framings, `The \`framings\` option must be a non-empty array of ${CHALLENGE_FRAMINGS.map(show).join(', ')}, received ${show(framings)}.`);
  }

  for (const value of [defaults.retry, run.retry]) {
    if (value !== undefined && (typeof value !== 'object' || value === null)) throw new InvalidOptionError('retry', value, 'The `retry` option must be an object.');
  }
  // Field by field: a run's `retry: { maxRetries: 0 }` keeps the constructor's delays.
  const defined = (value: RetryOptions | undefined) => Object.fromEntries(Object.entries(value ?? {}).filter(([, field]) => field !== undefined));
  const retry = { ...DEFAULTS.retry, ...defined(defaults.retry), ...defined(run.retry) } as Required<RetryOptions>;
  integer('retry.maxRetries', retry.maxRetries, 0);
  number('retry.baseDelayMs', retry.baseDelayMs, 0);
  number('retry.maxDelayMs', retry.maxDelayMs, 0, MAX_TIMER_MS, ' (the largest timer Node can set, about 24.8 days).');
  if (typeof retry.jitter !== 'boolean') throw new InvalidOptionError('retry.jitter', retry.jitter, 'The `retry.jitter` option must be a boolean.');

  const costLimitUsd = pick('costLimitUsd');
  if (costLimitUsd !== undefined) number('costLimitUsd', costLimitUsd, 0, Infinity, ' Leave it unset for no limit.');
  const classify = pick('classify') ?? DEFAULTS.classify;
  if (typeof classify !== 'boolean') throw new InvalidOptionError('classify', classify, 'The `classify` option must be a boolean.');

  return {
    question,
    protocol,
    rounds: integer('rounds', pick('rounds') ?? DEFAULTS.rounds, 1),
    panel,
    proposer,
    challengers,
    challengerCount: integer('challengerCount', pick('challengerCount') ?? DEFAULTS.challengerCount, 1),
    framings,
    temperature: number('temperature', pick('temperature') ?? DEFAULTS.temperature, 0, 2),
    maxOutputTokens: integer('maxOutputTokens', pick('maxOutputTokens') ?? DEFAULTS.maxOutputTokens, 1),
    convergenceThreshold: number('convergenceThreshold', pick('convergenceThreshold') ?? DEFAULTS.convergenceThreshold, 0, 1),
    classify,
    retry,
    timeoutMs: number('timeoutMs', pick('timeoutMs') ?? DEFAULTS.timeoutMs, 1, MAX_TIMER_MS, ' (the largest timer Node can set, about 24.8 days).'),
    costLimitUsd,
    costWarnUsd: number('costWarnUsd', pick('costWarnUsd') ?? DEFAULTS.costWarnUsd, 0),
  };
}

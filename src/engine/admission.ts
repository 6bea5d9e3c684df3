/**
 * Admission of a run and metering of its calls: the policy (`run:start`, `model:use`, `budget:reserve`), tenant
 * credentials, request buckets, budget reservation (with degradation), and per-call request and token buckets.
 *
 * Protocols stay unaware of all this: they receive an admitted context (models filtered by the policy and
 * switched to the tenant's keys, a cost ledger capped at what was reserved) and call {@link meterCall} around
 * each model call.
 *
 * @module
 */
import type { ModelAdapter, ModelRef } from '../adapter.js';
import { modelRef } from '../adapter.js';
import { AbortedError, BudgetExceededError, InvalidOptionError, LimiterUnavailableError, RateLimitedError, serializeError } from '../errors.js';
import type { BudgetLine, MemberRef } from '../events.js';
import { budgetWindowAt, type BudgetOverflow, type BudgetWindow, type CredentialResolver, type ResolvedBuckets, type ResolvedGovernance } from '../governance.js';
import { bucketOf, type LimitDecision, type Rate } from '../limiter.js';
import { takeWithin } from '../limiter/wait.js';
import type { Policy, PolicyAction, PolicyResource } from '../policy.js';
import { ANONYMOUS } from '../policy.js';
import { decide } from '../policy/authorize.js';
import { CostLedger, type RunContext } from './context.js';
import { type AuditTrail, authorizeAudited, denied } from './audit.js';

/** Engine-wide services of admission, built once by `Consensus`. */
export interface Governance {
  policy: Policy | undefined;
  limits: ResolvedGovernance | undefined;
  credentials: CredentialResolver | undefined;
  audit: AuditTrail;
  /** Adapters switched to tenant keys, by `ref \0 key`, most recently used last. */
  keyed: Map<string, ModelAdapter>;
}

/** What a protocol tells admission about itself. */
export interface ProtocolPlan<Cast> {
  /** The members' adapters, in the order the protocol uses them (first = proposer or equivalent). */
  members(cast: Cast): ModelAdapter[];
  /** Swap adapters (policy filtering, tenant keys); `swap` returns the adapter to use instead. */
  map(cast: Cast, swap: (adapter: ModelAdapter) => ModelAdapter): Cast;
  /** Plan again from a smaller pool of models (after the policy denied some). Throws when impossible. */
  replan(context: RunContext, allowed: ReadonlyMap<ModelRef, ModelAdapter>): Cast;
  /** The cheapest cast that still makes a run (for `onBudget: 'degrade'`). */
  cheapest(context: RunContext, allowed: ReadonlyMap<ModelRef, ModelAdapter>): Cast;
  /** Upper bound on the run's cost with `rounds` rounds. */
  worstCaseUsd(context: RunContext, cast: Cast, rounds: number): number;
}

/** An admitted run: the context and cast to run with, and what to do when it ends. */
export interface Admitted<Cast> {
  context: RunContext;
  cast: Cast;
  /** Settle budgets with what the run really spent. Never throws. */
  release(spentUsd: number): Promise<void>;
}

const MAX_KEYED_ADAPTERS = 512;

const deny = (context: RunContext, action: PolicyAction, resource: PolicyResource, reason: string) => denied(context.governance.audit, context, action, resource, reason);

const ask = (context: RunContext, action: PolicyAction, resource: PolicyResource) => authorizeAudited(context.governance.policy, context.governance.audit, context, action, resource);

/** What `model:use` is asked about: one model of the run. */
const modelResource = (context: RunContext, ref: ModelRef): PolicyResource => ({ type: 'model', tenant: context.scope.tenant, id: ref, models: [ref] });

/**
 * The error to throw when a rate-limit or budget store call rejects: a `LimiterUnavailableError` saying how to fix
 * it, unless the rejection is already one, an abort, or a bad request (those pass through as they are).
 */
function storeFailure(store: { name: string }, what: string, error: unknown): unknown {
  if (LimiterUnavailableError.isInstance(error) || AbortedError.isInstance(error) || InvalidOptionError.isInstance(error)) return error;
  return new LimiterUnavailableError(store.name, `The ${what} store failed: ${serializeError(error).message}. Check it, or let runs through with failOpen.`, { cause: error });
}

/** The policy's `model:use` answers within one admission: `true`, or the reason of a denial. */
type Verdicts = Map<ModelRef, string | true>;

/**
 * Ask `model:use` for every member and fallback; replan without denied models. The returned context's `models`
 * leave out every model known to be denied, and its fallback chains drop them.
 */
async function filterModels<Cast>(context: RunContext, cast: Cast, plan: ProtocolPlan<Cast>, verdicts: Verdicts): Promise<{ context: RunContext; cast: Cast }> {
  const check = async (adapters: Iterable<ModelAdapter>) => {
    const pending = [...new Set([...adapters].map(modelRef))].filter((ref) => !verdicts.has(ref));
    const answers = await Promise.all(
      pending.map((ref) => decide(context.governance.policy, context.principal, 'model:use', modelResource(context, ref))),
    );
    pending.forEach((ref, index) => {
      const answer = answers[index]!;
      verdicts.set(ref, answer.allow ? true : answer.reason);
    });
  };
  const chainLinks = (members: ModelAdapter[]) => members.flatMap((member) => context.fallbacks.get(modelRef(member)) ?? []);
  let current = cast;
  for (let attempt = 0; ; attempt++) {
    const members = plan.members(current);
    await check([...members, ...chainLinks(members)]);
    const denied = members.map(modelRef).filter((ref) => verdicts.get(ref) !== true);
    if (denied.length === 0) break;
    const explicit = denied.find((ref) => context.settings.proposer === ref || context.settings.challengers?.includes(ref));
    if (explicit) throw deny(context, 'model:use', modelResource(context, explicit), verdicts.get(explicit) as string);
    const allowed = new Map([...context.models].filter(([ref]) => typeof verdicts.get(ref) !== 'string'));
    try {
      if (attempt > context.models.size) throw new Error('no stable cast');
      current = plan.replan(context, allowed);
    } catch {
      const first = denied[0]!;
      throw deny(context, 'model:use', modelResource(context, first), `${verdicts.get(first) as string}; no allowed model can take its place`);
    }
  }
  const allowedRefs = new Set([...verdicts].filter(([, verdict]) => verdict === true).map(([ref]) => ref));
  const fallbacks = new Map<ModelRef, readonly ModelAdapter[]>();
  for (const [ref, chain] of context.fallbacks) fallbacks.set(ref, chain.filter((link) => allowedRefs.has(modelRef(link))));
  const models = new Map([...context.models].filter(([ref]) => typeof verdicts.get(ref) !== 'string'));
  return { context: { ...context, models, fallbacks }, cast: current };
}

/** Switch members and fallbacks to the tenant's own provider keys, when it has some. */
async function applyCredentials<Cast>(context: RunContext, cast: Cast, plan: ProtocolPlan<Cast>): Promise<{ context: RunContext; cast: Cast }> {
  const resolver = context.governance.credentials!;
  const members = plan.members(cast);
  const adapters = [...members, ...members.flatMap((member) => context.fallbacks.get(modelRef(member)) ?? [])];
  const providers = [...new Set(adapters.map((adapter) => adapter.provider))];
  const keys = new Map<string, string>();
  await Promise.all(
    providers.map(async (provider) => {
      const found = await resolver({ tenant: context.scope.tenant, provider });
      if (found !== undefined) {
        if (typeof found?.apiKey !== 'string' || !found.apiKey) {
          throw new InvalidOptionError('credentials', provider, `The \`credentials\` resolver must return { apiKey: string } or undefined; for provider \`${provider}\` it returned something else.`);
        }
        keys.set(provider, found.apiKey);
      }
    }),
  );
  if (keys.size === 0) return { context, cast };
  const keyed = context.governance.keyed;
  const swap = (adapter: ModelAdapter): ModelAdapter => {
    const apiKey = keys.get(adapter.provider);
    if (apiKey === undefined) return adapter;
    const ref = modelRef(adapter);
    if (typeof adapter.withApiKey !== 'function') {
      throw new InvalidOptionError(
        'credentials',
        ref,
        `Tenant \`${context.scope.tenant}\` has its own key for \`${adapter.provider}\`, but the adapter of \`${ref}\` cannot switch keys (it has no withApiKey). Use a built-in adapter, add withApiKey to yours, or remove the tenant's key.`,
      );
    }
    const cacheKey = `${ref}\u0000${apiKey}`;
    let copy = keyed.get(cacheKey);
    if (copy) keyed.delete(cacheKey);
    else copy = adapter.withApiKey(apiKey);
    keyed.set(cacheKey, copy);
    if (keyed.size > MAX_KEYED_ADAPTERS) keyed.delete(keyed.keys().next().value!);
    return copy;
  };
  const fallbacks = new Map<ModelRef, readonly ModelAdapter[]>();
  for (const [ref, chain] of context.fallbacks) fallbacks.set(ref, chain.map(swap));
  return { context: { ...context, fallbacks }, cast: plan.map(cast, swap) };
}

/** A taken amount from a bucket, so it can be given back. */
interface Taken {
  key: string;
  rate: Rate;
  amount: number;
  /** The store failed open for this take: nothing was taken, so nothing may be given back. */
  degraded?: boolean;
}


/**
 * Take `cost` from a bucket, waiting (and saying so) while it refills, up to the run's wait budget. Returns the
 * decision; a denied decision means the wait would not have helped in time.
 */
async function take(context: RunContext, key: string, rate: Rate, cost: number, deadline: number, member?: MemberRef): Promise<LimitDecision> {
  const { store } = context.governance.limits!;
  let decision: LimitDecision;
  try {
    decision = await takeWithin(store, { key, ...bucketOf(rate), cost }, {
      clock: context.clock,
      maxWaitMs: Math.max(0, deadline - context.clock.now()),
      signal: context.signal,
      onWait: (_, waitMs) => context.events.emit({ type: 'rate-limit-wait', bucket: key, waitMs: Math.ceil(waitMs), ...(member ? { member } : {}) }),
    });
  } catch (error) {
    throw storeFailure(store, 'rate-limit', error);
  }
  if (decision.degraded !== undefined) warnDegraded(context, decision.degraded);
  return decision;
}

function warnDegraded(context: RunContext, reason: string): void {
  const message = `The rate-limit store failed and let the run through unmetered: ${reason}`;
  context.events.emit({ type: 'warning', code: 'limiter-unavailable', message });
  context.logger.warn({ threadId: context.threadId }, `duh: ${message}`);
}

async function refundAll(context: RunContext, taken: readonly Taken[]): Promise<void> {
  const { store } = context.governance.limits!;
  await Promise.all(
    taken.filter((item) => !item.degraded).map((item) =>
      store.refund({ key: item.key, ...bucketOf(item.rate), amount: item.amount, now: context.clock.now() }).catch((error: unknown) => {
        context.logger.warn({ threadId: context.threadId, bucket: item.key, err: serializeError(error).message }, 'duh: could not refund a rate-limit bucket');
      }),
    ),
  );
}

/** Take from several buckets in order; on a refusal give back what was taken and throw `RateLimitedError`. */
async function takeAll(context: RunContext, wanted: readonly Taken[], member?: MemberRef): Promise<Taken[]> {
  const deadline = context.clock.now() + context.governance.limits!.maxWaitMs;
  const taken: Taken[] = [];
  for (const item of wanted) {
    const decision = await take(context, item.key, item.rate, item.amount, deadline, member).catch(async (error: unknown) => {
      await refundAll(context, taken);
      throw error;
    });
    if (!decision.allowed) {
      await refundAll(context, taken);
      const retryAfterMs = Number.isFinite(decision.retryAfterMs) ? Math.ceil(decision.retryAfterMs) : Number.MAX_SAFE_INTEGER;
      const message = Number.isFinite(decision.retryAfterMs)
        ? `Rate limit \`${item.key}\` (${item.rate.limit} per ${item.rate.windowMs} ms) is exhausted; retry in ${Math.ceil(retryAfterMs / 1000)} s, or raise \`limits.maxWaitMs\` to queue longer.`
        : `Rate limit \`${item.key}\` allows ${item.rate.limit} per window, less than the ${item.amount} this needs; raise the limit or lower \`maxOutputTokens\`.`;
      context.governance.audit.record(context, member ? 'model:use' : 'run:start', item.key, 'deny', message);
      throw new RateLimitedError(item.key, retryAfterMs, message);
    }
    taken.push(decision.degraded === undefined ? item : { ...item, degraded: true });
  }
  return taken;
}

/** A user-supplied part of a store key, escaped so `:` inside ids cannot make two subjects share a key. */
const part = (text: string) => encodeURIComponent(text);
const tenantKey = (context: RunContext) => part(context.scope.tenant);
const userKey = (context: RunContext) => `${tenantKey(context)}:${part(context.principal?.id ?? ANONYMOUS.id)}`;

function subjectBuckets(context: RunContext): { user: ResolvedBuckets | undefined; tenant: ResolvedBuckets | undefined } {
  const limits = context.governance.limits!;
  const principal = context.principal ?? ANONYMOUS;
  return { user: limits.perUser?.(principal), tenant: limits.perTenant?.(principal) };
}

interface Reservation {
  budget: string;
  key: string;
  window: BudgetWindow;
  /** When the window ends (epoch ms). */
  end: number;
  /** When the store may drop the counter: a day after the window, so late settles still land. */
  expiresAt: number;
  amountUsd: number;
  /** The store failed open: nothing was reserved, so settling adds the real cost without taking a reservation off. */
  degraded?: boolean;
}

/** The budgets that apply to this run, with their store keys and windows. */
function budgetsOf(context: RunContext): Reservation[] {
  const limits = context.governance.limits;
  if (!limits) return [];
  const principal = context.principal ?? ANONYMOUS;
  const now = context.clock.now();
  const out: Reservation[] = [];
  const add = (kind: string, window: BudgetWindow | undefined) => {
    if (!window) return;
    const { id, end } = budgetWindowAt(window.per, now);
    const budget = `${kind}:${window.per}`;
    out.push({ budget, key: `budget:${budget}:${id}`, window, end, expiresAt: end + 86_400_000, amountUsd: 0 });
  };
  add(`tenant:${tenantKey(context)}`, limits.budgetPerTenant?.(principal));
  add(`user:${userKey(context)}`, limits.budgetPerUser?.(principal));
  return out;
}

// Budgets are kept in micro-dollars so the stores add integers (exact at any scale a budget has).
const toMicros = (usd: number) => Math.ceil(usd * 1e6 - 1e-6);
const fromMicros = (micros: number) => micros / 1e6;

/** A budget's figures for a `budget` event. */
const lineOf = (budget: Reservation, amountUsd: number, usedMicros: number): BudgetLine => ({
  budget: budget.budget,
  amountUsd,
  usedUsd: fromMicros(usedMicros),
  limitUsd: budget.window.usd,
  resetsAt: new Date(budget.end).toISOString(),
});

/** Reserve `usd` on every budget, all or nothing. Returns the refusal (with figures) instead of throwing. */
async function reserveAll(context: RunContext, budgets: Reservation[], usd: number): Promise<{ ok: true; lines: BudgetLine[] } | { ok: false; figures: ConstructorParameters<typeof BudgetExceededError>[0]; availableUsd: number }> {
  const { store } = context.governance.limits!;
  const done: Reservation[] = [];
  const lines: BudgetLine[] = [];
  const amount = toMicros(usd);
  for (const budget of budgets) {
    const decision = await store.reserve({ key: budget.key, limit: toMicros(budget.window.usd), amount, expiresAt: budget.expiresAt, now: context.clock.now() }).catch(async (error: unknown) => {
      await settleAll(context, done, 0, false);
      throw storeFailure(store, 'budget', error);
    });
    if (decision.degraded !== undefined) warnDegraded(context, decision.degraded);
    budget.degraded = decision.degraded !== undefined;
    if (!decision.allowed) {
      await settleAll(context, done, 0, false);
      const { limitUsd, usedUsd, resetsAt } = lineOf(budget, 0, decision.used);
      return {
        ok: false,
        figures: { budget: budget.budget, limitUsd, usedUsd, requestedUsd: usd, resetsAt },
        availableUsd: Math.max(0, budget.window.usd - fromMicros(decision.used)),
      };
    }
    budget.amountUsd = fromMicros(amount);
    done.push(budget);
    lines.push(lineOf(budget, fromMicros(amount), decision.used));
  }
  return { ok: true, lines };
}

/** Replace each reservation with `spentUsd`. Logs (never throws) when the store fails: the reservation then expires with its window. */
async function settleAll(context: RunContext, budgets: readonly Reservation[], spentUsd: number, emit: boolean): Promise<void> {
  if (budgets.length === 0) return;
  const { store } = context.governance.limits!;
  const lines: BudgetLine[] = [];
  await Promise.all(
    budgets.map(async (budget) => {
      try {
        const reserved = budget.degraded ? 0 : toMicros(budget.amountUsd);
        const { used } = await store.settle({ key: budget.key, reserved, actual: toMicros(spentUsd), expiresAt: budget.expiresAt, now: context.clock.now() });
        lines.push(lineOf(budget, spentUsd, used));
      } catch (error) {
        context.logger.error({ threadId: context.threadId, budget: budget.budget, err: serializeError(error).message }, 'duh: could not settle a budget; its reservation stays until the window ends');
      }
    }),
  );
  if (emit && lines.length) context.events.emit({ type: 'budget', action: 'settle', budgets: lines });
}

/**
 * Admit a run: policy, credentials, request buckets and budgets, in that order. Throws (after writing a `deny`
 * audit entry) when the run may not start; nothing is stored for a refused run.
 */
export async function admit<Cast>(context: RunContext, cast: Cast, plan: ProtocolPlan<Cast>, onBudget: BudgetOverflow | undefined): Promise<Admitted<Cast>> {
  const { governance } = context;
  const noop: Admitted<Cast> = { context, cast, release: async () => {} };
  if (!governance.policy && !governance.limits && !governance.credentials) return noop;
  const tenant = context.scope.tenant;
  const base = context;
  const verdicts: Verdicts = new Map();
  // A cast as the run will use it: models the policy denied planned around, tenant keys switched in. Used for the
  // planned cast and again for a cheaper one when a budget makes the run degrade.
  const prepare = async (candidate: Cast): Promise<{ context: RunContext; cast: Cast }> => {
    let prepared = { context: base, cast: candidate };
    if (governance.policy) prepared = await filterModels(base, candidate, plan, verdicts);
    if (governance.credentials) prepared = await applyCredentials(prepared.context, prepared.cast, plan);
    return prepared;
  };
  if (governance.policy) {
    const models = plan.members(cast).map(modelRef);
    await ask(context, 'run:start', { type: 'run', tenant, id: context.threadId, ownerId: context.userId, models, question: context.settings.question });
  }
  ({ context, cast } = await prepare(cast));

  let rounds = context.settings.rounds;
  let worstCase = plan.worstCaseUsd(context, cast, rounds);
  if (governance.policy) {
    await ask(context, 'budget:reserve', { type: 'budget', tenant, ownerId: context.userId, usd: worstCase });
  }
  if (!governance.limits) return { context, cast, release: async () => {} };

  // Request buckets: one request per admitted run for the user and the tenant. A run the budget refuses was not
  // admitted, so it gives its request back.
  const { user, tenant: tenantBuckets } = subjectBuckets(context);
  const wanted: Taken[] = [];
  if (user?.requests) wanted.push({ key: `user:${userKey(context)}:requests`, rate: user.requests, amount: 1 });
  if (tenantBuckets?.requests) wanted.push({ key: `tenant:${tenantKey(context)}:requests`, rate: tenantBuckets.requests, amount: 1 });
  const requests = wanted.length ? await takeAll(context, wanted) : [];

  const budgets = budgetsOf(context);
  if (budgets.length === 0) return { context: withCallLimits(context), cast, release: async () => {} };
  const limits = governance.limits;
  try {
    let reserved = await reserveAll(context, budgets, worstCase);
    if (!reserved.ok && (onBudget ?? limits.onExceed) === 'degrade') {
      // Scale down: fewer rounds first, then the cheapest cast of the models the principal may use (with the
      // tenant's keys). What is left is known only for the budgets asked so far, so each refusal tightens it and
      // the search goes on with the next option that fits.
      const fromRounds = rounds;
      const options: { context: RunContext; cast: Cast; rounds: number }[] = [];
      for (let r = rounds - 1; r >= 1; r--) options.push({ context, cast, rounds: r });
      const cheap = await Promise.resolve()
        .then(() => prepare(plan.cheapest(base, context.models)))
        .catch(() => undefined); // no cheaper cast the policy allows: fewer rounds are the only way down
      if (cheap) for (let r = rounds; r >= 1; r--) options.push({ ...cheap, rounds: r });
      let available = reserved.availableUsd;
      for (const option of options) {
        const cost = plan.worstCaseUsd(option.context, option.cast, option.rounds);
        if (cost > available) continue;
        const attempt = await reserveAll(context, budgets, cost);
        if (!attempt.ok) {
          available = Math.min(available, attempt.availableUsd);
          continue;
        }
        reserved = attempt;
        cast = option.cast;
        rounds = option.rounds;
        worstCase = cost;
        context = { ...option.context, settings: { ...option.context.settings, rounds } };
        context.events.emit({ type: 'budget-degraded', fromRounds, toRounds: rounds, models: plan.members(cast).map(modelRef), worstCaseUsd: worstCase, availableUsd: available });
        break;
      }
    }
    if (!reserved.ok) {
      const error = new BudgetExceededError(reserved.figures);
      governance.audit.record(context, 'budget:reserve', `budget:${reserved.figures.budget}`, 'deny', error.message);
      throw error;
    }
    context.events.emit({ type: 'budget', action: 'reserve', budgets: reserved.lines });
    // The run may not spend more than it reserved: that is what keeps concurrent runs within the budget.
    const cap = Math.min(context.settings.costLimitUsd ?? Infinity, worstCase);
    let released = false;
    const release = async (spentUsd: number) => {
      if (released) return;
      released = true;
      await settleAll(admitted, budgets, spentUsd, true);
    };
    const admitted: RunContext = withCallLimits({ ...context, ledger: new CostLedger(cap, context.settings.costWarnUsd), finish: release });
    return { context: admitted, cast, release };
  } catch (error) {
    await refundAll(context, requests);
    throw error;
  }
}

/**
 * Admit and run: refusals are reported as an `error` event (and a `deny` audit entry) like any failure; an
 * admitted run is audited as `run:start` and `run:end`, and its budgets are settled however it ends.
 */
export async function runAdmitted<Cast, Result extends { cost: { totalUsd: number } }>(
  context: RunContext,
  cast: Cast,
  plan: ProtocolPlan<Cast>,
  onBudget: BudgetOverflow | undefined,
  run: (context: RunContext, cast: Cast) => Promise<Result>,
): Promise<Result> {
  let admitted: Admitted<Cast>;
  try {
    admitted = await admit(context, cast, plan, onBudget);
  } catch (error) {
    const serialized = serializeError(error);
    context.events.emit({ type: 'error', error: serialized });
    context.logger.warn({ threadId: context.threadId, code: serialized.code }, `duh: run refused: ${serialized.message}`);
    throw error;
  }
  const { audit } = context.governance;
  const resource = `thread:${context.threadId}`;
  audit.record(context, 'run:start', resource, 'allow', undefined, { rounds: admitted.context.settings.rounds });
  try {
    const result = await run(admitted.context, admitted.cast);
    audit.record(context, 'run:end', resource, 'success', undefined, { costUsd: result.cost.totalUsd });
    return result;
  } catch (error) {
    audit.record(context, 'run:end', resource, 'failure', serializeError(error).message, { costUsd: admitted.context.ledger.spentUsd });
    throw error;
  } finally {
    await admitted.release(admitted.context.ledger.spentUsd);
  }
}

/** Attach per-call metering when any call bucket applies. */
function withCallLimits(context: RunContext): RunContext {
  const limits = context.governance.limits;
  if (!limits) return context;
  const { user, tenant } = subjectBuckets(context);
  if (!user?.tokens && !tenant?.tokens && limits.perModel.size === 0) return context;
  return { ...context, meter: { user, tenant } };
}

/** A call's draw on the buckets, reconciled with its real usage afterwards. */
export interface CallTicket {
  /** Reconcile the token buckets with the call's real usage (`undefined`: the call failed, give it all back). */
  settle(tokensUsed: number | undefined): Promise<void>;
}

const NO_TICKET: CallTicket = { settle: async () => {} };

/**
 * Draw on the request and token buckets of a model call: the user's and tenant's token buckets, and the
 * provider's and model's request and token buckets. Waits up to `limits.maxWaitMs`, then throws
 * `RateLimitedError`. `estimatedTokens` is the prompt estimate plus the output budget.
 */
export async function meterCall(context: RunContext, model: ModelAdapter, estimatedTokens: number, member: MemberRef): Promise<CallTicket> {
  const meter = context.meter;
  if (!meter) return NO_TICKET;
  const limits = context.governance.limits!;
  const ref = modelRef(model);
  const wanted: Taken[] = [];
  const tokenKeys = new Set<string>();
  const add = (key: string, rate: Rate | undefined, amount: number, tokens: boolean) => {
    if (!rate) return;
    wanted.push({ key, rate, amount });
    if (tokens) tokenKeys.add(key);
  };
  const tokens = Math.max(1, Math.ceil(estimatedTokens));
  for (const subject of [model.provider, ref]) {
    const buckets = limits.perModel.get(subject);
    add(`model:${subject}:requests`, buckets?.requests, 1, false);
    add(`model:${subject}:tokens`, buckets?.tokens, tokens, true);
  }
  add(`user:${userKey(context)}:tokens`, meter.user?.tokens, tokens, true);
  add(`tenant:${tenantKey(context)}:tokens`, meter.tenant?.tokens, tokens, true);
  if (wanted.length === 0) return NO_TICKET;
  const tokenBuckets = (await takeAll(context, wanted, member)).filter((item) => tokenKeys.has(item.key));
  if (tokenBuckets.length === 0) return NO_TICKET;
  return {
    settle: async (tokensUsed) => {
      const used = tokensUsed ?? 0;
      if (used < tokens) {
        await refundAll(context, tokenBuckets.map((item) => ({ ...item, amount: tokens - used })));
      } else if (used > tokens) {
        // More than estimated: draw the difference without waiting (the call has happened). When the bucket holds
        // less, draw what it holds, so it runs dry rather than ignoring the overage.
        await Promise.all(
          tokenBuckets
            .filter((item) => !item.degraded)
            .map(async (item) => {
              const request = { key: item.key, ...bucketOf(item.rate), now: context.clock.now() };
              const first = await limits.store.take({ ...request, cost: Math.min(used - tokens, item.rate.limit) });
              if (!first.allowed && first.remaining > 0) await limits.store.take({ ...request, cost: first.remaining });
            })
            .map((draw) => draw.catch(() => undefined)),
        );
      }
    },
  };
}

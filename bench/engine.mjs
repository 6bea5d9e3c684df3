// The engine under test and its physical floor: a panel of MockAdapter members and the equivalent plain-JS round.
import { contribution } from './lib.mjs';

export const QUESTION = 'Should a five-person startup build its backend as a monolith or as microservices?';
export const TEXT = contribution(2048);
/** What a classifier returns: the taxonomy call asks for JSON, so members answer it with a small JSON object. */
export const TAXONOMY = '{"intent":"strategic","category":"software architecture","genus":"build-vs-split decision"}';
const reply = (request) => (request.responseFormat === 'json' ? TAXONOMY : TEXT);

/** Load the built engine (dist/), failing with a clear message when it has not been built. */
export async function loadDuh() {
  try {
    const [{ Consensus }, { MockAdapter }] = await Promise.all([
      import(new URL('../dist/index.mjs', import.meta.url).href),
      import(new URL('../dist/testing.mjs', import.meta.url).href),
    ]);
    return { Consensus, MockAdapter };
  } catch (error) {
    throw new Error(`Could not load dist/ (run \`npx tsdown\` or \`npm run build\` first): ${error.message}`, { cause: error });
  }
}

/**
 * N members with distinct providers. p1 has the highest output price, so it is always the proposer, and the
 * cross-provider challenger selection picks p2..pN in order. Input prices are equal, so the classifier (the
 * cheapest by input price, earlier wins ties) is p1 as well. Debate calls get the ~2 KB TEXT; the taxonomy call
 * (responseFormat 'json') gets TAXONOMY.
 */
export function makeMembers(MockAdapter, n, latencyMs) {
  return Array.from(
    { length: n },
    (_, i) =>
      new MockAdapter({
        ref: `p${i + 1}:m`,
        info: { inputPricePerMTok: 1, outputPricePerMTok: 20 - i },
        reply,
        ...(latencyMs > 0 ? { latencyMs } : {}),
      }),
  );
}

/** A storage driver that keeps nothing: shows what the default memory storage costs. */
export const noopStorage = {
  specificationVersion: 'v1',
  name: 'noop',
  async createThread() {},
  async appendTurn() {},
  async finishThread() {},
  async getThread() {
    return null;
  },
  async listThreads() {
    return { total: 0, threads: [] };
  },
  async deleteThread() {
    return false;
  },
  async saveOutcome() {},
  async *exportThreads() {},
  async importThreads(threads) {
    return { threads: threads.length };
  },
};

/** One engine round: `rounds: 1`, 1 proposer + N−1 challengers. */
export function engineRound(duh, members, { classify }) {
  return () => duh.ask(QUESTION, { rounds: 1, challengerCount: members.length - 1, classify });
}

/** MockAdapter records every request; drop them so a long batch does not grow the heap (not engine work). */
export function forgetCalls(members) {
  for (const member of members) member.calls.length = 0;
}

/** Check the cast is what the bench assumes (proposer p1, N−1 distinct challengers, classifier iff asked). */
export function checkCast(result, n, classify) {
  const round = result.rounds[0];
  const problems = [];
  if (result.rounds.length !== 1) problems.push(`${result.rounds.length} rounds`);
  if (round.proposal.model !== 'p1:m') problems.push(`proposer ${round.proposal.model}`);
  const challengers = new Set(round.challenges.map((challenge) => challenge.model));
  if (round.challenges.length !== n - 1 || challengers.size !== n - 1 || challengers.has('p1:m')) {
    problems.push(`challengers ${[...challengers].join(',')}`);
  }
  if (Boolean(round.classification) !== classify) problems.push(`classification ${round.classification ? 'present' : 'missing'}`);
  if (classify && !round.taxonomy) problems.push('taxonomy not parsed');
  if (problems.length) throw new Error(`Unexpected cast for N=${n} classify=${classify}: ${problems.join('; ')}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The fake provider of the floor, as in performance.md A4: sleeps D ms (setTimeout) or returns at once. */
function provider(D) {
  return D > 0
    ? async (_prompt, text = TEXT) => {
        await sleep(D);
        return text;
      }
    : async (_prompt, text = TEXT) => text;
}

/**
 * The physical floor of one round in plain JS: propose (1 call) → challenge (N−1 in parallel, each sees the
 * proposal) → revise (1 call, sees every challenge) [→ classify (1 call) when asked]. Same 2 KB texts, same
 * prompt concatenation, same setTimeout, so timer lateness is in the floor too.
 */
export function floorRound(n, D, { classify }) {
  const call = provider(D);
  return async () => {
    const proposal = await call(QUESTION);
    const challenges = await Promise.all(
      Array.from({ length: n - 1 }, (_, i) => call(`${QUESTION}\n--- proposal ---\n${proposal}\n--- you are challenger ${i}`)),
    );
    const revision = await call(`${QUESTION}\n--- proposal ---\n${proposal}\n--- challenges ---\n${challenges.join('\n---\n')}`);
    if (classify) JSON.parse(await call(`${QUESTION}\n--- decision ---\n${revision}`, TAXONOMY));
    return revision;
  };
}

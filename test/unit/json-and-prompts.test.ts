import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/adapter.js';
import { extractJsonObject } from '../../src/protocol/json.js';
import {
  buildChallengeMessages,
  buildProposeMessages,
  buildReviseMessages,
  buildTaxonomyMessages,
  dateGrounding,
  tokenBudgetNote,
} from '../../src/protocol/prompts.js';
import { CHALLENGE_FRAMINGS } from '../../src/record.js';

describe('extractJsonObject', () => {
  it('parses the whole (trimmed) text first', () => {
    expect(extractJsonObject('  \n{"a": 1, "b": [1, 2], "c": {"d": {"e": true}}}\n  ')).toEqual({
      a: 1,
      b: [1, 2],
      c: { d: { e: true } },
    });
  });

  it('prefers the whole text over an object nested inside it', () => {
    // The bare-object fallback would find {"inner": 1}; the whole text wins.
    expect(extractJsonObject('{"outer": {"inner": 1}}')).toEqual({ outer: { inner: 1 } });
  });

  it('falls back to the first ```json fenced block', () => {
    const text = 'Here you go:\n```json\n{"intent": "technical", "n": 2}\n```\nand another\n```json\n{"intent": "factual"}\n```';
    expect(extractJsonObject(text)).toEqual({ intent: 'technical', n: 2 });
  });

  it('takes the fenced block before a bare object that appears earlier in the prose', () => {
    const text = 'Ignore {"not": "this one"} please.\n```json\n{"pick": "me"}\n```';
    expect(extractJsonObject(text)).toEqual({ pick: 'me' });
  });

  it('reads a fenced block whose object has deep nesting (non-greedy up to the closing fence)', () => {
    const text = 'Result:\n```json\n{"a": {"b": {"c": 1}}}\n```';
    expect(extractJsonObject(text)).toEqual({ a: { b: { c: 1 } } });
  });

  it('falls back to the first bare object in prose', () => {
    expect(extractJsonObject('Sure! {"intent": "factual", "category": "history"} Hope that helps. {"x": 1}')).toEqual({
      intent: 'factual',
      category: 'history',
    });
  });

  it('allows one level of nesting in a bare object', () => {
    expect(extractJsonObject('Answer: {"a": 1, "b": {"c": 2}} done')).toEqual({ a: 1, b: { c: 2 } });
  });

  it('with two levels of nesting in prose, finds only the inner one-level object', () => {
    expect(extractJsonObject('Answer: {"a": {"b": {"c": 2}}} done')).toEqual({ b: { c: 2 } });
  });

  it.each([['[1, 2, 3]'], ['["a", "b"]'], ['[]'], ['"a string"'], ['42'], ['null'], ['true']])(
    'rejects non-object JSON %j',
    (text) => {
      expect(extractJsonObject(text)).toBeUndefined();
    },
  );

  it('rejects a fenced array', () => {
    expect(extractJsonObject('```json\n[1, 2]\n```')).toBeUndefined();
  });

  it.each([[''], ['   '], ['\n\t\n']])('returns undefined for empty text %j', (text) => {
    expect(extractJsonObject(text)).toBeUndefined();
  });

  it.each([['no json here'], ['{not: valid}'], ['{"unterminated": '], ["{'single': 'quotes'}"]])(
    'returns undefined for garbage %j',
    (text) => {
      expect(extractJsonObject(text)).toBeUndefined();
    },
  );
});

const NOW = new Date('2026-03-05T23:30:00Z');
const BUDGET = 16_384;

const systemOf = (messages: readonly ChatMessage[]): string => {
  const first = messages[0];
  expect(first?.role).toBe('system');
  return first?.content ?? '';
};
const userOf = (messages: readonly ChatMessage[]): string => {
  expect(messages).toHaveLength(2);
  const last = messages[1];
  expect(last?.role).toBe('user');
  return last?.content ?? '';
};

describe('dateGrounding', () => {
  it('states the UTC date as YYYY-MM-DD', () => {
    expect(dateGrounding(NOW)).toMatch(/^Today's date is 2026-03-05\. /);
  });

  it('uses the UTC day, not the local one', () => {
    expect(dateGrounding(new Date('2026-12-31T23:59:59.999Z'))).toContain("Today's date is 2026-12-31.");
    expect(dateGrounding(new Date('2027-01-01T00:00:00Z'))).toContain("Today's date is 2027-01-01.");
    // 23:30 at UTC-05:00 on 4 March is already 5 March in UTC.
    expect(dateGrounding(new Date('2026-03-04T23:30:00-05:00'))).toContain("Today's date is 2026-03-05.");
  });

  it('zero-pads month and day', () => {
    expect(dateGrounding(new Date(Date.UTC(2026, 0, 7, 12)))).toContain("Today's date is 2026-01-07.");
  });

  it('asks to anchor time-sensitive claims in the current date', () => {
    expect(dateGrounding(NOW)).toMatch(/time-sensitive/);
  });
});

describe('tokenBudgetNote', () => {
  it('prints 16,384 with a thousands separator', () => {
    const note = tokenBudgetNote(16_384);
    expect(note).toContain('16,384');
    expect(note).not.toContain('16384');
  });

  it('prints larger and smaller budgets with separators', () => {
    expect(tokenBudgetNote(1_000_000)).toContain('1,000,000');
    expect(tokenBudgetNote(8_192)).toContain('8,192');
    expect(tokenBudgetNote(512)).toContain(' 512 ');
  });

  it('asks to finish on a complete thought', () => {
    expect(tokenBudgetNote(BUDGET)).toMatch(/complete thought/);
  });
});

describe('system prompt composition', () => {
  it('is date grounding + blank line + role + budget note for every debate phase', () => {
    const systems = [
      systemOf(buildProposeMessages({ question: 'Q?', now: NOW, maxOutputTokens: BUDGET })),
      ...CHALLENGE_FRAMINGS.map((framing) =>
        systemOf(buildChallengeMessages({ question: 'Q?', proposal: 'P.', framing, now: NOW, maxOutputTokens: BUDGET })),
      ),
      systemOf(
        buildReviseMessages({ question: 'Q?', proposal: 'P.', challenges: [{ model: 'a:b', text: 'C.' }], now: NOW, maxOutputTokens: BUDGET }),
      ),
    ];
    for (const system of systems) {
      expect(system.startsWith(`${dateGrounding(NOW)}\n\n`)).toBe(true);
      expect(system.endsWith(tokenBudgetNote(BUDGET))).toBe(true);
      expect(system).toContain('16,384');
    }
  });
});

describe('buildProposeMessages', () => {
  it('round 1: the user message is the question verbatim', () => {
    const question = '  Should a five-person startup build a monolith?\nBe specific.  ';
    const messages = buildProposeMessages({ question, now: NOW, maxOutputTokens: BUDGET });
    expect(userOf(messages)).toBe(question);
  });

  it('round > 1: contains the question, the previous decision and every previous challenge as bullets', () => {
    const previous = {
      decision: 'Build a modular monolith on Postgres.',
      challenges: ['The cost estimate ignores egress fees.', 'A managed queue removes custom retries.', 'Hiring for Elixir is hard.'],
    };
    const user = userOf(buildProposeMessages({ question: 'Monolith or microservices?', now: NOW, maxOutputTokens: BUDGET, previous }));
    expect(user.startsWith('Monolith or microservices?')).toBe(true);
    expect(user).toContain(previous.decision);
    for (const challenge of previous.challenges) expect(user).toContain(`- ${challenge}`);
    expect(user.indexOf(previous.decision)).toBeLessThan(user.indexOf(previous.challenges[0]!));
    expect(user).toMatch(/improved answer/);
  });

  it('round > 1 differs from round 1 only when previous is given', () => {
    const round1 = buildProposeMessages({ question: 'Q?', now: NOW, maxOutputTokens: BUDGET, previous: undefined });
    expect(userOf(round1)).toBe('Q?');
  });
});

describe('buildChallengeMessages: anti-sycophancy anchors', () => {
  const build = (framing: (typeof CHALLENGE_FRAMINGS)[number]) =>
    buildChallengeMessages({
      question: 'Monolith or microservices?',
      proposal: 'Use microservices from day one.',
      framing,
      now: NOW,
      maxOutputTokens: BUDGET,
    });

  it('covers the four framings', () => {
    expect(CHALLENGE_FRAMINGS).toEqual(['flaw', 'alternative', 'risk', 'devils-advocate']);
  });

  it.each(CHALLENGE_FRAMINGS)('%s: the system prompt demands with "MUST"', (framing) => {
    expect(systemOf(build(framing))).toContain('MUST');
  });

  it.each(CHALLENGE_FRAMINGS)('%s: the system prompt forbids opening with praise', (framing) => {
    const system = systemOf(build(framing));
    expect(system).toMatch(/MUST NOT open with praise/);
    expect(system).toMatch(/first sentence MUST state a criticism/i);
  });

  it.each(CHALLENGE_FRAMINGS)('%s: the framings have distinct roles', (framing) => {
    const others = CHALLENGE_FRAMINGS.filter((other) => other !== framing);
    for (const other of others) expect(systemOf(build(framing))).not.toBe(systemOf(build(other)));
  });

  it('flaw mentions factual and logical errors', () => {
    const system = systemOf(build('flaw'));
    expect(system).toMatch(/factual/i);
    expect(system).toMatch(/logical/i);
    expect(system).toMatch(/error/i);
  });

  it('alternative asks for a fundamentally different approach', () => {
    expect(systemOf(build('alternative'))).toMatch(/fundamentally different/i);
  });

  it('risk asks for at least two risks', () => {
    expect(systemOf(build('risk'))).toMatch(/at least two/i);
  });

  it('devils-advocate suggests an "I disagree" opener', () => {
    expect(systemOf(build('devils-advocate'))).toContain('I disagree');
  });

  it.each(CHALLENGE_FRAMINGS)('%s: the user message has the question, the proposal, and says to challenge rather than defer', (framing) => {
    const user = userOf(build(framing));
    expect(user.startsWith('Question: Monolith or microservices?')).toBe(true);
    expect(user).toContain('Use microservices from day one.');
    expect(user).toMatch(/challenge/i);
    expect(user).toMatch(/not to\s+defer/i);
  });
});

describe('buildReviseMessages', () => {
  const challenges = [
    { model: 'openai:gpt-5.2', text: 'The cost estimate ignores egress fees.' },
    { model: 'perplexity:sonar-pro', text: 'A managed queue removes custom retries.' },
  ];
  const user = userOf(
    buildReviseMessages({ question: 'Monolith?', proposal: 'Use microservices.', challenges, now: NOW, maxOutputTokens: BUDGET }),
  );

  it('has the question and the original answer', () => {
    expect(user.startsWith('Question: Monolith?')).toBe(true);
    expect(user).toContain('Your original answer:\nUse microservices.');
  });

  it('has one `Challenge from <model>:` block per challenge, separated by a blank line', () => {
    expect(user).toContain(
      'Challenge from openai:gpt-5.2:\nThe cost estimate ignores egress fees.\n\nChallenge from perplexity:sonar-pro:\nA managed queue removes custom retries.',
    );
    expect(user.match(/Challenge from /g)).toHaveLength(2);
  });

  it('ends with a request for the improved final answer', () => {
    expect(user).toMatch(/improved final answer\.?$/);
  });

  it('the system prompt forbids mentioning the debate and asks to push back on wrong challenges', () => {
    const system = systemOf(
      buildReviseMessages({ question: 'Q', proposal: 'P', challenges, now: NOW, maxOutputTokens: BUDGET }),
    );
    expect(system).toMatch(/push back/i);
    expect(system).toMatch(/do not mention/i);
  });
});

describe('buildTaxonomyMessages', () => {
  it('is a single user message asking for the JSON keys and the five intents', () => {
    const messages = buildTaxonomyMessages({ question: 'Monolith?', decision: 'Build a modular monolith.' });
    expect(messages).toHaveLength(1);
    const only = messages[0];
    expect(only?.role).toBe('user');
    const content = only?.content ?? '';
    for (const key of ['"intent"', '"category"', '"genus"']) expect(content).toContain(key);
    for (const intent of ['factual', 'judgment', 'creative', 'strategic', 'technical']) expect(content).toContain(`"${intent}"`);
    expect(content).toContain('Question: Monolith?');
    expect(content).toContain('Decision: Build a modular monolith.');
    expect(content).toMatch(/JSON/);
  });
});

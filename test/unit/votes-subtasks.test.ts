// Votes and subtasks outside the drivers: the shared validators, the export formats, backups (old and new) and
// requireStorageMethod. The drivers' behaviour is the conformance suite's (src/testing/conformance.ts).
import { describe, expect, it } from 'vitest';
import { parseBackup } from '../../src/backup.js';
import { Consensus } from '../../src/consensus.js';
import { StorageError } from '../../src/errors.js';
import { threadToJson, threadToMarkdown } from '../../src/export.js';
import { costRowsOf } from '../../src/records.js';
import {
  requireStorageMethod,
  type StorageDriver,
  type StoredSubtask,
  type StoredThread,
  type StoredVote,
  subtaskPlanProblem,
  subtasksInOrder,
  voteProblem,
} from '../../src/storage.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { memoryStorage } from '../../storage/memory.js';
import { sqliteStorage } from '../../storage/sqlite.js';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

const vote = (model: StoredVote['model'], content: string, costUsd: number, overrides: Partial<StoredVote> = {}): StoredVote => ({
  model,
  content,
  inputTokens: 10,
  outputTokens: 20,
  costUsd,
  latencyMs: 5,
  finishReason: 'stop',
  truncated: false,
  createdAt: at(50),
  ...overrides,
});
const subtask = (label: string, dependencies: string[] = [], overrides: Partial<StoredSubtask> = {}): StoredSubtask => ({
  label,
  description: `What about ${label}?`,
  dependencies,
  status: 'pending',
  sequenceOrder: 0,
  childThreadId: null,
  createdAt: at(60),
  updatedAt: at(60),
  ...overrides,
});

const thread = (overrides: Partial<StoredThread> = {}): StoredThread => ({
  id: '0195aaaa-0000-7000-8000-000000000001',
  question: 'Which database?',
  protocol: 'consensus',
  userId: 'alice',
  createdAt: at(1),
  tenant: 'acme',
  status: 'complete',
  updatedAt: at(100),
  error: null,
  turns: [
    {
      roundNumber: 1,
      state: 'COMMIT',
      contributions: [{ model: 'openai:gpt-5.2', role: 'proposer', content: 'Postgres.', inputTokens: 1, outputTokens: 2, costUsd: 0.25, latencyMs: 1, finishReason: 'stop', truncated: false }],
      decision: { content: 'Use Postgres.', confidence: 0.8, rigor: 0.5, dissent: null, taxonomy: null },
      createdAt: at(10),
      completedAt: at(20),
    },
  ],
  outcome: null,
  votes: [vote('openai:gpt-5.2', 'Postgres, for the JSON support.', 0.5), vote('anthropic:claude-opus-4-6', 'Postgres.', 0.125)],
  subtasks: [
    subtask('schema', [], { sequenceOrder: 1, status: 'complete', childThreadId: '0195aaaa-0000-7000-8000-000000000002' }),
    subtask('load', ['schema'], { sequenceOrder: 2 }),
  ],
  ...overrides,
});

describe('voteProblem and subtaskPlanProblem', () => {
  it('accept valid records and name what is wrong with bad ones', () => {
    expect(voteProblem(vote('openai:gpt-5.2', 'x', 0))).toBeUndefined();
    expect(voteProblem({ ...vote('openai:gpt-5.2', 'x', 0), costUsd: Number.NaN })).toBe('`costUsd` of a vote must be a finite number');
    expect(voteProblem({ ...vote('openai:gpt-5.2', 'x', 0), model: '' })).toBe('`model` of a vote must be a non-empty string');
    expect(voteProblem({ ...vote('openai:gpt-5.2', 'x', 0), providerMetadata: [] })).toBe('`providerMetadata` of a vote must be an object');
    expect(voteProblem(null)).toBe('a vote must be an object');

    expect(subtaskPlanProblem([], [subtask('a'), subtask('b', ['a']), subtask('c', ['a', 'b'])])).toBeUndefined();
    expect(subtaskPlanProblem([subtask('a')], [subtask('b', ['a'])])).toBeUndefined();
    expect(subtaskPlanProblem([subtask('a')], [subtask('a')])).toMatch(/label `a` is used twice/);
    expect(subtaskPlanProblem([], [subtask('b', ['a'])])).toMatch(/depends on `a`, which is not a subtask/);
    expect(subtaskPlanProblem([], [subtask('a', ['a'])])).toBe('subtask `a` depends on itself');
    expect(subtaskPlanProblem([], [subtask('a', ['c']), subtask('b', ['a']), subtask('c', ['b'])])).toBe('the dependencies form a cycle (a → c → b → a)');
    expect(subtaskPlanProblem([], [subtask('🚀'.repeat(200))])).toBeUndefined(); // 200 characters, 400 UTF-16 units
    expect(subtaskPlanProblem([], [subtask('x'.repeat(201))])).toMatch(/`label` must be a string of 1 to 200 characters/);
    expect(subtaskPlanProblem([], [subtask('a', [], { sequenceOrder: 0.5 })])).toMatch(/`sequenceOrder` of subtask `a` must be an integer/);
    expect(subtaskPlanProblem([], [subtask('a', [], { childThreadId: '' })])).toMatch(/`childThreadId` of subtask `a`/);
    expect(subtaskPlanProblem([], 'nope' as never)).toBe('subtasks must be an array');
  });

  it('subtasksInOrder sorts by sequenceOrder and keeps the written order of ties', () => {
    const plan = [subtask('b', [], { sequenceOrder: 2 }), subtask('a', [], { sequenceOrder: 1 }), subtask('c', [], { sequenceOrder: 1 })];
    expect(subtasksInOrder(plan).map((each) => each.label)).toEqual(['a', 'c', 'b']);
  });
});

describe('export formats', () => {
  it('JSON: votes as duh writes them ({ model_ref, content }), and a subtasks array only when there are subtasks', () => {
    const document = threadToJson(thread(), at(200));
    expect(document['votes']).toEqual([
      { model_ref: 'openai:gpt-5.2', content: 'Postgres, for the JSON support.' },
      { model_ref: 'anthropic:claude-opus-4-6', content: 'Postgres.' },
    ]);
    expect(document['subtasks']).toEqual([
      { label: 'schema', description: 'What about schema?', dependencies: [], status: 'complete', sequence_order: 1, child_thread_id: '0195aaaa-0000-7000-8000-000000000002', created_at: at(60), updated_at: at(60) },
      { label: 'load', description: 'What about load?', dependencies: ['schema'], status: 'pending', sequence_order: 2, child_thread_id: null, created_at: at(60), updated_at: at(60) },
    ]);
    expect(Object.keys(document)).toEqual(['thread_id', 'question', 'status', 'created_at', 'turns', 'votes', 'subtasks', 'exported_at']);
    const plain = threadToJson(thread({ votes: [], subtasks: [] }), at(200));
    expect(Object.keys(plain)).toEqual(['thread_id', 'question', 'status', 'created_at', 'turns', 'votes', 'exported_at']);
    expect(plain['votes']).toEqual([]);
  });

  it('Markdown: "### Votes" after the rounds as in duh, then a "### Subtasks" section; the footer cost counts votes', () => {
    const full = threadToMarkdown(thread(), { exportedAt: at(200) });
    expect(full).toBe(
      [
        '# Consensus: Which database?',
        '',
        '## Decision',
        'Use Postgres.',
        '',
        'Confidence: 80%  Rigor: 50%',
        '',
        '---',
        '',
        '## Consensus Process',
        '',
        '### Round 1',
        '',
        '#### Proposal (openai:gpt-5.2)',
        'Postgres.',
        '',
        '### Votes',
        '**openai:gpt-5.2**: Postgres, for the JSON support.',
        '',
        '**anthropic:claude-opus-4-6**: Postgres.',
        '',
        '### Subtasks',
        '1. **schema** (complete): What about schema?',
        '   Thread: 0195aaaa-0000-7000-8000-000000000002',
        '2. **load** (pending): What about load?',
        '   Depends on: schema',
        '',
        '---',
        '*duh duh-ts | 2026-01-01 | Cost: $0.8750*',
      ].join('\n'),
    );
    const decisionOnly = threadToMarkdown(thread(), { exportedAt: at(200), content: 'decision' });
    expect(decisionOnly).not.toContain('### Votes');
    expect(decisionOnly).not.toContain('### Subtasks');
    const plain = threadToMarkdown(thread({ votes: [], subtasks: [] }), { exportedAt: at(200) });
    expect(plain).not.toMatch(/### (Votes|Subtasks)/);
    expect(plain).toContain('Cost: $0.2500');
  });
});

describe('backups', () => {
  const header = JSON.stringify({ format: 'duh-backup', version: 1, exportedAt: at(300) });

  it('restores a backup written before votes and subtasks existed: the threads have none', () => {
    const older: Partial<StoredThread> = thread();
    delete older.votes;
    delete older.subtasks;
    const [restored] = parseBackup(`${header}\n${JSON.stringify({ thread: older })}\n`, 'memory');
    expect(restored).toEqual({ ...thread(), votes: [], subtasks: [] });
  });

  it('rejects a bad vote or plan with the line, before anything is written', () => {
    const line = (overrides: Partial<StoredThread>) => JSON.stringify({ thread: thread(overrides) });
    const parse = (...lines: string[]) => () => parseBackup([header, ...lines].join('\n'), 'memory');
    expect(parse(line({}), line({ id: 'other', votes: [{ ...vote('openai:gpt-5.2', 'x', 0), truncated: 'yes' as never }] }))).toThrow(/line 3: `truncated` of a vote must be a boolean/);
    expect(parse(line({ subtasks: [subtask('a', ['b']), subtask('b', ['a'])] }))).toThrow(/line 2: the dependencies form a cycle/);
    expect(parse(line({ votes: 'none' as never }))).toThrow(/line 2: `thread.votes` must be an array/);
  });

  it('carries votes and subtasks from one driver to another through backup() and restore(), and cost() counts the votes', async () => {
    const source = memoryStorage();
    const parent = thread({ subtasks: [] });
    const child = thread({ id: '0195aaaa-0000-7000-8000-000000000002', question: 'Schema?', votes: [], subtasks: [] });
    await source.importThreads([child, parent], { mode: 'merge' });
    await source.saveSubtasks!({ tenant: 'acme' }, parent.id, thread().subtasks);
    const models = [new MockAdapter({ ref: 'mock:model' })];
    const from = new Consensus({ models, storage: source });
    const target = sqliteStorage({ path: ':memory:' });
    try {
      const to = new Consensus({ models, storage: target });
      await to.restore(from.backup({ allTenants: true }));
      const restored = await target.getThread({ tenant: 'acme' }, parent.id);
      expect(restored).toEqual(await source.getThread({ tenant: 'acme' }, parent.id));
      expect(restored?.votes).toHaveLength(2);
      expect(restored?.subtasks.map((each) => each.label)).toEqual(['schema', 'load']);
      const alice = { id: 'alice', tenant: 'acme' };
      const rows = await to.cost({ principal: alice });
      expect(rows).toEqual(costRowsOf([child, parent], 'model'));
      expect(rows.find((row) => row.key === 'anthropic:claude-opus-4-6')).toMatchObject({ calls: 1, costUsd: 0.125 });
      expect(await from.cost({ principal: alice })).toEqual(rows);
    } finally {
      await target.close?.();
    }
  });
});

describe('requireStorageMethod', () => {
  it('names the driver and the missing vote or subtask method', () => {
    const { saveVotes: _saveVotes, ...rest } = memoryStorage();
    const bare: StorageDriver = { ...rest, name: 'bare' };
    expect(() => requireStorageMethod(bare, 'saveVotes', 'the voting protocol')).toThrow(StorageError);
    expect(() => requireStorageMethod(bare, 'saveVotes', 'the voting protocol')).toThrow(/`bare` does not implement saveVotes\(\), which the voting protocol needs/);
    expect(typeof requireStorageMethod(memoryStorage(), 'updateSubtask', 'decomposition')).toBe('function');
  });
});

import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { selectModels } from '../../src/cli/models.js';

function io(overrides: Record<string, string> = {}, isTTY = false) {
  const env = { DUH_STORAGE: 'memory', ...overrides };
  let stdout = '';
  let stderr = '';
  const value: CliIo = {
    stdout: { write: (text: string) => void (stdout += text), isTTY },
    stderr: { write: (text: string) => void (stderr += text) },
    env,
    demoPanel: { chunkDelayMs: 0, latencyMs: 0 },
  };
  return { io: value, out: () => stdout, err: () => stderr };
}

const QUESTION = 'Should we build a monolith or microservices?';

describe('duh ask', () => {
  it('runs a 3-round consensus on scripted models when no provider key is set, and says so', async () => {
    const t = io();
    const code = await main(['ask', QUESTION], t.io);
    expect(code).toBe(0);
    const out = t.out();
    expect(out).toMatch(/^Offline demo: no provider key is set/);
    for (const round of [1, 2, 3]) expect(out).toContain(`── Round ${round}/3 ──`);
    expect(out).toContain('[round 1/3] propose: anthropic:claude-opus-4-6');
    expect(out).toContain('CHALLENGE [flaw] openai:gpt-5.2');
    expect(out).toContain('COMMIT confidence 70% · rigor 100%');
    expect(out).toMatch(/Decision\n.+/);
    expect(out).toMatch(/Confidence 70% · Rigor 100% · 3 round\(s\)/);
    expect(out).toContain('Dissent\n[openai:gpt-5.2]: ');
    expect(out).toMatch(/Cost \$0\.\d{4} \(15 calls/);
    // Piped output is plain: no ANSI escapes.
    expect(out).not.toContain('\x1b[');
  });

  it('prints the decision record as JSON with --json, progress on stderr', async () => {
    const t = io();
    expect(await main(['ask', QUESTION, '--json', '--rounds', '2'], t.io)).toBe(0);
    const record = JSON.parse(t.out()) as { rounds: unknown[]; decision: string; protocolUsed: string; cost: { totalUsd: number } };
    expect(record.rounds).toHaveLength(2);
    expect(record.protocolUsed).toBe('consensus');
    expect(record.cost.totalUsd).toBeGreaterThan(0);
    expect(t.err()).toContain('Offline demo');
  });

  it('uses every catalog model of each provider whose key is set, naming the variables but never the values', () => {
    const selection = selectModels({ OPENAI_API_KEY: 'sk-test-SUPERSECRETVALUE123', GEMINI_API_KEY: 'AIzaSECRETSECRETSECRETSECRET' }, { demo: false });
    expect(selection.demo).toBe(false);
    expect(selection.models.map((model) => `${model.provider}:${model.modelId}`)).toEqual([
      'openai:gpt-5.2', 'openai:gpt-5-mini', 'openai:o3',
      'google:gemini-3-pro-preview', 'google:gemini-3-flash-preview', 'google:gemini-2.5-pro', 'google:gemini-2.5-flash',
    ]);
    expect(selection.notice).toBe('Live run on openai, google (keys from OPENAI_API_KEY, GEMINI_API_KEY); provider prices apply.');
    expect(selection.notice).not.toContain('SECRET');
    expect(selectModels({ OPENAI_API_KEY: 'x' }, { demo: true }).demo).toBe(true);
    expect(selectModels({ OPENAI_API_KEY: '  ' }, { demo: false }).demo).toBe(true);
  });

  it('draws a live status line with colour on a TTY', async () => {
    const t = io({}, true);
    expect(await main(['ask', QUESTION, '--rounds', '1', '--demo'], t.io)).toBe(0);
    expect(t.out()).toContain('\x1b[');
    expect(t.out()).toContain('Offline demo: scripted models (--demo)');
  });

  it('passes the overrides through', async () => {
    const t = io();
    const code = await main(
      ['ask', QUESTION, '--rounds', '1', '--proposer', 'openai:gpt-5.2', '--challengers', 'google:gemini-3-pro-preview', '--json'],
      t.io,
    );
    expect(code).toBe(0);
    const record = JSON.parse(t.out()) as { rounds: { proposal: { model: string }; challenges: { model: string }[] }[] };
    expect(record.rounds[0]!.proposal.model).toBe('openai:gpt-5.2');
    expect(record.rounds[0]!.challenges.map((challenge) => challenge.model)).toEqual(['google:gemini-3-pro-preview']);
  });

  it.each([
    [['ask', QUESTION, '--rounds', '0'], /The `rounds` option must be an integer >= 1, received 0/],
    [['ask', QUESTION, '--rounds', 'two'], /--rounds must be an integer/],
    [['ask', QUESTION, '--panel', 'nope:model'], /`panel\[0\]` option names "nope:model"/],
    [['ask', QUESTION, '--protocol', 'voting'], /not available in this release yet/],
    [['ask', QUESTION, '--cost-limit=-1'], /`costLimitUsd` option must be a number >= 0/],
  ])('rejects bad input %j with a clear error and exit code 1', async (argv, message) => {
    const t = io();
    expect(await main(argv, t.io)).toBe(1);
    expect(t.err()).toMatch(/^Error: /);
    expect(t.err()).toMatch(message);
  });

  it('stops before spending when not even one round fits the cost limit', async () => {
    const t = io();
    expect(await main(['ask', QUESTION, '--cost-limit', '0.01'], t.io)).toBe(1);
    expect(t.err()).toMatch(/Cost limit \$0\.0100 would be exceeded/);
  });

  it('treats a missing question as a usage error (exit 2)', async () => {
    const t = io();
    expect(await main(['ask', '  '], t.io)).toBe(2);
    expect(t.err()).toContain('`duh ask` needs a question');
  });

  it('honours NO_COLOR and --no-color on a TTY, keeping the live status line', async () => {
    for (const [env, argv] of [[{ NO_COLOR: '1' }, []], [{}, ['--no-color']]] as const) {
      const t = io({ ...env }, true);
      expect(await main(['ask', QUESTION, '--rounds', '1', ...argv], t.io)).toBe(0);
      expect(t.out()).not.toContain('\x1b[3'); // no colour codes
      expect(t.out()).toContain('\r\x1b[2K'); // the status line is still redrawn
    }
  });

  it('prints help, and rejects unknown commands and flags with exit code 2', async () => {
    const help = io();
    expect(await main(['--help'], help.io)).toBe(0);
    expect(help.out()).toContain('duh ask "question"');
    const unknown = io();
    expect(await main(['fly'], unknown.io)).toBe(2);
    expect(unknown.err()).toContain('unknown command `fly`');
    const flag = io();
    expect(await main(['ask', QUESTION, '--frobnicate'], flag.io)).toBe(2);
    expect(flag.err()).toContain('--frobnicate');
  });

  it('exits 130 when aborted', async () => {
    const t = io();
    const controller = new AbortController();
    t.io.signal = controller.signal;
    t.io.demoPanel = { chunkDelayMs: 5, latencyMs: 50 };
    const running = main(['ask', QUESTION], t.io);
    setTimeout(() => controller.abort(), 20);
    expect(await running).toBe(130);
    expect(t.err()).toContain('Aborted.');
  });
});

// The multi-user examples compile (tsc covers examples/) and do what they say.
import { describe, expect, it, vi } from 'vitest';
import { main as limitsAndBudgets } from '../examples/limits-and-budgets.js';

vi.spyOn(console, 'log').mockImplementation(() => {});

describe('examples/limits-and-budgets.ts', () => {
  it('lets a contributor ask, denies a viewer, refuses an unaffordable run and degrades one on request', async () => {
    const outcome = await limitsAndBudgets();
    expect(outcome.asked).toBe(2);
    expect(outcome.denied).toBe('`run:start` needs one of the roles contributor, admin; `vera` has viewer');
    expect(outcome.refused).toMatch(/^tenant:acme:month: \$0\.\d{4} used of \$1, run may cost \$\d+\.\d{4}$/);
    expect(outcome.degradedTo).toBeGreaterThanOrEqual(1);
    expect(outcome.degradedTo).toBeLessThan(8);
  });
});

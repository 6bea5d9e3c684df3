// parseRate: the rate syntax of limits ('60/min', '200k/hour', ...), and bucketOf.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { bucketOf, parseRate } from '../../src/limiter.js';

describe('parseRate', () => {
  it.each([
    ['60/min', 60, 60_000],
    ['200k/hour', 200_000, 3_600_000],
    ['1.5m/day', 1_500_000, 86_400_000],
    ['10/s', 10, 1000],
    ['10/sec', 10, 1000],
    ['5/second', 5, 1000],
    ['100/minute', 100, 60_000],
    ['100/minutes', 100, 60_000],
    ['2/5min', 2, 300_000],
    ['100/30s', 100, 30_000],
    ['1000/1.5h', 1000, 5_400_000],
    ['7/d', 7, 86_400_000],
    ['1/week', 1, 604_800_000],
    ['250/ms', 250, 1],
    ['3M/Hour', 3_000_000, 3_600_000],
    ['2b/day', 2_000_000_000, 86_400_000],
    ['1_000/h', 1000, 3_600_000],
    [' 60 / min ', 60, 60_000],
    ['60 per minute', 60, 60_000],
    ['10/m', 10, 60_000],
  ])('%j is %d per %d ms', (text, limit, windowMs) => {
    expect(parseRate(text, 'requests')).toEqual({ limit, windowMs });
  });

  it('accepts Rate objects and checks them', () => {
    expect(parseRate({ limit: 60, windowMs: 60_000 }, 'requests')).toEqual({ limit: 60, windowMs: 60_000 });
    expect(() => parseRate({ limit: 0, windowMs: 1000 }, 'limits.perUser.requests')).toThrow(/`limits\.perUser\.requests` rate needs a positive, finite limit/);
    expect(() => parseRate({ limit: 5, windowMs: Number.POSITIVE_INFINITY }, 'x')).toThrow(/positive, finite window/);
    expect(() => parseRate({ limit: '5', windowMs: 1000 } as never, 'x')).toThrow(InvalidOptionError);
  });

  it.each(['60', '60/', '/min', 'sixty/min', '60/fortnight', '60/min/s', '-5/min', '0/min', '60k', '60/0min', '1_/min', ''])(
    'refuses %j, naming the option and showing the right form',
    (text) => {
      let error: unknown;
      try {
        parseRate(text, 'limits.perUser.tokens');
      } catch (caught) {
        error = caught;
      }
      expect(InvalidOptionError.isInstance(error)).toBe(true);
      expect((error as InvalidOptionError).option).toBe('limits.perUser.tokens');
      expect((error as InvalidOptionError).value).toBe(text);
      expect((error as Error).message).toMatch(/^The `limits\.perUser\.tokens` (option must be a rate such as|rate needs) .*'60\/min', '200k\/hour'/);
    },
  );

  it('refuses values that are neither text nor a rate', () => {
    for (const value of [undefined, null, 60, true]) {
      expect(() => parseRate(value as never, 'rate')).toThrow(/The `rate` option must be a rate such as/);
    }
  });
});

describe('bucketOf', () => {
  it('gives the capacity and the per-ms refill of a rate', () => {
    expect(bucketOf({ limit: 60, windowMs: 60_000 })).toEqual({ capacity: 60, refillPerMs: 0.001 });
    expect(bucketOf(parseRate('200k/hour', 'tokens')).refillPerMs * 3_600_000).toBeCloseTo(200_000, 6);
  });
});

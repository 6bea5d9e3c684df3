import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/internal/ids.js';
import { utf8Length } from '../../src/internal/text.js';

describe('utf8Length', () => {
  it.each([
    ['', 0],
    ['ascii', 5],
    ['é', 2],
    ['€', 3],
    ['日本語', 9],
    ['😀', 4],
    ['a😀b', 6],
  ])('%j is %i bytes, as TextEncoder says', (text, bytes) => {
    expect(utf8Length(text)).toBe(bytes);
    expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });
});


describe('uuidv7', () => {
  it('is a version-7, variant-1 UUID carrying the millisecond timestamp', () => {
    const now = Date.UTC(2026, 10, 26, 7, 0, 0, 123);
    const id = uuidv7(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now);
  });

  it('sorts in creation order, also within one millisecond', () => {
    const sameMillisecond = Array.from({ length: 500 }, () => uuidv7(1_800_000_000_000));
    expect([...sameMillisecond].sort()).toEqual(sameMillisecond);
    expect(new Set(sameMillisecond).size).toBe(500);
  });

  it('sorts by creation time and does not repeat', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => uuidv7(1_700_000_000_000 + index));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => uuidv7(1)))).toHaveProperty('size', 1000);
  });
});

import { describe, expect, it } from 'vitest';
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

import { describe, expect, it } from 'vitest';
import { prefixRange } from '../../src/notes/search.ts';

describe('prefixRange', () => {
  it('bounds a prefix by its last code point incremented', () => {
    expect(prefixRange('ab')).toEqual({ lower: 'ab', upper: 'ac' });
    expect(prefixRange('é')).toEqual({ lower: 'é', upper: 'ê' });
    expect(prefixRange('a😀')).toEqual({ lower: 'a😀', upper: 'a😁' });
  });

  it('skips the surrogate block and carries past U+10FFFF', () => {
    expect(prefixRange('\uD7FF')).toEqual({ lower: '\uD7FF', upper: '\uE000' });
    expect(prefixRange('a\u{10FFFF}')).toEqual({ lower: 'a\u{10FFFF}', upper: 'b' });
  });

  it('has no upper bound for the empty prefix or one made only of U+10FFFF', () => {
    expect(prefixRange('')).toEqual({ lower: '', upper: undefined });
    expect(prefixRange('\u{10FFFF}\u{10FFFF}')).toEqual({ lower: '\u{10FFFF}\u{10FFFF}', upper: undefined });
  });

  it('contains exactly the strings with the prefix, in code point order', () => {
    const inRange = (s: string, p: string) => {
      const { lower, upper } = prefixRange(p);
      const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
      return cmp(s, lower) >= 0 && (upper === undefined || cmp(s, upper) < 0);
    };
    const words = ['a', 'ab', 'abz', 'ac', 'a\u{10FFFF}x', 'b', '', 'é', 'éa', '\uD7FF\uE000', '\uE000'];
    for (const p of ['a', 'ab', 'a\u{10FFFF}', 'é', '\uD7FF', '']) {
      for (const w of words)
        expect(inRange(w, p), `${JSON.stringify(w)} vs ${JSON.stringify(p)}`).toBe(w.startsWith(p));
    }
  });
});

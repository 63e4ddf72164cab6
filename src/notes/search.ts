/**
 * Search semantics shared by both backends: the seed's
 * `keyword.lower() in title.lower() or keyword.lower() in content.lower()`.
 *
 * Both stores index text folded here, in JavaScript, rather than relying on the database's
 * own case folding: SQLite's FTS5 fold tables predate ~1,000 case pairs of current Unicode
 * (Georgian Mtavruli, Cherokee, Latin Extended-D, …), and PostgreSQL's lower() depends on
 * the database's locale (ASCII-only under `C`, no final sigma anywhere). Folding once, in
 * one place, gives both backends the same answer for every script.
 */

/** The case folding of the seed's `str.lower()`: full Unicode lowercase mapping. */
export function foldForSearch(text: string): string {
  return text.toLowerCase();
}

/** Trigram indexes (FTS5 trigram, pg_trgm) can serve a substring of at least this many characters. */
export const INDEXED_KEYWORD_MIN_CHARS = 3;

/** Length in Unicode code points, as trigram tokenizers count. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The reference semantics, applied to a folded keyword. */
export function noteMatches(title: string, content: string, foldedKeyword: string): boolean {
  return foldForSearch(title).includes(foldedKeyword) || foldForSearch(content).includes(foldedKeyword);
}

/** `%keyword%` for SQL LIKE with `\` as escape character: `%`, `_` and `\` in the keyword match literally. */
export function likeContainsPattern(keyword: string): string {
  return `%${keyword.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The index range holding every folded title that starts with `foldedPrefix`: `[lower, upper)`
 * in code point order (SQLite BINARY and PostgreSQL "C" compare UTF-8 bytes, which orders
 * the same). `upper` is the prefix with its last code point incremented — skipping the
 * surrogate block, which no string contains — and is absent when no string follows every
 * string with this prefix (the empty prefix, or one made only of U+10FFFF).
 */
export function prefixRange(foldedPrefix: string): { lower: string; upper: string | undefined } {
  const points = [...foldedPrefix].map((c) => c.codePointAt(0)!);
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return { lower: foldedPrefix, upper: String.fromCodePoint(...points, next) };
    }
  }
  return { lower: foldedPrefix, upper: undefined };
}

/**
 * Listing pagination shared by both backends. A cursor is the opaque base64url form of
 * the last listed note's sort key (createdAt, title); the next page starts strictly after
 * it in (createdAt desc, title asc) order, so pages never repeat or skip a note even
 * while notes are added or removed. Only cursors of this exact shape are accepted.
 */
import { DEFAULT_LIST_LIMIT, InvalidCursorError, MAX_COMPLETION_LIMIT, MAX_LIST_LIMIT } from './store.ts';

export interface ListingKey {
  createdAt: string;
  title: string;
}

const CURSOR_VERSION = 1;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function encodeCursor(key: ListingKey): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, key.createdAt, key.title]), 'utf8').toString(
    'base64url',
  );
}

export function decodeCursor(cursor: string): ListingKey {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('invalid cursor: not one this server issued');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    parsed[0] !== CURSOR_VERSION ||
    typeof parsed[1] !== 'string' ||
    !ISO_MS.test(parsed[1]) ||
    Number.isNaN(Date.parse(parsed[1])) ||
    typeof parsed[2] !== 'string'
  ) {
    throw new InvalidCursorError('invalid cursor: not one this server issued');
  }
  return { createdAt: parsed[1], title: parsed[2] };
}

/** A requested page size made safe: integers in 1..MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT when absent. */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIST_LIMIT;
  return Math.min(MAX_LIST_LIMIT, Math.max(1, Math.trunc(limit)));
}

/** A requested completion size made safe: integers in 1..MAX_COMPLETION_LIMIT, the maximum when absent. */
export function clampCompletionLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return MAX_COMPLETION_LIMIT;
  return Math.min(MAX_COMPLETION_LIMIT, Math.max(1, Math.trunc(limit)));
}

/**
 * Listing order in JavaScript, identical to the databases' `ORDER BY created_at DESC, title`
 * (SQLite BINARY, PostgreSQL "C"): titles compare by code point, not by UTF-16 unit.
 */
export function compareListing(a: ListingKey, b: ListingKey): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return compareCodePoints(a.title, b.title);
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (code points above U+FFFF) sort after U+E000–U+FFFF in code point order. */
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/**
 * The last few kilobytes a child wrote to a stream (its stderr), kept for error messages.
 * Memory stays bounded however much the child writes. What a child prints may echo the
 * secrets it was given, so text bound for messages and logs goes through `redactValues` —
 * before any cut: a value cut in two by the tail's start (or by an excerpt's end) is no
 * longer equal to itself, and its visible piece would leak.
 */

/** Values shorter than this are too likely to match ordinary text to be worth masking. */
const MIN_REDACTED_LENGTH = 4;
const REDACTED = '[redacted]';
/** What a decoder makes of a multi-byte character cut in two. */
const REPLACEMENT_CHAR = '\uFFFD';

export interface RedactOptions {
  /**
   * The text is the end of a longer output (a tail): it may begin inside a value. A start
   * that is the end of a value (past any broken character) is masked too — at worst a few
   * innocent characters of an already shortened text.
   */
  cutAtStart?: boolean;
}

/** `text` with every occurrence of any of `values` replaced by "[redacted]". */
export function redactValues(text: string, values: Iterable<string>, options: RedactOptions = {}): string {
  const masked = [...new Set(values)]
    .filter((v) => v.length >= MIN_REDACTED_LENGTH)
    .sort((a, b) => b.length - a.length);
  let result = text;
  for (const value of masked) result = result.replaceAll(value, REDACTED);
  return options.cutAtStart ? maskCutStart(result, masked) : result;
}

/** `text` with its start masked when it is the end of one of `values` (the rest of a value cut off). */
function maskCutStart(text: string, values: readonly string[]): string {
  let start = 0;
  while (text[start] === REPLACEMENT_CHAR) start++;
  let longest = 0;
  for (const value of values) {
    // A proper suffix only: a whole value was replaced above.
    for (let length = Math.min(value.length - 1, text.length - start); length > longest; length--) {
      if (text.startsWith(value.slice(value.length - length), start)) {
        longest = length;
        break;
      }
    }
  }
  return longest === 0 ? text : REDACTED + text.slice(start + longest);
}

/** How much of a child's stderr is kept (its end). */
export const STDERR_TAIL_BYTES = 4096;

export class OutputTail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #dropped = false;

  constructor(limitBytes = STDERR_TAIL_BYTES) {
    this.#limit = limitBytes;
  }

  append(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#chunks.push(buf);
    this.#size += buf.length;
    while (this.#size > this.#limit && this.#chunks.length > 0) {
      const first = this.#chunks[0]!;
      const excess = this.#size - this.#limit;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
      }
      this.#dropped = true;
    }
  }

  /**
   * The kept text, trimmed, with a leading "…" when earlier output was dropped. `redact`
   * masks secrets first, told when the text may begin inside one (earlier output dropped).
   */
  text(redact: (text: string, options: RedactOptions) => string = (text) => text): string {
    const raw = Buffer.concat(this.#chunks).toString('utf8');
    const text = redact(raw, { cutAtStart: this.#dropped }).trim();
    return this.#dropped && text !== '' ? `…${text}` : text;
  }
}

/**
 * The last few kilobytes a child wrote to a stream (its stderr), kept for error messages.
 * Memory stays bounded however much the child writes. What a child prints may echo the
 * secrets it was given, so text bound for messages and logs goes through `redactValues`.
 */

/** Values shorter than this are too likely to match ordinary text to be worth masking. */
const MIN_REDACTED_LENGTH = 4;

/** `text` with every occurrence of any of `values` replaced by "[redacted]". */
export function redactValues(text: string, values: Iterable<string>): string {
  const masked = [...new Set(values)]
    .filter((v) => v.length >= MIN_REDACTED_LENGTH)
    .sort((a, b) => b.length - a.length);
  let result = text;
  for (const value of masked) result = result.replaceAll(value, '[redacted]');
  return result;
}

export class OutputTail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #dropped = false;

  constructor(limitBytes = 4096) {
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

  /** The kept text, trimmed, with a leading "…" when earlier output was dropped. */
  text(): string {
    const text = Buffer.concat(this.#chunks).toString('utf8').trim();
    return this.#dropped && text !== '' ? `…${text}` : text;
  }
}

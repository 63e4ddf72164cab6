/**
 * The in-order offset tracker of one partition's batch: jobs may finish in any order, but the
 * offset handed to kafkajs' resolveOffset (and so committed) only ever advances over a gap-free
 * run of handled offsets — it stops at the lowest offset not yet handled. A job that is never
 * handled (abandoned, or its outcome not acknowledged) holds the commit back for good in this
 * batch: it and everything after it are redelivered, never lost.
 *
 * Offsets are added in the order the batch delivers them (increasing; gaps such as compacted
 * records or transaction markers are fine). Pure bookkeeping: no Kafka, no timers.
 */

interface Entry {
  offset: string;
  handled: boolean;
}

export class InOrderOffsets {
  readonly #entries: Entry[] = [];
  readonly #byOffset = new Map<string, Entry>();
  /** Index of the lowest entry not yet released. */
  #head = 0;
  #blocked = false;
  #waiters: Array<{ limit: number; wake: () => void }> = [];

  /** Starts tracking `offset` (the next one of the batch). */
  add(offset: string): void {
    if (this.#byOffset.has(offset)) throw new Error(`offset ${offset} is already tracked`);
    const entry = { offset, handled: false };
    this.#entries.push(entry);
    this.#byOffset.set(offset, entry);
  }

  /**
   * Marks `offset` handled. Returns the highest offset that may now be resolved (every tracked
   * offset up to it is handled), or undefined when the lowest unhandled one is still below.
   */
  handled(offset: string): string | undefined {
    const entry = this.#byOffset.get(offset);
    if (entry === undefined) throw new Error(`offset ${offset} is not tracked`);
    entry.handled = true;
    let released: string | undefined;
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.handled) {
      const done = this.#entries[this.#head++]!;
      this.#byOffset.delete(done.offset);
      released = done.offset;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head);
      this.#head = 0;
    }
    if (released !== undefined) this.#wake();
    return released;
  }

  /** `offset` will not be handled in this batch: nothing at or after it can be released. */
  failed(offset: string): void {
    if (!this.#byOffset.has(offset)) throw new Error(`offset ${offset} is not tracked`);
    this.#blocked = true;
    this.#wake();
  }

  /** Tracked offsets not yet released (handled ones behind an unhandled one included). */
  get pending(): number {
    return this.#entries.length - this.#head;
  }

  /** The lowest offset not yet handled, if any: where a restart would begin. */
  get lowestUnhandled(): string | undefined {
    return this.#entries[this.#head]?.offset;
  }

  /** True once an offset failed: releasing has stopped for this batch. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Resolves when fewer than `limit` offsets are pending, or at once when releasing stopped. */
  whenBelow(limit: number): Promise<void> {
    if (this.pending < limit || this.#blocked) return Promise.resolve();
    return new Promise((wake) => this.#waiters.push({ limit, wake }));
  }

  #wake(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const w of waiting) {
      if (this.pending < w.limit || this.#blocked) w.wake();
      else this.#waiters.push(w);
    }
  }
}

/**
 * Group commit for the synchronous SQLite store: the writes asked for during one event-loop
 * turn are applied together at the end of the turn (setImmediate), so a burst of concurrent
 * saves pays one transaction commit (one WAL append) instead of one each. `apply` runs the
 * batch in one transaction and reports each write's own outcome, so one failing write fails
 * alone; if the batch as a whole fails (BEGIN or COMMIT), every write in it fails. A write's
 * promise settles only after its batch committed, so a caller that sees it resolve can read it.
 */
export type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class GroupCommit<I, O> {
  readonly #apply: (items: I[]) => Settled<O>[];
  #pending: Array<Pending<I, O>> = [];
  #scheduled = false;

  constructor(apply: (items: I[]) => Settled<O>[]) {
    this.#apply = apply;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    let outcomes: Settled<O>[];
    try {
      outcomes = this.#apply(batch.map((p) => p.item));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) p.resolve(outcome.value);
      else p.reject(outcome ? outcome.error : new Error('group commit: no outcome for a write'));
    });
  }
}

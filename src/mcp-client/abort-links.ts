/**
 * Per-call abort controllers tied to a long-lived signal (the worker's "abort every call"
 * signal) through ONE listener on it, instead of an `addEventListener`/`removeEventListener`
 * pair per call: on an EventTarget those cost a call more than the rest of its abort handling.
 *
 * The SDK leaves its abort listener on the signal a request is given, so every call gets a
 * signal of its own (the controller's); `link()` makes that controller abort when the
 * long-lived signal does, with its reason, until `unlink()` at the end of the call.
 */
export interface AbortLink {
  /** The call's own signal. */
  signal: AbortSignal;
  /** Ends the tie; the call's controller is left as it is. */
  unlink(): void;
}

const NOTHING_TO_UNLINK = () => {};

export class AbortLinks {
  readonly #links = new WeakMap<AbortSignal, Set<AbortController>>();

  link(parent: AbortSignal | undefined): AbortLink {
    const controller = new AbortController();
    if (!parent) return { signal: controller.signal, unlink: NOTHING_TO_UNLINK };
    if (parent.aborted) {
      controller.abort(parent.reason);
      return { signal: controller.signal, unlink: NOTHING_TO_UNLINK };
    }
    let linked = this.#links.get(parent);
    if (!linked) {
      const set = new Set<AbortController>();
      linked = set;
      this.#links.set(parent, set);
      parent.addEventListener(
        'abort',
        () => {
          for (const c of set) c.abort(parent.reason);
          set.clear();
        },
        { once: true },
      );
    }
    const set = linked;
    set.add(controller);
    return { signal: controller.signal, unlink: () => set.delete(controller) };
  }
}

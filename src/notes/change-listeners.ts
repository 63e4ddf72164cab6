/**
 * The listeners of one store's note changes. A listener that throws is logged and skipped;
 * the others and the write that announced the change go on.
 */
import type { Logger } from '../observability/logger.ts';
import type { NoteChange, NoteChangeListener } from './store.ts';

export class NoteChangeListeners {
  readonly #listeners = new Set<NoteChangeListener>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds `listener` (the same function twice counts twice); returns its removal. */
  add(listener: NoteChangeListener): () => void {
    const entry: NoteChangeListener = (change) => listener(change);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(change: NoteChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.warn({ err }, 'note change listener failed');
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * The concurrency window of one partition's batch, by ordering mode (the model of Confluent's
 * Parallel Consumer, ProcessingOrder.KEY / PARTITION / UNORDERED):
 *
 * - `key`: jobs with the same message key run one after another, in the order they were
 *   admitted (offset order); jobs with different keys run concurrently. Messages without a key
 *   share one lane, so they keep offset order among themselves.
 * - `partition`: every job is in one lane — one at a time, in offset order.
 * - `unordered`: no lanes; every admitted job starts at once.
 *
 * At most `maxInFlight` admitted jobs are unsettled at any time (running, or waiting for the
 * earlier job of their lane); `admit()` waits for a free slot, so a batch never runs ahead of
 * the bound. A job whose lane predecessor did not complete is NOT run (it rejects with
 * JobAbortedError): running it would let a later job of a key take effect before an earlier
 * one that is going to be redelivered.
 */
import type { OrderingMode } from '../config.ts';
import { JobAbortedError } from '../retry/errors.ts';

export type { OrderingMode };

/** The lane of messages without a key (a key is compared as its bytes, decoded latin1). */
const NO_KEY = Symbol('no key');
const ONE_LANE = Symbol('partition');

export interface KeyWindowOptions {
  mode: OrderingMode;
  /** Jobs admitted and not yet settled, at most; `partition` mode needs only 1. */
  maxInFlight: number;
}

export interface AdmittedJob<T> {
  /** Settles with the job: its result, or why it did not run or failed. */
  done: Promise<T>;
}

export class KeyWindow {
  readonly #mode: OrderingMode;
  readonly #max: number;
  /** Per lane, the last admitted job's completion (fulfilled: ran and completed). */
  readonly #tails = new Map<string | symbol, Promise<unknown>>();
  readonly #unsettled = new Set<Promise<unknown>>();
  #slotWaiters: Array<() => void> = [];

  constructor(options: KeyWindowOptions) {
    if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer, got ${options.maxInFlight}`);
    }
    this.#mode = options.mode;
    this.#max = options.mode === 'partition' ? 1 : options.maxInFlight;
  }

  /** Admitted jobs not yet settled. */
  get size(): number {
    return this.#unsettled.size;
  }

  /** Lanes with a job admitted and not yet settled. */
  get activeLanes(): number {
    return this.#tails.size;
  }

  /**
   * Waits for a free slot, then admits `run` for `key`: it starts once the previous job of its
   * lane has completed (at once in `unordered` mode, or when its lane is idle).
   */
  async admit<T>(key: Buffer | string | null | undefined, run: () => Promise<T>): Promise<AdmittedJob<T>> {
    while (this.#unsettled.size >= this.#max) {
      await new Promise<void>((wake) => this.#slotWaiters.push(wake));
    }
    const lane = this.#laneOf(key);
    const previous = lane === undefined ? undefined : this.#tails.get(lane);
    const done: Promise<T> =
      previous === undefined
        ? run()
        : previous.then(run, () => {
            throw new JobAbortedError('an earlier job with the same key was not completed');
          });
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.#unsettled.add(settled);
    if (lane !== undefined) this.#tails.set(lane, done);
    void settled.then(() => {
      this.#unsettled.delete(settled);
      if (lane !== undefined && this.#tails.get(lane) === done) this.#tails.delete(lane);
      this.#slotWaiters.shift()?.();
    });
    return { done };
  }

  /** Resolves once every admitted job has settled. */
  async drained(): Promise<void> {
    while (this.#unsettled.size > 0) await Promise.all(this.#unsettled);
  }

  #laneOf(key: Buffer | string | null | undefined): string | symbol | undefined {
    switch (this.#mode) {
      case 'unordered':
        return undefined;
      case 'partition':
        return ONE_LANE;
      case 'key':
        if (key === null || key === undefined) return NO_KEY;
        return (typeof key === 'string' ? Buffer.from(key) : key).toString('latin1');
    }
  }
}

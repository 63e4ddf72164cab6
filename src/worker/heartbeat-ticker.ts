/**
 * Heartbeats for one batch while its jobs run or wait to retry, so a long job or a long outage
 * does not get the worker thrown out of its group.
 *
 * Invariants: at most one heartbeat request is in flight (a slow coordinator is not flooded);
 * the first heartbeat that says the group is rebalancing (or this member was fenced) is kept
 * and reported once through `onRebalance`, so the batch can stop taking jobs and hand its
 * partition back; any other heartbeat failure is reported and the ticking goes on.
 */

/** kafkajs error types that mean "this member must rejoin": the batch has to end. */
const REBALANCE_ERROR_TYPES: ReadonlySet<string> = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

export function isRebalanceError(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type === 'string' && REBALANCE_ERROR_TYPES.has(type);
}

export interface HeartbeatTickerOptions {
  heartbeat: () => Promise<void>;
  intervalMs: number;
  /** Called once, with the first rebalance error. */
  onRebalance: (err: unknown) => void;
  /** Any other failed heartbeat. */
  onError: (err: unknown) => void;
}

export class HeartbeatTicker {
  readonly #o: HeartbeatTickerOptions;
  readonly #timer: NodeJS.Timeout;
  #beating = false;
  #rebalance: unknown;

  constructor(options: HeartbeatTickerOptions) {
    this.#o = options;
    this.#timer = setInterval(() => this.#tick(), options.intervalMs);
  }

  /** The first rebalance error a heartbeat met, if any. */
  get rebalance(): unknown {
    return this.#rebalance;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    if (this.#beating) return;
    this.#beating = true;
    this.#o
      .heartbeat()
      .catch((err: unknown) => {
        if (!isRebalanceError(err)) {
          this.#o.onError(err);
        } else if (this.#rebalance === undefined) {
          this.#rebalance = err;
          this.#o.onRebalance(err);
        }
      })
      .finally(() => {
        this.#beating = false;
      });
  }
}

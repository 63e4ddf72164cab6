/**
 * Fixes for kafkajs 2.2.4 (its last release) applied when this module is imported — by
 * src/kafka/client.ts, so every Kafka client of ours, and by scripts/kafka-local.ts.
 *
 * RequestQueue#scheduleCheckPendingRequests arms `setTimeout(check, throttledUntil - Date.now())`;
 * `throttledUntil` is -1 until a broker throttles the client, so the delay is about -Date.now()
 * (tulios/kafkajs#1751). Node >= 24 then prints a TimeoutNegativeWarning on stderr (once per
 * process) and fires the timer at once. The replacement below is the same method with the delay
 * clamped at 0: the same behaviour, without the warning.
 */
import { createRequire } from 'node:module';

interface RequestQueueLike {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' CHECK_PENDING_REQUESTS_INTERVAL (src/network/requestQueue/index.js). */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;
const PATCHED = Symbol.for('mcp-hybrid.kafkajs.non-negative-throttle-timer');

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueueLike & { [PATCHED]?: true };
};

if (!RequestQueue.prototype[PATCHED]) {
  RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueLike) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0 && scheduleAt <= 0) scheduleAt = CHECK_PENDING_REQUESTS_INTERVAL_MS;
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      Math.max(0, scheduleAt),
    );
  };
  RequestQueue.prototype[PATCHED] = true;
}

/**
 * Fixes for kafkajs 2.2.4 (its last release) applied when this module is imported — by
 * src/kafka/client.ts, so every Kafka client of ours, and by scripts/kafka-local.ts.
 *
 * RequestQueue#scheduleCheckPendingRequests arms `setTimeout(check, throttledUntil - Date.now())`;
 * `throttledUntil` is -1 until a broker throttles the client, so the delay is about -Date.now()
 * (tulios/kafkajs#1751). Node >= 24 then prints a TimeoutNegativeWarning on stderr (once per
 * process) and fires the timer at once. The patch lets the method see a throttle that ends now
 * instead of one from 1970, so the delay is 0 or 1 ms: the same behaviour, without the warning.
 */
import { createRequire } from 'node:module';

interface RequestQueueLike {
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueueLike & { [PATCHED]?: true };
};
const PATCHED = Symbol.for('mcp-hybrid.kafkajs.non-negative-throttle-timer');

if (!RequestQueue.prototype[PATCHED]) {
  const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
  RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueLike) {
    const throttledUntil = this.throttledUntil;
    if (throttledUntil >= Date.now()) return schedule.call(this);
    this.throttledUntil = Date.now() + 1;
    try {
      schedule.call(this);
    } finally {
      this.throttledUntil = throttledUntil;
    }
  };
  RequestQueue.prototype[PATCHED] = true;
}

/**
 * Names shared by the server and the worker on the wire, kept in one place so the two
 * deployables cannot drift apart.
 */

/** `_meta` key on a tools/call request: the server records the result under this key and
 * answers a repeated call with the recorded result instead of running the tool again. */
export const IDEMPOTENCY_META_KEY = 'mcp-hybrid/idempotency-key';

/** `_meta` key on a replayed tools/call result. */
export const REPLAYED_META_KEY = 'mcp-hybrid/replayed';

/**
 * `_meta` key on a tool error result that says "this did not run to completion for a reason on
 * the server's side; retry it": `store-unavailable` (the notes database cannot be reached, so the
 * server is not ready either) or `server-error` (anything else the tool threw). A tool error
 * result without it is the tool's own verdict on its input and is not retried.
 */
export const RETRYABLE_META_KEY = 'mcp-hybrid/retryable';
export type RetryableReason = 'store-unavailable' | 'server-error';

export const SERVER_NAME = 'mcp-hybrid-notes';

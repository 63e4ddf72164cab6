/**
 * Names shared by the server and the worker on the wire, kept in one place so the two
 * deployables cannot drift apart.
 */

/** `_meta` key on a tools/call request: the server records the result under this key and
 * answers a repeated call with the recorded result instead of running the tool again. */
export const IDEMPOTENCY_META_KEY = 'mcp-hybrid/idempotency-key';

/** `_meta` key on a replayed tools/call result. */
export const REPLAYED_META_KEY = 'mcp-hybrid/replayed';

export const SERVER_NAME = 'mcp-hybrid-notes';

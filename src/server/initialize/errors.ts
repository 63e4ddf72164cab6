/**
 * The one error type of server_initialize. Its `reason` is the machine-readable verdict
 * (callers switch on it, never on the message); the message is written for a person and
 * names what was refused or how the child failed, never an environment value.
 */

export type InitializeFailureReason =
  | 'not_allowed'
  | 'env_file'
  | 'spawn_failed'
  | 'timeout'
  | 'not_mcp'
  | 'crashed'
  | 'aborted'
  /** The sandbox (MCP_INIT_SANDBOX=bwrap) cannot start here: nothing is run unconfined instead. */
  | 'sandbox_unavailable'
  /** MCP_INIT_MAX_CONCURRENT children were running for the whole wait (bounded by the timeout). */
  | 'busy'
  /** The child's handshake and listing passed MCP_INIT_MAX_LISTING_BYTES; nothing was cataloged. */
  | 'listing_too_large';

export class InitializeError extends Error {
  override name = 'InitializeError';
  readonly reason: InitializeFailureReason;

  constructor(reason: InitializeFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

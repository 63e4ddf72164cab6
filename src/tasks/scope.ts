/**
 * Who may see a task. With MCP_AUTH_TOKEN every holder of the token shares one scope, keyed by
 * the token's SHA-256 (the token itself is never stored): any session, any replica, after any
 * restart. Without auth a task belongs to the MCP session that created it (`session:<id>`); a
 * request with no session (stateless HTTP, stdio) is in the one shared `anonymous` context,
 * where there is no identity to tell callers apart — documented in docs/tasks.md.
 */
import { createHash } from 'node:crypto';

export type ScopeOf = (sessionId: string | undefined) => string;

export function taskScopeResolver(authToken: string | undefined): ScopeOf {
  if (authToken !== undefined) {
    const scope = `token:${createHash('sha256').update(authToken).digest('hex')}`;
    return () => scope;
  }
  return (sessionId) => (sessionId === undefined ? 'anonymous' : `session:${sessionId}`);
}

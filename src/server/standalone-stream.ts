/**
 * Whether a message sent outside any request — a resource notification, a task's status
 * notification — can reach a session's client. A Streamable HTTP client hears such messages
 * only on the GET stream it opens; a stateless server has no such stream at all.
 *
 * Until a stateful session's client opens its GET stream, the SDK transport would store each
 * such message in the session's event store for a replay no client can ask for (a resume names
 * an event of the stream it resumes, and this stream never carried one) and write it nowhere;
 * worse, those events would push the events of request streams the client may yet resume out of
 * the bounded store, oldest first. So the resource hub skips such a session until its client
 * asks for the stream (any GET on the session, whatever the SDK then answers). A stateless
 * request's server starts no work whose only product is such messages. Legacy SSE and stdio carry
 * them on the one stream they have: always reachable.
 */
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const awaitingStream = new WeakSet<object>();

/** A stateless request's transport: Streamable HTTP that never has a session. */
function stateless(transport: object): boolean {
  return transport instanceof StreamableHTTPServerTransport && transport.sessionId === undefined;
}

/** A Streamable HTTP session's transport, whose client has not asked for its GET stream yet. */
export function awaitStandaloneStream(transport: object): void {
  awaitingStream.add(transport);
}

/** The client asked for the GET stream: from now on its notifications are sent (and stored). */
export function standaloneStreamRequested(transport: object): void {
  awaitingStream.delete(transport);
}

/** Whether a message sent outside a request reaches the client now (false for a closed session). */
export function reachesClient(transport: object | undefined): boolean {
  return mayReachClient(transport) && !awaitingStream.has(transport as object);
}

/**
 * Whether such a message may ever reach the client (a stateful session may still open its
 * stream). Asked only of initialized sessions, whose Streamable HTTP transport has its session id.
 */
export function mayReachClient(transport: object | undefined): boolean {
  return transport !== undefined && !stateless(transport);
}

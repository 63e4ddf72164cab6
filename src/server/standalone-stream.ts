/**
 * Whether a message sent outside any request — a resource notification — can reach a
 * session's client. A Streamable HTTP client hears such messages only on the GET stream it
 * opens. Until it opens one, the SDK transport would store each of them in the session's event
 * store for a replay no client can ask for (a resume names an event of the stream it resumes,
 * and this stream never carried one) and write it nowhere; worse, those events would push the
 * events of request streams the client may yet resume out of the bounded store, oldest first.
 * So the hub skips such a session until its client asks for the stream (any GET on the session,
 * whatever the SDK then answers). Legacy SSE and stdio carry these messages on the one stream
 * they have: always reachable.
 */
const awaitingStream = new WeakSet<object>();

/** A Streamable HTTP session's transport, whose client has not asked for its GET stream yet. */
export function awaitStandaloneStream(transport: object): void {
  awaitingStream.add(transport);
}

/** The client asked for the GET stream: from now on its notifications are sent (and stored). */
export function standaloneStreamRequested(transport: object): void {
  awaitingStream.delete(transport);
}

/** False for a closed session and for one whose client has not asked for its GET stream. */
export function reachesClient(transport: object | undefined): boolean {
  return transport !== undefined && !awaitingStream.has(transport);
}

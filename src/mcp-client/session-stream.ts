/**
 * Notices at once when the server ends a Streamable HTTP session's standalone GET stream. The
 * server ends it only when the session or the server itself goes away (shutdown, restart, idle
 * close). The SDK transport would first try to resume it after the server's advertised retry
 * delay, and a call sent in that time would be cut off (ConnectionClosed, an attempt spent)
 * when the attempt fails; told right away, the client drops the connection before any call
 * can use it. POST streams and resumptions (a GET with Last-Event-ID) are passed through as
 * they are: the transport keeps its one resume attempt for those.
 */

/** `fetchImpl`, calling `onEnd` once when a standalone GET stream it returned ends or fails. */
export function watchSessionStream(fetchImpl: typeof fetch, onEnd: () => void): typeof fetch {
  return async (input, init) => {
    const response = await fetchImpl(input, init);
    const standalone = init?.method === 'GET' && !new Headers(init.headers).has('last-event-id');
    if (!standalone || !response.ok || response.body === null) return response;
    return new Response(endNotifyingBody(response.body, onEnd), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** The same bytes; `onEnd` runs when the source ends or fails, not when the reader cancels. */
function endNotifyingBody(source: ReadableStream<Uint8Array>, onEnd: () => void): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        controller.error(err);
        onEnd();
        return;
      }
      if (chunk.done) {
        controller.close();
        onEnd();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

import { describe, expect, it } from 'vitest';
import { watchSessionStream } from '../../src/mcp-client/session-stream.ts';

/** A fetch answering every request with an SSE body of `chunks`, then ending (or failing). */
function answering(chunks: string[], fail?: Error): typeof fetch {
  return async () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          if (fail) controller.error(fail);
          else controller.close();
        },
      }),
      { status: 200, headers: { 'content-type': 'text/event-stream' } },
    );
}

function watched(chunks: string[], fail?: Error) {
  let ends = 0;
  const fetchImpl = watchSessionStream(answering(chunks, fail), () => ends++);
  return { fetchImpl, ends: () => ends };
}

describe('watchSessionStream', () => {
  it('passes the standalone GET stream through and reports its end once', async () => {
    const { fetchImpl, ends } = watched(['id: 1\n', 'data: {}\n\n']);
    const response = await fetchImpl('http://127.0.0.1/mcp', { method: 'GET' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(ends()).toBe(0);
    expect(await response.text()).toBe('id: 1\ndata: {}\n\n');
    expect(ends()).toBe(1);
  });

  it('reports a stream that fails, and passes the failure on', async () => {
    const { fetchImpl, ends } = watched(['data: {}\n\n'], new Error('socket hang up'));
    const response = await fetchImpl('http://127.0.0.1/mcp', { method: 'GET' });
    await expect(response.text()).rejects.toThrow('socket hang up');
    expect(ends()).toBe(1);
  });

  it('leaves POST streams, resumptions and a reader that cancels alone', async () => {
    const { fetchImpl, ends } = watched(['data: {}\n\n']);
    await (await fetchImpl('http://127.0.0.1/mcp', { method: 'POST', body: '{}' })).text();
    await (
      await fetchImpl('http://127.0.0.1/mcp', { method: 'GET', headers: { 'Last-Event-ID': '7' } })
    ).text();
    await (await fetchImpl('http://127.0.0.1/mcp', { method: 'GET' })).body?.cancel();
    expect(ends()).toBe(0);
  });
});

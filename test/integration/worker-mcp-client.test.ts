/**
 * The worker's MCP client wrapper against the real server: one session reused for every call,
 * bearer auth, the legacy SSE transport (forced, and as the fallback when /mcp is refused),
 * reconnecting after a server restart, and error classification of real answers.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpJobClient, WORKER_CLIENT_LOG_LEVEL } from '../../src/mcp-client/client.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  JobAbortedError,
  PermanentError,
  ServerUnavailableError,
  ToolError,
} from '../../src/retry/errors.ts';
import { startTestServer, type TestServer } from '../helpers/mcp-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { spawnServer, tempDir, uniqueName, waitUntil } from '../helpers/worker-stack.ts';

function client(serverUrl: string, extra: Partial<ConstructorParameters<typeof McpJobClient>[0]> = {}) {
  return new McpJobClient({
    serverUrl,
    callTimeoutMs: 10_000,
    logger: silentLogger(),
    reconnect: { initialMs: 50, maxMs: 200 },
    ...extra,
  });
}

/** Forwards to `target` but refuses Streamable HTTP (405 on /mcp), like an SSE-only server. */
async function sseOnlyProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/mcp')) {
      res.writeHead(405).end();
      return;
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('MCP client wrapper', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ MCP_AUTH_TOKEN: 'worker-secret' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('keeps one session for many calls and sends the bearer token', async () => {
    const connections: boolean[] = [];
    const c = client(server.url, {
      authToken: 'worker-secret',
      onConnectionChange: (up) => connections.push(up),
    });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await c.callTool('save_note', { title: uniqueName('one-session'), content: String(i) });
        expect(r.text).toContain('saved');
      }
      expect(c.transportKind).toBe('streamable-http');
      expect(connections).toEqual([true]);
    } finally {
      await c.close();
    }
  });

  it('asks the server for warnings and errors only: info messages would turn each reply into a stream', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    const c = client(proxy.url, { authToken: 'worker-secret' });
    try {
      await c.callTool('save_note', { title: uniqueName('quiet'), content: 'x' });
      expect(proxy.sent()).toContain(
        `"method":"logging/setLevel","params":{"level":"${WORKER_CLIENT_LOG_LEVEL}"}`,
      );
      expect(WORKER_CLIENT_LOG_LEVEL).toBe('warning');
    } finally {
      await c.close();
      await proxy.close();
    }
  });

  it("aborts the calls in flight when the caller's long-lived signal aborts", async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    const c = client(proxy.url, { authToken: 'worker-secret', callTimeoutMs: 120_000 });
    const worker = new AbortController();
    try {
      for (let i = 0; i < 3; i++)
        await c.callTool(
          'save_note',
          { title: uniqueName('linked'), content: 'x' },
          { signal: worker.signal },
        );
      proxy.freeze(); // the next calls hang: the server answers them, the answers wait in the proxy
      const sentBefore = proxy.sent().length;
      const hanging = Array.from({ length: 3 }, () =>
        c.callTool('save_note', { title: uniqueName('hung'), content: 'x' }, { signal: worker.signal }),
      );
      await waitUntil(
        () =>
          (
            proxy
              .sent()
              .slice(sentBefore)
              .match(/"method":"tools\/call"/g) ?? []
          ).length === 3,
        10_000,
        'the three calls to reach the server',
      );
      const shutdown = new JobAbortedError('shutdown deadline');
      worker.abort(shutdown);
      for (const call of hanging) {
        const err = await call.then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        // Aborted by the signal itself (the SDK's error names its reason), not failed by the
        // connection going away (which a frozen session also ends in, seconds later).
        expect(err).toBeInstanceOf(JobAbortedError);
        expect((err?.cause as Error | undefined)?.message).toContain(String(shutdown));
      }
    } finally {
      proxy.thaw();
      await c.close();
      await proxy.close();
    }
  });

  it('a wrong or missing token is "unavailable" (wait for a fixed deployment), not a job failure', async () => {
    for (const authToken of [undefined, 'wrong']) {
      const c = client(server.url, { authToken });
      try {
        const err = await c.connect().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServerUnavailableError);
        expect((err as ServerUnavailableError).reason).toBe('unauthorized');
      } finally {
        await c.close();
      }
    }
  });

  it('classifies real answers: tool error result → ToolError, unknown tool → permanent', async () => {
    const c = client(server.url, { authToken: 'worker-secret' });
    try {
      const missing = await c
        .callTool('read_note', { title: uniqueName('missing') })
        .catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ToolError);
      expect((missing as ToolError).message).toContain('not found');
      const unknown = await c.callTool('no_such_tool', {}).catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(PermanentError);
      const refused = await c
        .callServerInitialize({ name: 'evil', config: { command: 'bash', args: ['-c', 'true'] } })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ToolError);
    } finally {
      await c.close();
    }
  });

  it('speaks the legacy SSE transport, forced or as the fallback when /mcp is refused', async () => {
    const forced = client(server.url, { authToken: 'worker-secret', transport: 'sse' });
    const proxy = await sseOnlyProxy(server.url);
    const fallback = client(proxy.url, { authToken: 'worker-secret' });
    try {
      const key = uniqueName('sse-key');
      const a = await forced.callTool('save_note', { title: key, content: 'sse' }, { idempotencyKey: key });
      const b = await forced.callTool('save_note', { title: key, content: 'sse' }, { idempotencyKey: key });
      expect(forced.transportKind).toBe('sse');
      expect([a.replayed, b.replayed]).toEqual([false, true]);

      const r = await fallback.callTool('read_note', { title: key });
      expect(fallback.transportKind).toBe('sse');
      expect(r.text).toContain('sse');
    } finally {
      await forced.close();
      await fallback.close();
      await proxy.close();
    }
  });

  it('reconnects after the server restarts on the same port, in the background and on the next call', async () => {
    const dir = tempDir();
    let proc = await spawnServer({ notesDb: join(dir, 'notes.db') });
    const c = client(proc.url);
    try {
      await c.callTool('save_note', { title: 'before restart', content: 'x' });
      expect(c.connected).toBe(true);
      await proc.stop();
      await waitUntil(() => !c.connected, 10_000, 'connection loss noticed');
      const down = await c.callTool('list_notes', {}).catch((e: unknown) => e);
      expect(down).toBeInstanceOf(ServerUnavailableError);

      proc = await spawnServer({ notesDb: join(dir, 'notes.db'), port: proc.port });
      await waitUntil(() => c.connected, 10_000, 'background reconnect');
      const after = await c.callTool('read_note', { title: 'before restart' });
      expect(after.text).toContain('before restart');
    } finally {
      await c.close();
      await proc.stop();
    }
  });

  it('notices at once that the server ended the session stream, not after the advertised retry delay', async () => {
    const dir = tempDir();
    // Far beyond the wait below: only the stream's end itself can explain a quick notice.
    const proc = await spawnServer({ notesDb: join(dir, 'notes.db'), env: { MCP_SSE_RETRY_MS: '600000' } });
    const c = client(proc.url, { reconnect: { initialMs: 60_000, maxMs: 60_000 } });
    try {
      await c.callTool('save_note', { title: 'x', content: 'x' });
      expect(c.connected).toBe(true);
      await proc.stop();
      await waitUntil(() => !c.connected, 10_000, 'the ended session stream noticed');
    } finally {
      await c.close();
      await proc.stop();
    }
  });

  it('a stateful session the server forgot (restart) is re-established transparently', async () => {
    const dir = tempDir();
    let proc = await spawnServer({ notesDb: join(dir, 'notes.db') });
    // Background reconnects far apart, so the next call meets the stale session itself.
    const c = client(proc.url, { reconnect: { initialMs: 60_000, maxMs: 60_000 } });
    try {
      await c.callTool('save_note', { title: 'stale', content: 'x' });
      await proc.stop();
      proc = await spawnServer({ notesDb: join(dir, 'notes.db'), port: proc.port });
      const r = await c.callTool('read_note', { title: 'stale' }).catch(async (e: unknown) => {
        // The GET stream may have noticed the restart first; then the next call reconnects.
        expect(e).toBeInstanceOf(ServerUnavailableError);
        return c.callTool('read_note', { title: 'stale' });
      });
      expect(r.text).toContain('stale');
    } finally {
      await c.close();
      await proc.stop();
    }
  });
});

/**
 * A loopback TCP proxy in front of a test server, to break a client's connections on purpose:
 * `hold()` cuts every open connection and parks new ones (accepted, not forwarded) until
 * `release()`; what clients sent is kept as text, so a test can check a request went through
 * (e.g. a GET carrying Last-Event-ID). `freeze()` keeps every connection open but stops passing
 * the server's bytes on (requests still arrive, their answers wait) until `thaw()`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ProxiedConnection {
  /** The request line of the last request a client sent on this connection. */
  lastRequest: string;
  /** What the server sent on this connection since that request. */
  receivedSince: string;
}

export interface TcpProxy {
  url: string;
  /** Everything clients sent, in order, as text. */
  sent(): string;
  /** The connections open now. */
  connections(): ProxiedConnection[];
  /** Connections accepted while holding and not yet forwarded. */
  parked(): number;
  freeze(): void;
  thaw(): void;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const live = new Map<Socket, ProxiedConnection>();
  const parked: Socket[] = [];
  let holding = false;
  let frozen = false;
  let sent = '';
  /** Each forwarded connection's server side, piped to its client unless frozen. */
  const answers = new Map<Socket, Socket>();

  const forward = (client: Socket) => {
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const state: ProxiedConnection = { lastRequest: '', receivedSince: '' };
    live.set(client, state);
    client.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      sent += text;
      const requestLine = /^(GET|POST|DELETE) \S+ HTTP\/1\.1/m.exec(text);
      if (requestLine) {
        state.lastRequest = requestLine[0];
        state.receivedSince = '';
      }
    });
    upstream.on('data', (chunk) => {
      state.receivedSince += chunk.toString('latin1');
    });
    client.pipe(upstream);
    answers.set(upstream, client);
    if (!frozen) upstream.pipe(client);
    const end = () => {
      answers.delete(upstream);
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
      live.delete(client);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.resume();
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    if (holding) {
      parked.push(client);
      client.on('error', () => {});
    } else forward(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => sent,
    connections: () => [...live.values()],
    parked: () => parked.filter((socket) => !socket.destroyed).length,
    freeze() {
      frozen = true;
      for (const [upstream, client] of answers) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const [upstream, client] of answers) upstream.pipe(client);
    },
    hold() {
      holding = true;
      for (const socket of open) socket.destroy();
    },
    release() {
      holding = false;
      for (const client of parked.splice(0)) if (!client.destroyed) forward(client);
    },
    async close() {
      for (const socket of [...open, ...parked]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The `fetch` the MCP client's Streamable HTTP transport uses: a small implementation over
 * node:http(s) with a keep-alive agent, returning a standard Response. Measured on the worker
 * benchmark, the global fetch (undici's spec machinery: Request objects, header guards, abort
 * plumbing) cost about a third of the client's CPU per tool call; this does the same job for
 * the plain requests the transport makes (POST/GET/DELETE, string bodies, no redirects
 * followed — the transport asks for `redirect: 'manual'` anyway).
 *
 * Abort handling: the transport hands every request one connection-wide AbortSignal. Each POST
 * gets its own controller instead, aborted through ONE listener on that signal while the
 * request waits for its response headers — so listeners do not pile up on a signal that lives
 * for millions of calls. The long-lived GET stream keeps the connection's signal.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * A Response over a body already read whole: `json()`, `text()` and the byte readers use the
 * bytes at hand. A native Response over a body stream (what `Readable.toWeb` gives) reads it back
 * through web streams, which cost the worker's client several percent of its CPU per call, and
 * a JSON-RPC reply is read whole by the SDK anyway. `body` still gives a stream of the bytes
 * (asking for it counts as using the body).
 */
class BufferedResponse extends Response {
  readonly #bytes: Buffer;
  #used = false;
  #stream: ReadableStream<Uint8Array> | undefined;

  constructor(bytes: Buffer, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
  }

  static {
    // On the prototype, once: the DOM typings declare these as properties of Response, which a
    // subclass may not redeclare as accessors or methods.
    const take = (r: BufferedResponse): Buffer => {
      if (r.#used) throw new TypeError('Body is unusable: Body has already been read');
      r.#used = true;
      return r.#bytes;
    };
    const copy = (r: BufferedResponse): ArrayBuffer => {
      const b = take(r);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    };
    Object.defineProperties(BufferedResponse.prototype, {
      bodyUsed: {
        get(this: BufferedResponse) {
          return this.#used;
        },
      },
      body: {
        get(this: BufferedResponse) {
          if (!this.#stream && !this.#used) this.#stream = new Blob([take(this)]).stream();
          return this.#stream ?? null;
        },
      },
      text: {
        async value(this: BufferedResponse) {
          return take(this).toString('utf8');
        },
      },
      json: {
        async value(this: BufferedResponse) {
          return JSON.parse(take(this).toString('utf8')) as unknown;
        },
      },
      arrayBuffer: {
        async value(this: BufferedResponse) {
          return copy(this);
        },
      },
      bytes: {
        async value(this: BufferedResponse) {
          return new Uint8Array(copy(this));
        },
      },
    });
  }
}

export function bufferedResponse(bytes: Buffer, init: ResponseInit): Response {
  return new BufferedResponse(bytes, init);
}

export interface HttpFetch {
  fetch: typeof fetch;
  /** Closes pooled sockets. */
  close(): void;
}

export function createHttpFetch(): HttpFetch {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

  const send = (
    input: string | URL | Request,
    init: RequestInit | undefined,
    signal: AbortSignal | undefined,
  ) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const method = init?.method ?? 'GET';
      const https = url.protocol === 'https:';
      const onResponse = (res: IncomingMessage) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const status = res.statusCode ?? 500;
        const init = { status, statusText: res.statusMessage ?? '', headers: responseHeaders };
        const empty = NULL_BODY_STATUS.has(status) || method === 'HEAD';
        if (empty) {
          res.resume();
          resolve(new Response(null, init));
        } else if (JSON_TYPE.test(res.headers['content-type'] ?? '')) {
          // A JSON reply is read whole here, then parsed from the bytes (see bufferedResponse).
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.once('end', () => resolve(bufferedResponse(Buffer.concat(chunks), init)));
          res.once('error', reject);
          // A reply that ends early, with or without an 'error': a promise settled by 'end' ignores this.
          res.once('close', () => {
            if (!res.complete) reject(new Error('the server closed the connection mid-reply'));
          });
        } else {
          resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, init));
        }
      };
      const options = {
        method,
        headers,
        agent: https ? agents.https : agents.http,
        ...(signal && { signal }),
      };
      const req = https ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
      req.on('error', reject);
      const body = init?.body;
      if (body !== undefined && body !== null && typeof body !== 'string') {
        req.destroy(new TypeError('only string request bodies are supported'));
        return;
      }
      req.end(body ?? undefined);
    });

  const pending = new Set<AbortController>();
  let linked: AbortSignal | undefined;
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const signal = init?.signal ?? undefined;
    if (!signal || init?.method !== 'POST') return send(input, init, signal);
    if (signal !== linked) {
      linked = signal;
      signal.addEventListener('abort', () => {
        for (const controller of pending) controller.abort(signal.reason);
      });
    }
    if (signal.aborted) throw signal.reason;
    const controller = new AbortController();
    pending.add(controller);
    try {
      return await send(input, init, controller.signal);
    } finally {
      pending.delete(controller);
    }
  };

  return {
    fetch: fetchImpl as typeof fetch,
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

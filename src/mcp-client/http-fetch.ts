/**
 * The `fetch` the MCP client's Streamable HTTP transport uses: undici's connection pool
 * (`Agent.request`), returning a standard Response. Measured on the worker benchmark, the global
 * fetch (undici's spec machinery: Request objects, header guards, abort plumbing) cost about a
 * third of the client's CPU per tool call, and node:http about half of that again; this does the
 * same job for the plain requests the transport makes (POST/GET/DELETE, string bodies, no
 * redirects followed — the transport asks for `redirect: 'manual'` anyway).
 *
 * No header or body timeouts: the MCP client's own request timeout bounds a call, and the
 * transport's GET stream is meant to stay open while idle.
 *
 * Abort handling: the transport hands every request one connection-wide AbortSignal. POSTs do
 * not each subscribe to it (listeners would come and go on a signal that lives for millions of
 * calls, each an EventTarget registration): they share one emitter per signal, which the signal
 * fires through ONE listener. The long-lived GET stream keeps the connection's signal.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Agent } from 'undici';

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

/** Request headers as the plain record undici takes (names lower-cased by Headers). */
function headerRecord(init: RequestInit['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  if (init === undefined) return headers;
  const list = init instanceof Headers ? init : new Headers(init);
  for (const [name, value] of list) headers[name] = value;
  return headers;
}

/** Response headers as name/value pairs: the Response constructor fills its Headers from them once. */
function responseHeaders(raw: IncomingHttpHeaders): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const name in raw) {
    const value = raw[name];
    if (value !== undefined) pairs.push([name, Array.isArray(value) ? value.join(', ') : value]);
  }
  return pairs;
}

/**
 * What undici's `signal` option accepts besides an AbortSignal: an emitter that fires 'abort'
 * and carries the `reason` undici rejects with. No `aborted` property: undici would then treat
 * it as an AbortSignal.
 */
class AbortFanout extends EventEmitter {
  reason: unknown;

  constructor(signal: AbortSignal) {
    super();
    this.setMaxListeners(0);
    signal.addEventListener(
      'abort',
      () => {
        this.reason = signal.reason;
        this.emit('abort');
      },
      { once: true },
    );
  }
}

export function createHttpFetch(): HttpFetch {
  const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
  const fanouts = new WeakMap<AbortSignal, AbortFanout>();

  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof URL ? input : new URL(input instanceof Request ? input.url : input);
    const method = init?.method ?? 'GET';
    const body = init?.body ?? undefined;
    if (body !== undefined && typeof body !== 'string') {
      throw new TypeError('only string request bodies are supported');
    }
    let signal: AbortSignal | AbortFanout | undefined = init?.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    if (signal && method === 'POST') {
      let fanout = fanouts.get(signal);
      if (!fanout) {
        fanout = new AbortFanout(signal);
        fanouts.set(signal, fanout);
      }
      signal = fanout;
    }
    const res = await agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: method as 'GET',
      headers: headerRecord(init?.headers),
      body,
      signal: signal ?? null,
    });
    const status = res.statusCode;
    const responseInit = { status, statusText: res.statusText, headers: responseHeaders(res.headers) };
    if (NULL_BODY_STATUS.has(status) || method === 'HEAD') {
      await res.body.dump();
      return new Response(null, responseInit);
    }
    const type = res.headers['content-type'];
    if (JSON_TYPE.test(typeof type === 'string' ? type : '')) {
      // A JSON reply is read whole here, then parsed from the bytes (see bufferedResponse). A
      // reply cut off mid-body rejects here, not later in json().
      return bufferedResponse(Buffer.from(await res.body.arrayBuffer()), responseInit);
    }
    return new Response(Readable.toWeb(res.body) as ReadableStream<Uint8Array>, responseInit);
  };

  return {
    fetch: fetchImpl as typeof fetch,
    close() {
      agent.destroy().catch(() => undefined);
    },
  };
}

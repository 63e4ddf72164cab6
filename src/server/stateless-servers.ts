/**
 * The servers of stateless requests. The SDK's stateless pattern builds a server and a transport
 * for every request; the transport must be fresh (it maps request ids to replies, and ids of
 * different clients collide), but a server need not be: the SDK lets a Protocol connect again
 * once it has let go of its transport. Building one — its request handlers, the tools, their
 * capabilities — was about a tenth of a stateless `read_note`.
 *
 * So servers for `tools/call`, the hot method, are kept once their request is over and reused,
 * one request at a time each. A server returns only when its reply was written in full and it
 * has nothing in flight (sdk-internals.ts detachIdleTransport); otherwise it is closed as
 * before. Servers for every other method (initialize, which would leave client state behind;
 * tools/list, resources, prompts, logging) are built per request. At most `maxIdle` wait.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { NotesServerFactory } from './notes-server.ts';
import { detachIdleTransport } from './sdk-internals.ts';

const REUSED_METHOD = 'tools/call';

export class StatelessServers {
  readonly #factory: NotesServerFactory;
  readonly #maxIdle: number;
  readonly #idle: McpServer[] = [];

  constructor(factory: NotesServerFactory, maxIdle = 64) {
    this.#factory = factory;
    this.#maxIdle = maxIdle;
  }

  /** Servers waiting for a request. */
  get idle(): number {
    return this.#idle.length;
  }

  /** A server for one request of `method`, not connected to anything. */
  take(method: string | undefined): McpServer {
    return (method === REUSED_METHOD && this.#idle.pop()) || this.#factory('request', method);
  }

  /**
   * The request was answered in full: keeps the server for another request of `method` when it
   * can be (true), or leaves it to the garbage collector — it holds nothing that needs closing.
   */
  release(method: string | undefined, server: McpServer): boolean {
    if (method !== REUSED_METHOD || this.#idle.length >= this.#maxIdle) return false;
    if (!detachIdleTransport(server)) return false;
    this.#idle.push(server);
    return true;
  }
}

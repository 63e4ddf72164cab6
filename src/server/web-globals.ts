/**
 * Makes the Response the SDK's Streamable HTTP transport builds for every reply cheap to write.
 *
 * The SDK's Node transport (`StreamableHTTPServerTransport`) hands each request to its
 * web-standard transport through @hono/node-server, and asks hono NOT to install its lightweight
 * Request/Response as the process's globals (`overrideGlobalObjects: false`: a Next.js app's own
 * response classes extend the native one). So every reply is a native (undici) Response, which
 * the adaptor then reads back as a web stream — a reader, up to three reads, a write per chunk
 * and one more for the end. Measured on stateful `read_note`, that was about a third of the server's CPU
 * per call (docs/benchmarks.md, "Where the time goes").
 *
 * This server is a process of its own, not a Next.js app, so it installs hono's classes as hono
 * does by default. A Response made from a string is then kept as (status, body, headers) and
 * written with one writeHead and one end; anything that reads it as a native Response gets one,
 * made on first use (hono's classes keep the native prototype chain and `instanceof`). Responses
 * from `fetch` are undici's own and unaffected. The SSE replies (a ReadableStream body) take the
 * same streaming path as before.
 */
import { getRequestListener } from '@hono/node-server';

/** Installs hono's lightweight Request/Response as globals (once; later calls do nothing). */
export function useLightweightWebGlobals(): void {
  if (lightweightWebGlobalsInstalled()) return;
  // getRequestListener installs them on construction unless told not to; the listener is unused.
  getRequestListener(() => new Response(null), { overrideGlobalObjects: true });
  if (!lightweightWebGlobalsInstalled()) {
    throw new Error('@hono/node-server no longer installs its Request/Response as globals');
  }
}

/** True when a Response made from a string is hono's kind, which keeps (status, body, headers). */
export function lightweightWebGlobalsInstalled(): boolean {
  const probe = new Response('probe');
  return Object.getOwnPropertySymbols(probe).some((key) => key.description === 'cache');
}

/**
 * The JSON body parser of the MCP routes: `express.json()`'s result and errors, with the common
 * request read by a short path of its own.
 *
 * Nearly every MCP request is a small `application/json` POST with a Content-Length and no
 * Content-Encoding. For those this reads the bytes, decodes UTF-8 and parses exactly as
 * body-parser's strict JSON parser does (a body that does not start with `{` or `[` is refused,
 * a BOM is dropped), and fails the same ways (`entity.parse.failed`, 400), without body-parser's
 * per-request type matching, charset lookup, decoder and stream plumbing: a stateful `read_note`
 * costs the server 0.79–0.85× the CPU it did through body-parser (docs/benchmarks.md).
 * Everything else — another media type or charset, an empty, compressed or chunked body, one over
 * the limit — goes to `express.json()` itself, so the limit's 413, the decoding errors and the
 * skipping of non-JSON bodies stay body-parser's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import bytes from 'bytes';
import express from 'express';

export interface JsonBodyOptions {
  /** As express.json's `limit`: a byte count or a string such as `4mb`. */
  limit: string | number;
}

type Middleware = (
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** A body limit in bytes as body-parser reads it (it calls the same `bytes.parse`), or undefined. */
export function limitBytes(limit: string | number): number | undefined {
  const parsed = bytes.parse(limit);
  return parsed === null || !Number.isFinite(parsed) ? undefined : parsed;
}

/** Content types the short path takes (lowercased): JSON in UTF-8, the charset said or not. */
const PLAIN_JSON_TYPES = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
]);

/** `error` shaped as body-parser's (status 400 and its `type`), so the app's error handler answers both alike. */
function bodyError(error: Error, type: string): Error {
  return Object.assign(error, { status: 400, statusCode: 400, expose: true, type });
}

const parseError = (message: string) => bodyError(new SyntaxError(message), 'entity.parse.failed');

/** body-parser's strict JSON parse of a decoded body. */
export function parseJsonBody(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.length === 0) return {};
  const first = body[0] === '{' || body[0] === '[' ? body[0] : /^[ \t\n\r]*([^ \t\n\r]|$)/.exec(body)?.[1];
  if (first !== '{' && first !== '[') {
    throw parseError(
      first
        ? `Unexpected token '${first}': a JSON body must be an object or an array`
        : 'Unexpected end of JSON input',
    );
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    throw parseError((err as Error).message);
  }
}

export function jsonBody(options: JsonBodyOptions): Middleware {
  const fallback = express.json({
    limit: options.limit,
    type: ['application/json', 'application/*+json'],
  }) as unknown as Middleware;
  const limit = limitBytes(options.limit);
  return (req, res, next) => {
    const headers = req.headers;
    const type = headers['content-type'];
    const declared = headers['content-length'];
    const length = declared === undefined ? Number.NaN : Number(declared);
    if (
      limit === undefined ||
      type === undefined ||
      headers['content-encoding'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      req.readableEnded ||
      !(length > 0 && length <= limit) ||
      !PLAIN_JSON_TYPES.has(type.toLowerCase())
    ) {
      fallback(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      next(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (received !== length) {
        finish(bodyError(new Error('request size did not match content length'), 'request.size.invalid'));
        return;
      }
      try {
        const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
        req.body = parseJsonBody(buffer.toString('utf8'));
      } catch (err) {
        finish(err);
        return;
      }
      finish();
    };
    // The client went away before the body was whole: nothing can be answered.
    const onAbort = () => finish(bodyError(new Error('request aborted'), 'request.aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  };
}

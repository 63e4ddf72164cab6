/**
 * The MCP routes' JSON body parser (src/server/json-body.ts) against the one it stands in for:
 * every body and header combination is sent, over real HTTP, to an app with `jsonBody()` and to
 * one with `express.json()`, and both must answer alike (status, error type, parsed body).
 */
import { once } from 'node:events';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBody, limitBytes, parseJsonBody } from '../../src/server/json-body.ts';

const LIMIT = '1kb';

/** An app that answers what its parser made of the request: the body, or the error's status and type. */
async function listen(parser: express.RequestHandler): Promise<{ server: Server; port: number }> {
  const app = express();
  app.post('/', parser, (req: Request, res: Response) => {
    res.json({ status: 200, body: req.body === undefined ? '(undefined)' : req.body });
  });
  app.use((err: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ status: err.status ?? 500, type: err.type });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

interface Sent {
  body: string | Buffer;
  headers?: Record<string, string>;
}

async function send(port: number, { body, headers = {} }: Sent): Promise<unknown> {
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/',
    headers: { 'content-length': String(Buffer.byteLength(body)), ...headers },
  });
  req.end(body);
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let text = '';
  for await (const chunk of res) text += chunk;
  return JSON.parse(text);
}

const json = { 'content-type': 'application/json' };
const CASES: Array<[string, Sent]> = [
  ['an object', { body: '{"jsonrpc":"2.0","id":1,"method":"ping"}', headers: json }],
  ['a batch', { body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', headers: json }],
  ['non-ASCII text', { body: '{"title":"Grüße, 世界 🎉"}', headers: json }],
  ['a BOM first', { body: '\uFEFF{"a":1}', headers: json }],
  ['whitespace first', { body: ' \n\t{"a":1}', headers: json }],
  ['charset=utf-8', { body: '{"a":1}', headers: { 'content-type': 'application/json; charset=utf-8' } }],
  ['upper-case type', { body: '{"a":1}', headers: { 'content-type': 'Application/JSON; Charset=UTF-8' } }],
  ['a number', { body: '123', headers: json }],
  ['a string', { body: '"text"', headers: json }],
  ['null', { body: 'null', headers: json }],
  ['only whitespace', { body: '   ', headers: json }],
  ['broken JSON', { body: '{"a":', headers: json }],
  ['an empty body', { body: '', headers: json }],
  [
    'invalid UTF-8',
    { body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), headers: json },
  ],
  ['exactly the limit', { body: `{"a":"${'x'.repeat(1024 - 8)}"}`, headers: json }],
  ['one byte over the limit', { body: `{"a":"${'x'.repeat(1024 - 7)}"}`, headers: json }],
  ['a +json type', { body: '{"a":1}', headers: { 'content-type': 'application/merge-patch+json' } }],
  ['text/plain', { body: '{"a":1}', headers: { 'content-type': 'text/plain' } }],
  ['no content type', { body: '{"a":1}' }],
  ['latin1', { body: '{"a":1}', headers: { 'content-type': 'application/json; charset=latin1' } }],
  ['gzip', { body: gzipSync('{"a":1}'), headers: { ...json, 'content-encoding': 'gzip' } }],
  ['corrupt gzip', { body: 'not gzip', headers: { ...json, 'content-encoding': 'gzip' } }],
];

describe('jsonBody', () => {
  let ours: { server: Server; port: number };
  let reference: { server: Server; port: number };

  beforeAll(async () => {
    ours = await listen(jsonBody({ limit: LIMIT }) as unknown as express.RequestHandler);
    reference = await listen(
      express.json({ limit: LIMIT, type: ['application/json', 'application/*+json'] }),
    );
  });
  afterAll(() => {
    ours.server.close();
    reference.server.close();
  });

  it.each(CASES)('answers %s as express.json() does', async (_name, sent) => {
    const expected = await send(reference.port, sent);
    expect(await send(ours.port, sent)).toEqual(expected);
  });

  it('covers every outcome: parsed bodies, skipped ones, 400, 413, 415', async () => {
    const statuses = new Set<number>();
    for (const [, sent] of CASES) statuses.add(((await send(ours.port, sent)) as { status: number }).status);
    expect([...statuses].sort()).toEqual([200, 400, 413, 415]);
  });

  it('survives a body cut short by its client and keeps serving', async () => {
    const req = request({
      host: '127.0.0.1',
      port: ours.port,
      method: 'POST',
      path: '/',
      headers: { ...json, 'content-length': '100' },
    });
    req.on('error', () => {});
    req.write('{"a":');
    await new Promise((resolve) => setImmediate(resolve));
    req.destroy();
    expect(await send(ours.port, { body: '{"after":true}', headers: json })).toEqual({
      status: 200,
      body: { after: true },
    });
  });
});

describe('limitBytes', () => {
  it('reads limits as body-parser does (1024-based units, any case, decimals)', () => {
    expect(limitBytes('4mb')).toBe(4 * 1024 * 1024);
    expect(limitBytes('100KB')).toBe(102_400);
    expect(limitBytes('1.5kb')).toBe(1536);
    expect(limitBytes('2 gb')).toBe(2 * 1024 ** 3);
    expect(limitBytes('512')).toBe(512);
    expect(limitBytes(2048)).toBe(2048);
    expect(limitBytes('lots')).toBeUndefined();
  });
});

describe('parseJsonBody', () => {
  it('parses as body-parser strict mode: {} for nothing, objects and arrays only', () => {
    expect(parseJsonBody('')).toEqual({});
    expect(parseJsonBody('\uFEFF[1]')).toEqual([1]);
    expect(() => parseJsonBody('1')).toThrow(
      expect.objectContaining({ status: 400, type: 'entity.parse.failed' }),
    );
    expect(() => parseJsonBody('{')).toThrow(
      expect.objectContaining({ status: 400, type: 'entity.parse.failed' }),
    );
  });
});

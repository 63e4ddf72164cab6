import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch } from '../../src/mcp-client/http-fetch.ts';

describe('MCP client fetch over undici', () => {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.url === '/accepted') {
        res.writeHead(202).end();
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        setTimeout(() => res.end('data: two\n\n'), 10);
      } else if (req.url === '/json-in-pieces') {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.write('{"text":"é');
        setTimeout(() => res.end(`${'x'.repeat(100_000)}"}`), 10);
      } else if (req.url === '/json-cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"partial":');
        setTimeout(() => res.destroy(), 10);
      } else if (req.url === '/hang') {
        // never answers
      } else {
        res.writeHead(201, {
          'content-type': 'application/json',
          'x-echo': String(req.headers.authorization),
        });
        res.end(JSON.stringify({ method: req.method, body }));
      }
    });
  });
  let base = '';
  const http = createHttpFetch();

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    http.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends method, headers and body; returns status, headers and body', async () => {
    const res = await http.fetch(`${base}/echo`, {
      method: 'POST',
      headers: new Headers({ authorization: 'Bearer t', 'content-type': 'application/json' }),
      body: '{"a":1}',
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-echo')).toBe('Bearer t');
    expect(await res.json()).toEqual({ method: 'POST', body: '{"a":1}' });
  });

  it('handles empty (202) and streamed responses', async () => {
    const accepted = await http.fetch(`${base}/accepted`, { method: 'POST', body: '{}' });
    expect(accepted.status).toBe(202);
    expect(await accepted.text()).toBe('');
    const stream = await http.fetch(`${base}/stream`);
    expect(await stream.text()).toBe('data: one\n\ndata: two\n\n');
  });

  it('a JSON reply is read whole before fetch resolves, then parsed from the bytes once', async () => {
    const res = await http.fetch(`${base}/json-in-pieces`, { method: 'POST', body: '{}' });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.bodyUsed).toBe(false);
    expect(await res.json()).toEqual({ text: `é${'x'.repeat(100_000)}` });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(TypeError);

    const again = await http.fetch(`${base}/echo`, { method: 'POST', body: 'b' });
    const reader = again.body!.getReader();
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += Buffer.from(r.value).toString();
    expect(JSON.parse(text)).toEqual({ method: 'POST', body: 'b' });
    expect(again.bodyUsed).toBe(true);
  });

  it('a JSON reply cut off mid-body fails the fetch itself', async () => {
    await expect(http.fetch(`${base}/json-cut`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('a connection-wide signal aborts POSTs still waiting, with one listener however many calls', async () => {
    const connection = new AbortController();
    for (let i = 0; i < 50; i++) {
      await (
        await http.fetch(`${base}/echo`, { method: 'POST', body: 'x', signal: connection.signal })
      ).text();
    }
    expect(getEventListeners(connection.signal, 'abort')).toHaveLength(1);
    const hanging = http.fetch(`${base}/hang`, { method: 'POST', body: 'x', signal: connection.signal });
    setTimeout(() => connection.abort(new Error('closed')), 20);
    await expect(hanging).rejects.toThrow();
  });

  it('reports a refused connection with its error code', async () => {
    const err = await http.fetch('http://127.0.0.1:1/').catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
  });
});

/**
 * findFreePort picks listening ports below the kernel's ephemeral range, where outgoing
 * connections never take their source port: a port found there stays free until the process it
 * was found for binds it, unless another listener takes it. (A port from the ephemeral range was
 * taken by a client socket in one CI run: `npm run stack -- --servers 2` then failed with
 * EADDRINUSE.)
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { findFreePort, listenPortRange, readEphemeralRange } from '../../scripts/kafka-local.ts';

describe('findFreePort', () => {
  it('looks in the 12,000 ports below the ephemeral range, or nowhere when there is no room', () => {
    expect(listenPortRange({ low: 32768, high: 60999 })).toEqual({ low: 20768, high: 32767 });
    expect(listenPortRange({ low: 49152, high: 65535 })).toEqual({ low: 37152, high: 49151 });
    expect(listenPortRange({ low: 1024, high: 65535 })).toBeUndefined();
    expect(listenPortRange(undefined)).toBeUndefined();
  });

  it('returns a port that binds, below the ephemeral range where Linux says what that is', async () => {
    const range = listenPortRange(readEphemeralRange());
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const port = await findFreePort([...ports]);
      expect(ports.has(port)).toBe(false);
      ports.add(port);
      if (range) {
        expect(port).toBeGreaterThanOrEqual(range.low);
        expect(port).toBeLessThanOrEqual(range.high);
      }
      await new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
      });
    }
  });

  it('skips a port that is taken, and falls back to one the kernel picks when the range is full', async () => {
    const listen = (port: number) =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(server));
      });
    const taken = await listen(await findFreePort());
    const port = (taken.address() as { port: number }).port;
    try {
      // A range of two ports, the first taken: always the second (when it is free).
      const next = port + 1;
      const nextFree = await findFreePort([], { low: next, high: next }).then((p) => p === next);
      for (let i = 0; nextFree && i < 20; i++) {
        expect(await findFreePort([], { low: port, high: next })).toBe(next);
      }
      // Only the taken port in range, or every port of the range avoided: the kernel's pick.
      expect(await findFreePort([], { low: port, high: port })).not.toBe(port);
      expect(await findFreePort([next], { low: next, high: next })).not.toBe(next);
    } finally {
      taken.close();
    }
  });
});

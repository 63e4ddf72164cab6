import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { SessionEventStore } from '../../src/server/event-store.ts';

const note = (n: number): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { n },
});
const replay = async (store: SessionEventStore, after: string) => {
  const got: Array<[string, JSONRPCMessage]> = [];
  const stream = await store.replayEventsAfter(after, { send: async (id, m) => void got.push([id, m]) });
  return { stream, got };
};

describe('SessionEventStore', () => {
  it('replays the messages of the same stream after an id, skipping priming events', async () => {
    const store = new SessionEventStore({ maxEvents: 100, maxBytes: 1 << 20 });
    const priming = await store.storeEvent('s1', {} as JSONRPCMessage);
    const a = await store.storeEvent('s1', note(1));
    await store.storeEvent('s2', note(2));
    const c = await store.storeEvent('s1', note(3));
    expect(await store.getStreamIdForEventId(a)).toBe('s1');
    expect(await replay(store, priming)).toEqual({
      stream: 's1',
      got: [
        [a, note(1)],
        [c, note(3)],
      ],
    });
    expect(await replay(store, a)).toEqual({ stream: 's1', got: [[c, note(3)]] });
    expect(await replay(store, c)).toEqual({ stream: 's1', got: [] });
  });

  it('says when an event is the response that ended its request stream', async () => {
    const store = new SessionEventStore({ maxEvents: 100, maxBytes: 1 << 20 });
    const priming = await store.storeEvent('post', {} as JSONRPCMessage);
    const progress = await store.storeEvent('post', note(1));
    const answer = await store.storeEvent('post', {
      jsonrpc: '2.0',
      id: 3,
      error: { code: -32602, message: 'x' },
    });
    const standalone = await store.storeEvent('_GET_stream', note(2));
    expect([priming, progress, standalone].map((id) => store.answeredAt(id))).toEqual([false, false, false]);
    expect(store.answeredAt(answer)).toBe(true);
    expect(store.answeredAt('nope')).toBe(false);
  });

  it('drops the oldest events beyond the count and byte bounds, and refuses to resume from one', async () => {
    const store = new SessionEventStore({ maxEvents: 3, maxBytes: 1 << 20 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await store.storeEvent('s', note(i)));
    expect(store.size).toBe(3);
    expect(await store.getStreamIdForEventId(ids[0]!)).toBeUndefined();
    await expect(replay(store, ids[1]!)).rejects.toThrow(/no longer/);
    expect((await replay(store, ids[2]!)).got.map(([id]) => id)).toEqual([ids[3], ids[4]]);

    const small = new SessionEventStore({ maxEvents: 100, maxBytes: 200 });
    const big = await small.storeEvent('s', {
      jsonrpc: '2.0',
      method: 'x',
      params: { pad: 'y'.repeat(500) },
    });
    expect(await small.getStreamIdForEventId(big)).toBeUndefined();
    for (let i = 0; i < 10; i++) await small.storeEvent('s', note(i));
    expect(small.size).toBeLessThan(10);
  });
});

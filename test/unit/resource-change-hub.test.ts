import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import {
  ALL_NOTES,
  MAX_SUBSCRIPTIONS_PER_SESSION,
  ResourceChangeHub,
} from '../../src/server/notifications.ts';

/** Resolves after the hub's flush (it runs on the next setImmediate after a change). */
const flushed = () => new Promise<void>((resolve) => setImmediate(resolve));

function recorder() {
  const sent: string[] = [];
  return {
    sent,
    session: {
      sendResourceListChanged: () => {
        sent.push('list_changed');
      },
      sendResourceUpdated: (uri: string) => {
        sent.push(`updated ${uri}`);
      },
    },
  };
}

describe('ResourceChangeHub', () => {
  it('coalesces a burst into one list_changed per session and one update per subscribed URI', async () => {
    const hub = new ResourceChangeHub({ logger: silentLogger() });
    const a = recorder();
    const b = recorder();
    const subsA = hub.attach(a.session);
    hub.attach(b.session);
    subsA.subscribe(ALL_NOTES, 'notes://all');
    subsA.subscribe('One', 'notes://One');
    for (const title of ['One', 'Two', 'Three']) hub.noteChanged({ kind: 'created', title });
    hub.noteChanged({ kind: 'updated', title: 'One' });
    await flushed();
    expect(a.sent).toEqual(['list_changed', 'updated notes://all', 'updated notes://One']);
    expect(b.sent).toEqual(['list_changed']);
  });

  it('skips a session while it is not reachable, and tells it again once it is', async () => {
    const hub = new ResourceChangeHub({ logger: silentLogger() });
    const a = recorder();
    let reachable = false;
    const subs = hub.attach({ ...a.session, reachable: () => reachable });
    subs.subscribe(ALL_NOTES, 'notes://all');
    hub.noteChanged({ kind: 'created', title: 'One' });
    await flushed();
    expect(a.sent).toEqual([]);
    reachable = true;
    hub.noteChanged({ kind: 'created', title: 'Two' });
    await flushed();
    expect(a.sent).toEqual(['list_changed', 'updated notes://all']);
  });

  it('sends no list_changed for an update, and nothing after unsubscribe or detach', async () => {
    const hub = new ResourceChangeHub({ logger: silentLogger() });
    const a = recorder();
    const subs = hub.attach(a.session);
    subs.subscribe('One', 'notes://One');
    subs.subscribe('Two', 'notes://Two');
    hub.noteChanged({ kind: 'updated', title: 'One' });
    await flushed();
    expect(a.sent).toEqual(['updated notes://One']);
    subs.unsubscribe('One');
    hub.noteChanged({ kind: 'updated', title: 'One' });
    hub.noteChanged({ kind: 'updated', title: 'Two' });
    await flushed();
    expect(a.sent).toEqual(['updated notes://One', 'updated notes://Two']);
    subs.detach();
    hub.noteChanged({ kind: 'deleted', title: 'Two' });
    await flushed();
    expect(a.sent).toHaveLength(2);
    expect(hub.sessionCount).toBe(0);
  });

  it('on resync tells every session the list changed and every subscription it was updated', async () => {
    const hub = new ResourceChangeHub({ logger: silentLogger() });
    const a = recorder();
    const subs = hub.attach(a.session);
    subs.subscribe('One', 'notes://One');
    subs.subscribe(ALL_NOTES, 'notes://all');
    hub.noteChanged({ kind: 'resync' });
    await flushed();
    expect(a.sent).toEqual(['list_changed', 'updated notes://One', 'updated notes://all']);
  });

  it('bounds the subscriptions of one session and survives a session whose send throws', async () => {
    const hub = new ResourceChangeHub({ logger: silentLogger() });
    const subs = hub.attach({
      sendResourceListChanged: () => {
        throw new Error('closed');
      },
      sendResourceUpdated: () => Promise.reject(new Error('closed')),
    });
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_SESSION; i++)
      expect(subs.subscribe(`t${i}`, `notes://t${i}`)).toBe(true);
    expect(subs.subscribe('one more', 'notes://one%20more')).toBe(false);
    expect(subs.subscribe('t0', 'notes://t0')).toBe(true);
    const b = recorder();
    hub.attach(b.session);
    hub.noteChanged({ kind: 'deleted', title: 't1' });
    await flushed();
    expect(b.sent).toEqual(['list_changed']);
  });
});

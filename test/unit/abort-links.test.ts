import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortLinks } from '../../src/mcp-client/abort-links.ts';

describe('AbortLinks', () => {
  it('aborts every linked call with the parent, with its reason, and none that was unlinked', () => {
    const links = new AbortLinks();
    const parent = new AbortController();
    const calls = Array.from({ length: 100 }, () => links.link(parent.signal));
    // One listener on the long-lived signal, however many calls are linked.
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    for (const call of calls.slice(50)) call.unlink();
    const reason = new Error('shutdown deadline');
    parent.abort(reason);
    expect(calls.slice(0, 50).every((c) => c.signal.aborted && c.signal.reason === reason)).toBe(true);
    expect(calls.slice(50).some((c) => c.signal.aborted)).toBe(false);
  });

  it('gives each call a signal of its own, aborted at once when the parent already is', () => {
    const links = new AbortLinks();
    const parent = new AbortController();
    const a = links.link(parent.signal);
    const b = links.link(parent.signal);
    expect(a.signal).not.toBe(b.signal);
    expect(a.signal).not.toBe(parent.signal);
    parent.abort('gone');
    const late = links.link(parent.signal);
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe('gone');
  });

  it('links nothing without a parent', () => {
    const call = new AbortLinks().link(undefined);
    expect(call.signal.aborted).toBe(false);
    call.unlink();
  });
});

/**
 * Idempotent replay when calls with one key overlap: the second waits for the first and replays
 * its success, but never inherits its failure — the failure of a cancelled attempt (a worker
 * whose call timed out and retried while the first attempt was still stopping) once turned a
 * timed-out job into a `tool-error` dead letter. Calls that arrive together, or wait on one
 * that failed, still run the tool once between them.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { openSqliteNotesStore } from '../../src/notes/sqlite.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createServerMetrics } from '../../src/observability/server-metrics.ts';
import { IDEMPOTENCY_META_KEY, REPLAYED_META_KEY } from '../../src/protocol.ts';
import { createToolRuntime, type Extra, toolError } from '../../src/server/tool-runtime.ts';

function extra(key: string, requestId: number): Extra {
  return {
    signal: new AbortController().signal,
    requestId,
    sessionId: 's',
    _meta: { [IDEMPOTENCY_META_KEY]: key },
    sendNotification: async () => {},
    sendRequest: async () => ({}) as never,
  } as unknown as Extra;
}

async function runtime() {
  const store = await openSqliteNotesStore({ path: ':memory:', logger: silentLogger() });
  return createToolRuntime({
    store,
    logger: silentLogger(),
    metrics: createServerMetrics(undefined, false),
  }).forSession();
}

/** A handler whose calls finish when the test says so, in order. */
function gatedHandler() {
  const gates: Array<(result: CallToolResult) => void> = [];
  let calls = 0;
  const handler = () => {
    calls++;
    return new Promise<CallToolResult>((resolve) => gates.push(resolve));
  };
  return { handler, gates, calls: () => calls };
}

describe('tool runtime: overlapping calls with one idempotency key', () => {
  it('the second call runs itself when the first one fails', async () => {
    const tools = await runtime();
    const gated = gatedHandler();
    const call = tools.instrument('slow', gated.handler);
    const first = call({}, extra('job-1', 1));
    await expect.poll(gated.calls).toBe(1);
    const second = call({}, extra('job-1', 2));
    gated.gates[0]!(toolError('the request was cancelled'));
    expect((await first).isError).toBe(true);
    await expect.poll(gated.calls).toBe(2);
    gated.gates[1]!({ content: [{ type: 'text', text: 'done' }] });
    const result = await second;
    expect(result.isError).toBeFalsy();
    expect(result._meta?.[REPLAYED_META_KEY]).toBeUndefined();
  });

  it('the second call replays the success of the first without running the tool again', async () => {
    const tools = await runtime();
    const gated = gatedHandler();
    const call = tools.instrument('slow', gated.handler);
    const first = call({}, extra('job-2', 1));
    await expect.poll(gated.calls).toBe(1);
    const second = call({}, extra('job-2', 2));
    gated.gates[0]!({ content: [{ type: 'text', text: 'done' }] });
    await first;
    const result = await second;
    expect(result._meta?.[REPLAYED_META_KEY]).toBe(true);
    expect(gated.calls()).toBe(1);
  });

  it('calls that arrive together run the tool once, before the first has even asked the store', async () => {
    const tools = await runtime();
    const gated = gatedHandler();
    const call = tools.instrument('slow', gated.handler);
    const calls = [1, 2, 3].map((id) => call({}, extra('job-3', id)));
    await expect.poll(gated.calls).toBe(1);
    gated.gates[0]!({ content: [{ type: 'text', text: 'done' }] });
    const results = await Promise.all(calls);
    expect(results.map((r) => r._meta?.[REPLAYED_META_KEY] === true)).toEqual([false, true, true]);
    expect(gated.calls()).toBe(1);
  });

  it('after a failure one waiter runs the tool again and the others replay its success', async () => {
    const tools = await runtime();
    const gated = gatedHandler();
    const call = tools.instrument('slow', gated.handler);
    const first = call({}, extra('job-4', 1));
    await expect.poll(gated.calls).toBe(1);
    const waiters = [2, 3].map((id) => call({}, extra('job-4', id)));
    gated.gates[0]!(toolError('the request was cancelled'));
    expect((await first).isError).toBe(true);
    await expect.poll(gated.calls).toBe(2);
    gated.gates[1]!({ content: [{ type: 'text', text: 'done' }] });
    const results = await Promise.all(waiters);
    expect(results.map((r) => r._meta?.[REPLAYED_META_KEY] === true)).toEqual([false, true]);
    expect(gated.calls()).toBe(2);
  });
});

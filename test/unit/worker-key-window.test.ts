import { describe, expect, it } from 'vitest';
import { JobAbortedError } from '../../src/retry/errors.ts';
import { KeyWindow, type OrderingMode } from '../../src/worker/key-window.ts';

/** A job the test finishes by hand; records when it started. */
function controllable(log: string[], name: string) {
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const run = () => {
    log.push(`start ${name}`);
    return new Promise<string>((resolve, reject) => {
      finish = () => {
        log.push(`end ${name}`);
        resolve(name);
      };
      fail = reject;
    });
  };
  return {
    run,
    finish: () => finish(),
    fail: (err: unknown) => fail(err),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

async function admitAll(mode: OrderingMode, max: number, keys: Array<string | null>) {
  const window = new KeyWindow({ mode, maxInFlight: max });
  const log: string[] = [];
  const jobs = keys.map((key, i) => ({ key, ...controllable(log, `${key ?? '-'}${i}`) }));
  const admitted: Array<Promise<string>> = [];
  for (const job of jobs) admitted.push((await window.admit(job.key, job.run)).done);
  return { window, log, jobs, admitted };
}

describe('concurrency window by key', () => {
  it('key mode: different keys run at once, the same key waits for its predecessor', async () => {
    const { log, jobs, window } = await admitAll('key', 8, ['a', 'b', 'a', 'c', 'b']);
    await tick();
    expect(log).toEqual(['start a0', 'start b1', 'start c3']);
    expect(window.size).toBe(5);
    jobs[0]!.finish();
    await tick();
    expect(log.slice(3)).toEqual(['end a0', 'start a2']);
    jobs[1]!.finish();
    await tick();
    expect(log.slice(5)).toEqual(['end b1', 'start b4']);
    for (const j of [jobs[2]!, jobs[3]!, jobs[4]!]) j.finish();
    await window.drained();
    expect(window.size).toBe(0);
    expect(window.activeLanes).toBe(0);
  });

  it('key mode: messages without a key share one lane', async () => {
    const { log, jobs, window } = await admitAll('key', 8, [null, null, 'x']);
    await tick();
    expect(log).toEqual(['start -0', 'start x2']);
    jobs[0]!.finish();
    await tick();
    expect(log).toContain('start -1');
    jobs[1]!.finish();
    jobs[2]!.finish();
    await window.drained();
  });

  it('key mode compares keys by their bytes', async () => {
    const window = new KeyWindow({ mode: 'key', maxInFlight: 4 });
    const log: string[] = [];
    const first = controllable(log, 'buffer');
    const second = controllable(log, 'string');
    await window.admit(Buffer.from('k€y'), first.run);
    await window.admit('k€y', second.run);
    await tick();
    expect(log).toEqual(['start buffer']);
    first.finish();
    await tick();
    expect(log).toEqual(['start buffer', 'end buffer', 'start string']);
    second.finish();
    await window.drained();
  });

  it('admit() waits for a free slot: never more than maxInFlight unsettled jobs', async () => {
    const window = new KeyWindow({ mode: 'key', maxInFlight: 2 });
    const log: string[] = [];
    const jobs = ['a', 'b', 'c'].map((k) => ({ k, ...controllable(log, k) }));
    await window.admit(jobs[0]!.k, jobs[0]!.run);
    await window.admit(jobs[1]!.k, jobs[1]!.run);
    let third = false;
    const admitting = window.admit(jobs[2]!.k, jobs[2]!.run).then(() => {
      third = true;
    });
    await tick();
    expect(third).toBe(false);
    expect(window.size).toBe(2);
    jobs[1]!.finish();
    await admitting;
    expect(third).toBe(true);
    expect(window.size).toBe(2);
    jobs[0]!.finish();
    jobs[2]!.finish();
    await window.drained();
  });

  it('partition mode: one at a time in admission order, whatever the bound', async () => {
    const window = new KeyWindow({ mode: 'partition', maxInFlight: 16 });
    const log: string[] = [];
    const a = controllable(log, 'a');
    const b = controllable(log, 'b');
    await window.admit('1', a.run);
    const admittingB = window.admit('2', b.run);
    await tick();
    expect(log).toEqual(['start a']);
    a.finish();
    await admittingB;
    await tick();
    expect(log).toEqual(['start a', 'end a', 'start b']);
    b.finish();
    await window.drained();
  });

  it('unordered mode: every job starts at once, same key or not', async () => {
    const { log, jobs, window } = await admitAll('unordered', 8, ['a', 'a', 'a']);
    await tick();
    expect(log).toEqual(['start a0', 'start a1', 'start a2']);
    for (const j of jobs) j.finish();
    await window.drained();
  });

  it('a job whose predecessor of the same key failed does not run', async () => {
    const { log, jobs, admitted, window } = await admitAll('key', 8, ['a', 'a', 'b']);
    jobs[0]!.fail(new JobAbortedError('rebalance'));
    jobs[2]!.finish();
    await expect(admitted[0]).rejects.toBeInstanceOf(JobAbortedError);
    await expect(admitted[1]).rejects.toThrow(/earlier job with the same key/);
    await expect(admitted[2]).resolves.toBe('b2');
    await window.drained();
    expect(log).not.toContain('start a1');
  });

  it('refuses a bound below 1', () => {
    expect(() => new KeyWindow({ mode: 'key', maxInFlight: 0 })).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { InOrderOffsets } from '../../src/worker/offset-tracker.ts';

function tracker(...offsets: number[]) {
  const t = new InOrderOffsets();
  for (const o of offsets) t.add(String(o));
  return t;
}

describe('in-order offset tracker', () => {
  it('releases offsets handled in order one by one', () => {
    const t = tracker(0, 1, 2);
    expect(t.handled('0')).toBe('0');
    expect(t.handled('1')).toBe('1');
    expect(t.handled('2')).toBe('2');
    expect(t.pending).toBe(0);
  });

  it('holds out-of-order completions until the lowest unhandled offset is handled', () => {
    const t = tracker(10, 11, 12, 13);
    expect(t.handled('12')).toBeUndefined();
    expect(t.handled('11')).toBeUndefined();
    expect(t.lowestUnhandled).toBe('10');
    expect(t.pending).toBe(4);
    // 10 closes the gap: everything up to 12 is released at once, 13 still runs.
    expect(t.handled('10')).toBe('12');
    expect(t.lowestUnhandled).toBe('13');
    expect(t.handled('13')).toBe('13');
    expect(t.lowestUnhandled).toBeUndefined();
  });

  it('copes with gaps between offsets (compacted records, transaction markers)', () => {
    const t = tracker(3, 7, 20);
    expect(t.handled('7')).toBeUndefined();
    expect(t.handled('3')).toBe('7');
    expect(t.handled('20')).toBe('20');
  });

  it('never releases past an offset that failed', () => {
    const t = tracker(0, 1, 2);
    t.failed('1');
    expect(t.blocked).toBe(true);
    expect(t.handled('0')).toBe('0');
    expect(t.handled('2')).toBeUndefined();
    expect(t.lowestUnhandled).toBe('1');
  });

  it('rejects unknown and repeated offsets (a bug in the caller)', () => {
    const t = tracker(0);
    expect(() => t.add('0')).toThrow(/already tracked/);
    expect(() => t.handled('5')).toThrow(/not tracked/);
  });

  it('whenBelow waits for releases, and returns at once once releasing has stopped', async () => {
    const t = tracker(0, 1, 2);
    let woke = false;
    const waiting = t.whenBelow(2).then(() => {
      woke = true;
    });
    t.handled('1'); // behind 0: nothing released
    await Promise.resolve();
    expect(woke).toBe(false);
    t.handled('0'); // releases 0 and 1: one pending
    await waiting;
    expect(woke).toBe(true);

    const stuck = tracker(0, 1);
    const blocked = stuck.whenBelow(1);
    stuck.failed('0');
    await blocked;
  });

  it('keeps working over many offsets (compaction of its queue)', () => {
    const t = new InOrderOffsets();
    for (let i = 0; i < 5_000; i++) t.add(String(i));
    for (let i = 4_999; i >= 1; i--) expect(t.handled(String(i))).toBeUndefined();
    expect(t.handled('0')).toBe('4999');
    for (let i = 5_000; i < 10_000; i++) {
      t.add(String(i));
      expect(t.handled(String(i))).toBe(String(i));
    }
    expect(t.pending).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { GroupCommit, type Settled } from '../../src/notes/group-commit.ts';

describe('GroupCommit', () => {
  it('applies the writes of one event-loop turn as one batch, in order, and settles each after it', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, number>((items) => {
      batches.push(items);
      return items.map((n) => ({ ok: true, value: n * 10 }));
    });
    const first = [1, 2, 3].map((n) => group.submit(n));
    expect(batches).toEqual([]); // nothing applied before the turn ends
    expect(await Promise.all(first)).toEqual([10, 20, 30]);
    expect(await group.submit(4)).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('fails only the write that failed when the batch itself commits', async () => {
    const group = new GroupCommit<number, number>((items) =>
      items.map(
        (n): Settled<number> => (n === 2 ? { ok: false, error: new Error('bad 2') } : { ok: true, value: n }),
      ),
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => group.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('bad 2'));
  });

  it('fails every write of a batch whose transaction fails, and keeps serving the next turn', async () => {
    let failNext = true;
    const group = new GroupCommit<number, number>((items) => {
      if (failNext) {
        failNext = false;
        throw new Error('database is locked');
      }
      return items.map((n) => ({ ok: true, value: n }));
    });
    const failed = await Promise.allSettled([1, 2].map((n) => group.submit(n)));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await group.submit(3)).toBe(3);
  });
});

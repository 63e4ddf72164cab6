/**
 * The worker's promise about commits, checked from outside: a committed offset never passes a
 * message that has no outcome event (the offset is committed only after the job was handled).
 */
import { expect } from 'vitest';
import type { JobOutcomeEvent } from '../../src/kafka/results.ts';

/** Every offset below each partition's committed offset has an outcome event in `events`. */
export function expectCommittedCoveredByOutcomes(
  committed: Map<number, number>,
  events: JobOutcomeEvent[],
): void {
  const handled = new Set(events.map((e) => `${e.source.partition}:${e.source.offset}`));
  const unhandled: string[] = [];
  for (const [partition, offset] of committed) {
    for (let o = 0; o < offset; o++)
      if (!handled.has(`${partition}:${o}`)) unhandled.push(`${partition}:${o}`);
  }
  expect(unhandled, 'committed offsets (partition:offset) without an outcome event').toEqual([]);
}

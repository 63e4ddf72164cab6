/**
 * The suite's own rules for waiting (docs/testing.md "Waiting, not sleeping"), checked over its
 * sources: one named window for negative checks (QUIET_WINDOW_MS in test/helpers/worker-stack.ts)
 * and no fixed sleep standing in for a wait — a timer promise may only pace a polling loop (the
 * loop's condition is what the test waits for), be the quiet window itself, or be a step of a
 * scenario's schedule, marked so on the line above ("Scheduled, not a wait").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.ts';

const SCANNED = ['test/unit', 'test/integration', 'test/faults', 'test/helpers'];
const WINDOW_HOME = 'test/helpers/worker-stack.ts';
const SELF = 'test/unit/test-waits.test.ts';

function sources(): Array<{ path: string; lines: string[] }> {
  const out: Array<{ path: string; lines: string[] }> = [];
  for (const dir of SCANNED) {
    for (const entry of readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const path = relative(REPO, join(entry.parentPath, entry.name));
      if (path === SELF) continue; // its examples are not waits
      out.push({ path, lines: readFileSync(join(REPO, path), 'utf8').split('\n') });
    }
  }
  return out;
}

/** `await new Promise((r) => setTimeout(r, …))` or timers/promises' `sleep(…)`. */
const TIMER_PROMISE = /new Promise(?:<void>)?\(\s*\(?\w*\)?\s*=>\s*setTimeout\(|\bawait sleep\(/;
const LOOP_HEADER = /^\s*(?:while\s*\(|for\s*\(|do\s*\{|\}\s*while\s*\()/;

/**
 * True when the timer at `index` paces a loop: it sits on a loop header's line, or inside a loop
 * whose header is a few lines above at a smaller indentation.
 */
function pacesALoop(lines: string[], index: number): boolean {
  const line = lines[index]!;
  if (/\b(?:while|for)\s*\(/.test(line)) return true;
  const indent = line.search(/\S/);
  for (let i = index - 1; i >= Math.max(0, index - 10); i--) {
    const above = lines[i]!;
    if (above.trim() === '') continue;
    const aboveIndent = above.search(/\S/);
    if (aboveIndent < indent && LOOP_HEADER.test(above)) return true;
    if (aboveIndent < indent && /^\s*(?:async )?function\b|=> \{$/.test(above)) return false;
  }
  return false;
}

describe('waits in the test suite', () => {
  const files = sources();

  it('finds the suite (the scan is not empty)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.some((f) => f.path === WINDOW_HOME)).toBe(true);
  });

  it('has one negative-check window: QUIET_WINDOW_MS in test/helpers/worker-stack.ts', () => {
    const windows = files.flatMap(({ path, lines }) =>
      lines.flatMap((line, i) =>
        /\bconst\s+\w*(?:WINDOW|QUIET|NEGATIVE)\w*\s*=/.test(line)
          ? [`${path}:${i + 1}: ${line.trim()}`]
          : [],
      ),
    );
    expect(windows).toEqual([
      expect.stringMatching(/^test\/helpers\/worker-stack\.ts:\d+: export const QUIET_WINDOW_MS = /),
    ]);
  });

  it('uses no fixed sleep as a wait: timer promises only pace polling loops', () => {
    const sleeps = files.flatMap(({ path, lines }) =>
      lines.flatMap((line, i) => {
        if (!TIMER_PROMISE.test(line) || pacesALoop(lines, i)) return [];
        if (path === WINDOW_HOME && /QUIET_WINDOW_MS/.test(line)) return []; // the window itself
        if (/\/\/ Scheduled, not a wait/.test(lines[i - 1] ?? '')) return [];
        return [`${path}:${i + 1}: ${line.trim()}`];
      }),
    );
    expect(sleeps).toEqual([]);
  });

  it('the check sees a sleep outside a loop and accepts one inside', () => {
    const bare = [
      'async function f() {',
      '  await go();',
      '  await new Promise((r) => setTimeout(r, 1_500));',
      '}',
    ];
    expect(TIMER_PROMISE.test(bare[2]!)).toBe(true);
    expect(pacesALoop(bare, 2)).toBe(false);
    const polled = ['  while (!done()) {', '    await new Promise((r) => setTimeout(r, 50));', '  }'];
    expect(pacesALoop(polled, 1)).toBe(true);
    expect(pacesALoop(['  while (!ok()) await new Promise((r) => setTimeout(r, 25));'], 0)).toBe(true);
  });
});

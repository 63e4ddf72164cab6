/**
 * What a request leaves for the garbage collector: its objects should die young. The server
 * process runs with a 1 MB young generation and V8's `--trace-gc-nvp`, takes a few thousand
 * requests, and each young-generation GC (scavenge) reports how much of it survived. Defining a
 * getter on each request's `res.locals` (http.ts RequestLocals) once made every request's objects
 * survive — about a quarter of all that was allocated, where a few KB is normal — which under
 * load meant scavenges of ~20 ms and an old generation filling with dead requests.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_ENTRY } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const REQUESTS = 4_000;
const IN_FLIGHT = 16;
/** Median bytes surviving a scavenge; ~3 KB when requests die young, ~250 KB when they do not. */
const MAX_MEDIAN_SURVIVED = 64 * 1024;

describe('the young-generation GC under requests', () => {
  const dir = makeTempDir('mcp-hybrid-gc-');
  const out = join(dir, 'stdout.log');
  const child = spawn(process.execPath, ['--trace-gc-nvp', '--max-semi-space-size=1', SERVER_ENTRY], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', NOTES_DB: join(dir, 'notes.db') },
    // V8 prints its GC trace through stdio, flushed at exit: to a file, read after.
    stdio: ['ignore', openSync(out, 'w'), 'pipe'],
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('lets a request’s objects die young (scavenges keep a few KB, not the requests)', async () => {
    let url: string | undefined;
    await expect
      .poll(
        () => {
          url = /"url":"(http:[^"]+)"/.exec(readFileSync(out, 'utf8'))?.[1];
          return url;
        },
        { timeout: 30_000 },
      )
      .toBeDefined();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next++ < REQUESTS) {
          const res = await fetch(`${url}/no-such-route`, { method: 'POST', body: '{}' });
          expect(res.status).toBe(404);
          await res.arrayBuffer();
        }
      }),
    );
    child.kill('SIGTERM');
    await once(child, 'exit');
    const survived = readFileSync(out, 'utf8')
      .split('\n')
      .filter((line) => line.includes('gc=s '))
      .map((line) => Number(/new_space_survived=(\d+)/.exec(line)?.[1]));
    // Enough scavenges under load that start-up's few do not decide the median.
    expect(survived.length).toBeGreaterThan(20);
    const median = survived.sort((a, b) => a - b)[Math.floor(survived.length / 2)]!;
    expect(median).toBeLessThan(MAX_MEDIAN_SURVIVED);
  });
});

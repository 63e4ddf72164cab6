/**
 * `npm run build` leaves the package's bins executable: tsc writes them 0644, and `npx
 * kafka-worker …` in a fresh checkout (the README's operator commands) then failed with
 * "sh: kafka-worker: Permission denied".
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

describe('npm run build', () => {
  it('runs scripts/mark-bins-executable.mjs after tsc', () => {
    const { scripts, bin } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      bin: Record<string, string>;
    };
    expect(scripts.build).toMatch(/tsc -p tsconfig\.build\.json && node scripts\/mark-bins-executable\.mjs$/);
    expect(Object.keys(bin).sort()).toEqual(['kafka-worker', 'mcp-server']);
  });

  it('mark-bins-executable.mjs makes every bin of package.json executable', () => {
    const dir = makeTempDir('bins-');
    mkdirSync(join(dir, 'dist/bin'), { recursive: true });
    const bins = { a: 'dist/bin/a.js', b: 'dist/bin/b.js' };
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ bin: bins }));
    for (const file of Object.values(bins)) {
      writeFileSync(join(dir, file), '#!/usr/bin/env node\n');
      chmodSync(join(dir, file), 0o644);
    }
    const run = spawnSync(process.execPath, [resolve(REPO, 'scripts/mark-bins-executable.mjs')], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    for (const file of Object.values(bins)) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o755);
  });
});

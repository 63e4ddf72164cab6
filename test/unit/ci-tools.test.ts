/**
 * CI must fail when promtool is missing (the alert-rule tests would otherwise skip and CI pass).
 * Runs the real scripts with a PATH that lacks promtool and apt-get: `.ci/require-tools` alone,
 * and `.ci/run` itself from a copy of the files it needs before `npm ci` (so a regression that
 * let it continue would run `npm ci` in a throwaway dir without a lockfile, never in this checkout).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const MISSING = "CI=true but promtool is missing: install the Debian package 'prometheus'";

function which(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  return found === '' ? undefined : realpathSync(found);
}

/** A PATH directory holding only the named programs (links to the machine's). */
function pathWith(names: string[]): string {
  const dir = makeTempDir('ci-path-');
  for (const name of names) {
    const target = name === 'node' ? process.execPath : which(name);
    if (!target) throw new Error(`${name} is not on this machine's PATH`);
    symlinkSync(target, join(dir, name));
  }
  return dir;
}

// What .ci/run and .ci/require-tools call up to the tool check (builtins aside).
const BASE_TOOLS = ['bash', 'dirname', 'id', 'node'];

function requireTools(path: string, ci: boolean) {
  return spawnSync(join(REPO, '.ci/require-tools'), [], {
    cwd: REPO,
    encoding: 'utf8',
    env: { PATH: path, ...(ci && { CI: 'true' }) },
  });
}

describe('CI tools: promtool', () => {
  it('.ci/require-tools with CI=true and no promtool exits 1 and says what to install', () => {
    const run = requireTools(pathWith(BASE_TOOLS), true);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain(MISSING);
  });

  it('.ci/require-tools without CI only warns that the rule tests are skipped', () => {
    const run = requireTools(pathWith(BASE_TOOLS), false);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('promtool is missing: the alert-rule tests are skipped');
  });

  it.skipIf(!which('promtool') || !which('bwrap'))(
    '.ci/require-tools with CI=true passes when promtool and bwrap are there (skipped when this machine lacks them)',
    () => {
      const run = requireTools(pathWith([...BASE_TOOLS, 'promtool', 'bwrap']), true);
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout + run.stderr).toBe('');
    },
  );

  it('.ci/run with CI=true and no promtool fails before npm ci', () => {
    const copy = makeTempDir('ci-run-');
    mkdirSync(join(copy, '.ci'));
    mkdirSync(join(copy, 'scripts'));
    for (const file of ['.ci/run', '.ci/require-tools', 'scripts/check-node.mjs', 'package.json'])
      copyFileSync(join(REPO, file), join(copy, file));
    expect(existsSync(join(copy, 'package-lock.json'))).toBe(false);
    const path = pathWith([...BASE_TOOLS, 'npm']);
    const run = spawnSync(join(copy, '.ci/run'), [], {
      cwd: copy,
      encoding: 'utf8',
      env: { PATH: path, HOME: copy, CI: 'true' },
      timeout: 60_000,
    });
    expect(run.status, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain(MISSING);
    expect(run.stdout).not.toContain('== npm ci');
  });
});

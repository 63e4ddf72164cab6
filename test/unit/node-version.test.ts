/**
 * The Node version guard: src/node-version.ts (imported first by the entrypoints) and
 * scripts/check-node.mjs (run first by the npm scripts) hold the same floor as package.json's
 * `engines` and say the same one line. On a machine with an older node (these have Node 20 at
 * /usr/bin/node), that node really is refused with that line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as preflight from '../../scripts/check-node.mjs';
import * as guard from '../../src/node-version.ts';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const engines = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }
).engines.node;
const scripts = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;
const OLD_NODE = '/usr/bin/node';
const oldNodeVersion = existsSync(OLD_NODE)
  ? spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
  : undefined;
/** Why the old-node checks cannot run here, or undefined when they can. */
const noOldNode =
  oldNodeVersion === undefined
    ? `skipped: no ${OLD_NODE} on this machine`
    : guard.unsupportedNodeMessage(oldNodeVersion) === undefined
      ? `skipped: ${OLD_NODE} is v${oldNodeVersion}, not older than the floor`
      : undefined;

describe('node version guard', () => {
  it('has the floor of package.json engines, in both copies', () => {
    expect(engines).toBe(`>=${guard.NODE_FLOOR.replace(/\.0$/, '')}`);
    expect(preflight.NODE_FLOOR).toBe(guard.NODE_FLOOR);
  });

  it('refuses older versions with one line naming found, needed and the README section', () => {
    for (const found of ['20.19.2', 'v22.18.9', '22.15.0', '18.0.0', '22.9.0']) {
      const line = guard.unsupportedNodeMessage(found);
      expect(line).toBe(preflight.unsupportedNodeMessage(found));
      expect(line).toMatch(
        /^mcp-hybrid needs Node\.js >= 22\.19\.0, found v[\d.]+: see "Getting Node\.js" in README\.md/,
      );
      expect(line).not.toContain('\n');
    }
    for (const found of ['22.19.0', '22.22.1', 'v24.0.0', '25.1.0']) {
      expect(guard.unsupportedNodeMessage(found)).toBeUndefined();
      expect(preflight.unsupportedNodeMessage(found)).toBeUndefined();
    }
  });

  it('the README has the section the line points at', () => {
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toMatch(/^### Getting Node\.js$/m);
  });

  it('every npm script runs the preflight first', () => {
    expect(Object.keys(scripts).length).toBeGreaterThan(10);
    const unguarded = Object.entries(scripts).filter(
      ([, command]) => !command.startsWith('node scripts/check-node.mjs && '),
    );
    expect(unguarded).toEqual([]);
  });

  it.skipIf(noOldNode !== undefined)(
    `an older node (${OLD_NODE}, v${oldNodeVersion}) gets exactly that line from the npm-script preflight ${noOldNode ?? ''}`,
    () => {
      const run = spawnSync(OLD_NODE, ['scripts/check-node.mjs'], { cwd: REPO, encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`${guard.unsupportedNodeMessage(oldNodeVersion!)}\n`);
    },
  );

  it.skipIf(noOldNode !== undefined)(
    `every npm script, run as npm runs it with ${OLD_NODE} as \`node\`, stops at that line ${noOldNode ?? ''}`,
    () => {
      // npm runs a script with `sh -c` and node_modules/.bin first on PATH; here `node` is the old one.
      const bin = makeTempDir('old-node-');
      symlinkSync(OLD_NODE, join(bin, 'node'));
      const env = { PATH: `${join(REPO, 'node_modules/.bin')}:${bin}:/usr/bin:/bin`, HOME: process.env.HOME };
      const expected = `${guard.unsupportedNodeMessage(oldNodeVersion!)}\n`;
      for (const [name, command] of Object.entries(scripts)) {
        const run = spawnSync('sh', ['-c', command], { cwd: REPO, env, encoding: 'utf8', timeout: 30_000 });
        expect({ name, status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
          name,
          status: 1,
          stdout: '',
          stderr: expected,
        });
      }
    },
  );
});

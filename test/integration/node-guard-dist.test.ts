/**
 * The built entrypoints (what `npm start`, the bins, the images and Claude Desktop run) on a Node
 * older than the engines floor: the machine's /usr/bin/node (v20 here). They must print the guard's
 * one line and exit 1 — not die with a stack trace from a module that old Node cannot load
 * (`node:sqlite`, syntax). Built by tsc from src/ into a temp dir (as `npm run build` does), so the
 * checkout's dist/ is neither needed nor touched.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { unsupportedNodeMessage } from '../../src/node-version.ts';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';

const OLD_NODE = '/usr/bin/node';
const oldNodeVersion = existsSync(OLD_NODE)
  ? spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
  : undefined;
const skipReason =
  oldNodeVersion === undefined
    ? `skipped: no ${OLD_NODE} on this machine`
    : unsupportedNodeMessage(oldNodeVersion) === undefined
      ? `skipped: ${OLD_NODE} is v${oldNodeVersion}, not older than the floor`
      : undefined;

describe.skipIf(skipReason !== undefined)(
  `built entrypoints on ${OLD_NODE} (v${oldNodeVersion}) ${skipReason ?? ''}`,
  () => {
    const app = makeTempDir('node-guard-dist-');

    beforeAll(() => {
      // dist/ next to the package.json ("type": "module") and node_modules it resolves against.
      copyFileSync(join(REPO, 'package.json'), join(app, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(app, 'node_modules'));
      const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
      const build = spawnSync(
        process.execPath,
        [tsc, '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')],
        {
          cwd: REPO,
          encoding: 'utf8',
        },
      );
      expect(build.status, build.stdout + build.stderr).toBe(0);
    });

    it.each([
      ['dist/bin/mcp-server.js', []],
      ['dist/bin/mcp-server.js', ['--stdio']],
      ['dist/bin/kafka-worker.js', []],
      ['dist/bin/kafka-worker.js', ['status']],
    ])('%s %j prints the one-line refusal and exits 1', (entry, args) => {
      const run = spawnSync(OLD_NODE, [join(app, entry), ...args], {
        cwd: app,
        encoding: 'utf8',
        timeout: 30_000,
        // Would reach real services if the guard let it through: nothing may answer there.
        env: { PATH: '/usr/bin:/bin', KAFKA_BROKERS: '127.0.0.1:1', NOTES_DB: ':memory:', PORT: '0' },
      });
      expect(run.status, run.stderr).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`${unsupportedNodeMessage(oldNodeVersion!)}\n`);
    });
  },
);

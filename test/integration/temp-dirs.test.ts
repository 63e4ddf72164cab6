/**
 * Tests leave no temporary directories behind:
 * - the suite's setup file (test/helpers/remove-temp-dirs.ts) removes every dir a test file made
 *   with makeTempDir / worker-stack's tempDir after the file ran — passed or failed — checked by
 *   running vitest in a child process on a fixture (test/fixtures/temp-dirs/);
 * - the Kafka launcher (startLocalKafka) removes its run dir under <home>/run on stop(), and the
 *   next start reaps a run dir whose owner died without stopping.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOME, ensureKafkaJars, startLocalKafka } from '../../scripts/kafka-local.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';
import { runVitestFixture } from '../helpers/vitest-fixture.ts';

function runFixture(outcome: 'pass' | 'fail', report: string) {
  return runVitestFixture('test/fixtures/temp-dirs/vitest.config.ts', {
    FIXTURE_OUTCOME: outcome,
    TEMP_DIRS_REPORT: report,
  });
}

describe('temporary directories of test files', () => {
  it.each(['fail', 'pass'] as const)('are removed after a file whose test %sed', async (outcome) => {
    const report = join(makeTempDir('temp-dirs-report-'), 'dirs.txt');
    writeFileSync(report, '');
    const { code, output } = await runFixture(outcome, report);
    expect(code, output).toBe(outcome === 'pass' ? 0 : 1);
    const dirs = readFileSync(report, 'utf8').split('\n').filter(Boolean);
    expect(dirs, output).toHaveLength(2);
    expect(dirs.some((d) => /\/kafka-worker-test-[^/]+$/.test(d))).toBe(true);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
  });
});

describe('the Kafka launcher (startLocalKafka)', () => {
  it('removes its run dir on stop() and reaps the run dir of an owner that died', {
    timeout: 180_000,
  }, async () => {
    const home = makeTempDir('launcher-home-');
    // The jars this checkout already has (fetched once), not a second download.
    await ensureKafkaJars();
    symlinkSync(join(DEFAULT_HOME, 'lib'), join(home, 'lib'));
    const runRoot = join(home, 'run');
    const orphan = join(runRoot, 'broker-orphan');
    mkdirSync(join(orphan, 'data'), { recursive: true });
    const deadPid = spawnSync('true').pid;
    writeFileSync(join(orphan, 'owner.json'), JSON.stringify({ ownerPid: deadPid }));

    const kafka = await startLocalKafka({ home });
    let stopped = false;
    try {
      const runs = readdirSync(runRoot);
      expect(runs).not.toContain('broker-orphan');
      expect(runs).toHaveLength(1);
      expect(readFileSync(join(runRoot, runs[0]!, 'owner.json'), 'utf8')).toContain(
        `"ownerPid":${process.pid}`,
      );
      await kafka.stop();
      stopped = true;
      expect(readdirSync(runRoot)).toEqual([]);
    } finally {
      if (!stopped) await kafka.stop();
    }
  });
});

/**
 * `npm run stack` as a person runs it, three times on one Kafka data dir:
 * 1. Ctrl-C — SIGINT to the whole process group, as a terminal sends it — stops every part
 *    gracefully: the worker finishes and leaves its group (no forced exit), the server stops,
 *    Kafka stops; npm exits 0 and no process is left.
 * 2. The next start has its worker joined within 10 s (a worker that left uncleanly made the
 *    next one wait out the old session). With it a normal start, enqueue, replay and stop: not a
 *    single warning or error line from any part. SIGINT to npm alone stops everything.
 * 3. SIGTERM to the stack script alone stops everything.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../scripts/kafka-local.ts';
import { cli, deadLetter, produceMessages } from '../helpers/ops.ts';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';
import { KafkaProbe, saveNoteJob, waitUntil } from '../helpers/worker-stack.ts';

/** How fast a restarted stack's worker must be in its group (measured from its spawn). */
const REJOIN_WITHIN_MS = 10_000;

interface Stack {
  npmPid: number;
  /** JSON log lines of the server and the worker (their stdout). */
  logs: Array<Record<string, unknown> & { at: number }>;
  /** Other stdout lines (npm's banner) and stderr lines ([stack] …), with arrival times. */
  text: Array<{ line: string; at: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForText(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

function startStack(env: Record<string, string>): Stack {
  const child = spawn('npm', ['run', 'stack'], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_update_notifier: 'false', ...env },
    detached: true, // its own process group, like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Stack['logs'] = [];
  const text: Stack['text'] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push({ ...(JSON.parse(line) as Record<string, unknown>), at: Date.now() });
    } catch {
      text.push({ line, at: Date.now() });
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => text.push({ line, at: Date.now() }));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const waitForText = async (pattern: RegExp, timeoutMs = 120_000) => {
    let match: RegExpExecArray | null = null;
    await waitUntil(
      () => {
        for (const { line } of text) {
          match = pattern.exec(line);
          if (match) return true;
        }
        if (child.exitCode !== null) throw new Error(`stack exited:\n${text.map((t) => t.line).join('\n')}`);
        return false;
      },
      timeoutMs,
      `${pattern} from the stack`,
    );
    return match!;
  };
  return { npmPid: child.pid!, logs, text, exited, waitForText };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Everything a stopped stack must show: clean exits of every part, nothing left running. */
async function expectStoppedCleanly(stack: Stack, pids: number[]) {
  const { code } = await stack.exited;
  const lines = stack.text.map((t) => t.line);
  expect(code, lines.join('\n')).toBe(0);
  expect(lines).toContain('[stack] kafka-worker stopped (exit code 0)');
  expect(lines).toContain('[stack] mcp-server stopped (exit code 0)');
  expect(
    lines.some((l) => /^\[stack\] Kafka on 127\.0\.0\.1:\d+ stopped in /.test(l)),
    lines.join('\n'),
  ).toBe(true);
  expect(stack.logs.some((l) => l.name === 'kafka-worker' && l.msg === 'kafka-worker stopped')).toBe(true);
  expect(stack.logs.filter((l) => l.msg === 'forced exit')).toEqual([]);
  await waitUntil(() => pids.every((pid) => !alive(pid)), 10_000, 'every part of the stack to be gone');
}

/** No part logged a warning or an error; stderr holds only the stack's own lines. */
function expectQuiet(stack: Stack) {
  expect(stack.logs.filter((l) => Number(l.level) >= 40)).toEqual([]);
  const stray = stack.text
    .map((t) => t.line)
    .filter((l) => l !== '' && !l.startsWith('[stack] ') && !l.startsWith('> '));
  expect(stray).toEqual([]);
}

async function partPids(stack: Stack): Promise<number[]> {
  const kafka = await stack.waitForText(/^\[stack\] Kafka [\d.]+ ready at .* \(pid (\d+)\)/);
  const server = await stack.waitForText(/^\[stack\] mcp-server started \(pid (\d+)\)/);
  const worker = await stack.waitForText(/^\[stack\] kafka-worker started \(pid (\d+)\)/);
  const script = await stack.waitForText(/^\[stack\] Ctrl-C \(or SIGTERM to pid (\d+)\) stops everything/);
  return [kafka, server, worker, script].map((m) => Number(m[1]));
}

describe('npm run stack', () => {
  const dir = makeTempDir('stack-test-');
  let env: Record<string, string>;
  let brokers: string;
  const running: Stack[] = [];

  beforeAll(async () => {
    // The stack runs the built dist/: build what is being tested.
    const build = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const port = await findFreePort();
    const metrics = await findFreePort([port]);
    const kafka = await findFreePort([port, metrics]);
    brokers = `127.0.0.1:${kafka}`;
    env = {
      PORT: String(port),
      METRICS_PORT: String(metrics),
      KAFKA_LOCAL_PORT: String(kafka),
      STACK_KAFKA_DIR: join(dir, 'kafka'),
      NOTES_DB: join(dir, 'notes.db'),
    };
  });

  afterAll(async () => {
    // A failed test must not leave a stack behind.
    for (const stack of running) {
      try {
        process.kill(-stack.npmPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('stops every part gracefully on Ctrl-C (SIGINT to the process group)', {
    timeout: 240_000,
  }, async () => {
    const stack = startStack(env);
    running.push(stack);
    const pids = await partPids(stack);
    process.kill(-stack.npmPid, 'SIGINT');
    await expectStoppedCleanly(stack, pids);
    expectQuiet(stack);
  });

  it('restarts with the worker joined within 10 s; start, enqueue, replay and stop log no warning or error; SIGINT to npm stops it', {
    timeout: 240_000,
  }, async () => {
    const stack = startStack(env);
    running.push(stack);
    const pids = await partPids(stack);
    const spawned = stack.text.find((t) => t.line.startsWith('[stack] kafka-worker started'))!.at;
    await stack.waitForText(/^\[stack\] kafka-worker ready/);
    const ready = stack.text.find((t) => t.line.startsWith('[stack] kafka-worker ready'))!.at;
    expect(ready - spawned).toBeLessThan(REJOIN_WITHIN_MS);

    // The README's commands, as pasted (with this stack's broker).
    const opsEnv = { KAFKA_BROKERS: brokers };
    for (const example of ['examples/save-note.json', 'examples/server-init.json']) {
      const enqueue = spawnSync('npm', ['run', 'enqueue', '--', '--file', example], {
        cwd: REPO,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opsEnv },
        encoding: 'utf8',
      });
      expect(enqueue.status, enqueue.stderr).toBe(0);
      expect(enqueue.stdout).toContain('enqueued 1 job(s) to mcp-jobs');
      expect(enqueue.stderr.trim()).toBe('');
    }

    const probe = await new KafkaProbe(brokers).connect();
    try {
      const replayed = saveNoteJob('stack-replayed-1', 'a replayed note');
      const letter = deadLetter({
        topic: 'mcp-jobs',
        partition: 0,
        offset: 0,
        jobID: replayed.jobID,
        reason: 'tool-error',
      });
      await produceMessages(probe.kafka, 'mcp-jobs.dlq', [letter]);
      const replay = cli(['dlq', 'replay'], opsEnv);
      expect((await replay.exited).code, replay.stderr.join('\n')).toBe(0);
      expect(replay.stderr).toEqual([]);
      expect(replay.lines.at(-1)).toBe(
        'replayed 1 dead letter(s) to mcp-jobs; 0 replayed before, 0 filtered out',
      );
      // server-init-example-1 runs the project's own --stdio server inside the default sandbox.
      for (const jobID of ['save-note-example-1', 'server-init-example-1', replayed.jobID]) {
        await waitUntil(
          () => stack.logs.some((l) => l.jobID === jobID && l.msg === 'job succeeded'),
          60_000,
          `${jobID} to succeed`,
        );
      }
      const results = cli(['results'], opsEnv);
      expect((await results.exited).code, results.stderr.join('\n')).toBe(0);
      expect(results.lines.some((l) => /succeeded {2}save-note-example-1 {2}tool-call/.test(l))).toBe(true);
      expect(results.lines.some((l) => /succeeded {2}stack-replayed-1 {2}tool-call/.test(l))).toBe(true);
      expect(results.lines.some((l) => /succeeded {2}server-init-example-1 {2}server-init/.test(l))).toBe(
        true,
      );
    } finally {
      await probe.close();
    }

    process.kill(stack.npmPid, 'SIGINT');
    await expectStoppedCleanly(stack, pids);
    expectQuiet(stack);
  });

  it('stops everything on SIGTERM to the stack script alone', { timeout: 240_000 }, async () => {
    const stack = startStack(env);
    running.push(stack);
    const pids = await partPids(stack);
    process.kill(pids[3]!, 'SIGTERM');
    await expectStoppedCleanly(stack, pids);
    expectQuiet(stack);
  });
});

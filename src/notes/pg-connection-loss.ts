/**
 * A PostgreSQL connection the server drops (restart, failover, `pg_terminate_backend`) must
 * cost the queries on it, never the process. `pg` reports a dropped connection as an `'error'`
 * event on its client, and Node ends the process on an `'error'` event nobody hears.
 *
 * `pg-pool` listens on a client only while it is idle: it removes its listener when it hands
 * the client out, leaving errors to the holder. A holder that awaits `pool.connect()` cannot
 * attach its own listener in time when the client is handed over inside the socket read
 * that also carries the server's `FATAL` (the pool releases a client on `ReadyForQuery` and
 * gives it at once to a waiting `connect()`; the parser reads the next message, the `FATAL`,
 * before the waiter's continuation runs). That crashed a replica when PostgreSQL stopped
 * under load (node-postgres issue #2762 describes the same symptom).
 *
 * So every client the pool creates gets one listener of its own for its whole life: a lost
 * connection then fails the query in flight (which its caller handles), the pool discards the
 * client on release (`pg-pool` drops a client that is no longer queryable), and the loss is
 * logged once. The connection URL is never logged.
 */
import type pg from 'pg';
import type { Logger } from '../observability/logger.ts';

export function survivePgConnectionLoss(pool: pg.Pool, logger: Logger): void {
  // An idle client's loss: pg-pool removes the client and re-emits the error on the pool.
  pool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'notes database connection lost'));
  // A checked-out client's loss: heard here whoever holds it; the holder sees its query fail.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      logger.debug({ err: { message: err.message } }, 'notes database connection lost while in use');
    });
  });
}

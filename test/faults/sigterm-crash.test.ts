/**
 * SIGTERM while the consumer is crashing: kafkajs restarts a crashed consumer on a timer it arms
 * after its own disconnect, so a crash racing the worker's stop() used to bring the consumer
 * back after "kafka-worker stopped" and hold the process until the forced exit (exit 1).
 * Here the whole cluster dies under an idle worker — the only broker, and every node of a 3-node
 * cluster (RF 3, min ISR 2) — so its fetches fail until kafkajs declares the consumer crashed and
 * schedules a restart; SIGTERM then arrives between crash and restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalKafka, startLocalKafka } from '../../scripts/kafka-local.ts';
import { startTestCluster } from '../helpers/cluster.ts';
import {
  KafkaProbe,
  type ServerProcess,
  spawnServer,
  spawnWorker,
  uniqueName,
  workerEnv,
} from '../helpers/worker-stack.ts';

describe.each([
  { nodes: 1, start: () => startLocalKafka() },
  { nodes: 3, start: () => startTestCluster(3) },
])('SIGTERM while the consumer is crashing (all of $nodes broker node(s) gone)', ({ start }) => {
  let kafka: LocalKafka;
  let server: ServerProcess;
  beforeAll(async () => {
    kafka = await start();
    server = await spawnServer({ notesDb: ':memory:' });
  });
  afterAll(async () => {
    await server?.stop();
    await kafka?.stop();
  });

  it('exits 0 without a forced exit, and the consumer is not revived after it stopped', async () => {
    const brokers = kafka.brokers.join(',');
    const topic = uniqueName('sigterm');
    const group = uniqueName('sigterm-group');
    const probe = await new KafkaProbe(brokers).connect();
    await probe.createTopics(topic, 2);
    await probe.close();
    const worker = spawnWorker(workerEnv({ brokers, topic, group, serverUrl: `${server.url}/mcp` }));
    await worker.waitForLog((l) => l.msg === 'kafka-worker started', 120_000);
    // The cluster dies: fetches fail until kafkajs declares the consumer crashed and schedules
    // its restart; SIGTERM then meets a restart that is already under way.
    await Promise.all(kafka.nodes.map((node) => node.kill('SIGKILL')));
    await worker.waitForLog((l) => l.msg === 'consumer crashed', 180_000);
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    const ours = worker.logs.filter((l) => l.component !== 'kafkajs').map((l) => `${l.level} ${l.msg}`);
    expect(ours, 'the worker logs a forced exit when the revived consumer holds the process').not.toContain(
      'error forced exit',
    );
    expect(ours).toContain('info kafka-worker stopped');
    expect(exit).toEqual({ code: 0, signal: null });
  });
});

/**
 * SIGTERM while the consumer is crashing: kafkajs restarts a crashed consumer on a timer it arms
 * after its own disconnect, so a crash racing the worker's stop() used to bring the consumer
 * back after "kafka-worker stopped" and hold the process until the forced exit (exit 1).
 * Here the only broker dies under an idle worker (its fetches fail until kafkajs declares the
 * consumer crashed and schedules a restart); SIGTERM then arrives between crash and restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalKafka, startLocalKafka } from '../../scripts/kafka-local.ts';
import {
  KafkaProbe,
  type ServerProcess,
  spawnServer,
  spawnWorker,
  uniqueName,
  workerEnv,
} from '../helpers/worker-stack.ts';

describe('SIGTERM while the consumer is crashing (broker gone)', () => {
  let kafka: LocalKafka;
  let server: ServerProcess;
  beforeAll(async () => {
    kafka = await startLocalKafka();
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
    // The only broker dies: fetches fail until kafkajs declares the consumer crashed and
    // schedules its restart; SIGTERM then meets a restart that is already under way.
    await kafka.nodes[0]!.kill('SIGKILL');
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

/**
 * The operator subcommands as an operator runs them: `kafka-worker dlq replay` SIGKILLed halfway
 * and run again re-publishes every dead letter exactly once; `status`, `dlq list` and `results`
 * print what they should; bad arguments exit 2 with the usage.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildResultMessage, type JobOutcomeEvent } from '../../src/kafka/results.ts';
import { headerText, REPLAY_HEADERS } from '../../src/ops/dlq.ts';
import { cli, deadLetter, produceMessages } from '../helpers/ops.ts';
import { KafkaProbe, quietWindow, type TopicWatch, uniqueName, waitUntil } from '../helpers/worker-stack.ts';

const brokers = inject('kafkaBrokers');
const COUNT = 2_000;

describe('kafka-worker status / dlq (CLI)', () => {
  let probe: KafkaProbe;
  let jobs: TopicWatch;
  const topic = uniqueName('ops-cli');
  const group = uniqueName('ops-cli-group');
  const env = { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic, MCP_CONSUMER_GROUP: group, LOG_LEVEL: 'warn' };

  beforeAll(async () => {
    probe = await new KafkaProbe(brokers).connect();
    await probe.createTopics(topic, 2);
    await produceMessages(
      probe.kafka,
      `${topic}.dlq`,
      Array.from({ length: COUNT }, (_, i) => ({
        ...deadLetter({
          topic,
          partition: i % 2,
          offset: i,
          jobID: `job-${i}`,
          reason: i % 10 === 0 ? 'invalid-json' : 'tool-error',
        }),
        partition: i % 2,
      })),
    );
    jobs = await probe.watch(topic);
  });

  afterAll(async () => {
    await jobs?.stop();
    await probe?.close();
  });

  it('dlq list prints every dead letter as pending', async () => {
    const run = cli(['dlq', 'list', '--filter', 'invalid-json'], env);
    expect((await run.exited).code, run.stderr.join('\n')).toBe(0);
    expect(run.lines[0]).toMatch(
      /^DLQ P\/OFFSET\s+AGE\s+REASON\s+JOB ID\s+JOB TYPE\s+ATTEMPTS\s+ORIGINAL TOPIC\/P\/OFFSET\s+STATE\s+ERROR$/,
    );
    const rows = run.lines.filter((l) => /^\d+\/\d+ /.test(l));
    expect(rows).toHaveLength(COUNT / 10);
    expect(rows[0]).toMatch(
      new RegExp(
        `^0/0\\s+\\d+s\\s+invalid-json\\s+job-0\\s+tool-call\\s+3\\s+${topic}/0/0\\s+pending\\s+failed: invalid-json$`,
      ),
    );
    expect(run.lines.at(-1)).toBe(
      `${COUNT / 10} dead letter(s) in ${topic}.dlq, ${COUNT / 10} not replayed yet`,
    );
  });

  it('a replay killed halfway (SIGKILL) and run again re-publishes every dead letter exactly once', async () => {
    const first = cli(['dlq', 'replay'], env);
    await waitUntil(
      () => first.lines.filter((l) => l.startsWith('replayed ')).length >= 100,
      60_000,
      'replay progress',
    );
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const beforeKill = first.lines.filter((l) => l.startsWith('replayed ')).length;
    expect(beforeKill).toBeLessThan(COUNT);

    const second = cli(['dlq', 'replay'], env);
    expect((await second.exited).code, second.stderr.join('\n')).toBe(0);
    expect(second.stderr).toEqual([]);
    const summary = second.lines.at(-1) ?? '';
    const match = /^replayed (\d+) dead letter\(s\) to .*; (\d+) replayed before, 0 filtered out$/.exec(
      summary,
    );
    expect(match, summary).not.toBeNull();
    expect(Number(match![1]) + Number(match![2])).toBe(COUNT);
    expect(Number(match![2])).toBeGreaterThanOrEqual(beforeKill);

    await waitUntil(() => jobs.messages.length >= COUNT, 60_000, `${COUNT} replayed jobs`);
    await quietWindow(); // no duplicate follows
    const from = jobs.messages.map((m) => headerText(m.headers, REPLAY_HEADERS.replayedFrom));
    expect(from).toHaveLength(COUNT);
    expect(new Set(from).size).toBe(COUNT);
    expect(new Set(jobs.messages.map((m) => String(m.key))).size).toBe(COUNT);

    const third = cli(['dlq', 'replay', '--dry-run'], env);
    expect((await third.exited).code).toBe(0);
    expect(third.lines.at(-1)).toBe(
      `would replay 0 dead letter(s) to ${topic}; ${COUNT} replayed before, 0 filtered out`,
    );

    const list = cli(['dlq', 'list'], env);
    expect((await list.exited).code).toBe(0);
    expect(list.lines.at(-1)).toBe(`${COUNT} dead letter(s) in ${topic}.dlq, 0 not replayed yet`);
  });

  it('status prints partitions, lag and the DLQ size; --json gives the same as data', async () => {
    const run = cli(['status'], env);
    expect((await run.exited).code, run.stderr.join('\n')).toBe(0);
    const text = run.lines.join('\n');
    expect(text).toContain(`Group ${group} on ${topic}: `);
    expect(text).toMatch(/^PARTITION\s+COMMITTED\s+END\s+LAG\s+OWNER$/m);
    expect(text).toContain(`Dead letters: ${COUNT} in ${topic}.dlq`);
    const json = cli(['status', '--json'], env);
    expect((await json.exited).code).toBe(0);
    const status = JSON.parse(json.lines.join('\n')) as {
      partitions: Array<{ end: number }>;
      dlq: { messages: number };
    };
    expect(status.dlq.messages).toBe(COUNT);
    expect(status.partitions).toHaveLength(2);
  });

  it('rejects bad arguments with exit code 2 and the usage', async () => {
    for (const args of [
      ['dlq'],
      ['dlq', 'replay', '--limit', '0'],
      ['status', '--nope'],
      ['results', '--last', 'x'],
    ]) {
      const run = cli(args, env);
      expect((await run.exited).code, args.join(' ')).toBe(2);
      expect(run.stderr.join('\n')).toContain('kafka-worker dlq replay [--filter <reasons>]');
    }
  });
});

describe('kafka-worker results (CLI)', () => {
  const topic = uniqueName('ops-results');
  const env = {
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    MCP_CONSUMER_GROUP: uniqueName('ops-results-group'),
  };
  let probe: KafkaProbe;
  const event = (jobID: string, i: number, failed = false): JobOutcomeEvent => ({
    jobID,
    jobType: 'tool-call',
    status: failed ? 'failed' : 'succeeded',
    ...(failed
      ? { error: { class: 'PermanentError', reason: 'tool-error', message: `Note '${jobID}' not found.` } }
      : { result: { tool: 'save_note', text: `Note '${jobID}' saved successfully.` } }),
    attempts: 1,
    durationMs: 12,
    source: { topic, partition: 0, offset: String(i) },
    finishedAt: new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString(),
    worker: 'kafka-worker@test',
  });

  beforeAll(async () => {
    probe = await new KafkaProbe(brokers).connect();
    await probe.createTopics(topic, 2);
    await produceMessages(
      probe.kafka,
      `${topic}.results`,
      ['r-0', 'r-1', 'r-2', 'r-3'].map((id, i) => ({
        ...buildResultMessage(event(id, i, i === 3), id),
        partition: i % 2,
      })),
    );
  });

  afterAll(async () => {
    await probe?.close();
  });

  it('prints the newest outcome events as readable lines, oldest first; --json as JSON lines', async () => {
    const run = cli(['results', '--last', '2'], env);
    expect((await run.exited).code, run.stderr.join('\n')).toBe(0);
    expect(run.stderr).toEqual([]);
    // The newest two of each partition are read; the newest two overall are printed.
    expect(run.lines).toHaveLength(2);
    expect(run.lines[0]).toMatch(
      /^2020-01-01T00:00:02\.000Z {2}succeeded {2}r-2 {2}tool-call {2}attempts=1 {2}12ms {2}.* ago {2}\{"tool":"save_note"/,
    );
    expect(run.lines[1]).toMatch(
      /^2020-01-01T00:00:03\.000Z {2}failed {5}r-3 .* tool-error: Note 'r-3' not found\.$/,
    );

    const json = cli(['results', '--json'], env);
    expect((await json.exited).code).toBe(0);
    expect(json.lines.map((l) => (JSON.parse(l) as JobOutcomeEvent).jobID)).toEqual([
      'r-0',
      'r-1',
      'r-2',
      'r-3',
    ]);
    const groups = (await probe.admin.listGroups()).groups.map((g) => g.groupId);
    expect(groups.filter((g) => g.startsWith(env.MCP_CONSUMER_GROUP))).toEqual([]);
  });

  it('--follow prints new events as they arrive and exits 0 on SIGINT', async () => {
    const run = cli(['results', '--follow', '--last', '1'], env);
    await waitUntil(() => run.lines.length >= 1, 30_000, 'the newest event');
    expect(run.lines[0]).toContain('r-3');
    await produceMessages(probe.kafka, `${topic}.results`, [buildResultMessage(event('r-4', 4), 'r-4')]);
    await waitUntil(() => run.lines.length >= 2, 30_000, 'the new event');
    expect(run.lines[1]).toContain('  r-4  ');
    run.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    expect(run.stderr).toEqual([]);
  });

  it('--follow whose reader goes away (| head -1) ends quietly with exit 0 and deletes its reader group', async () => {
    const group = uniqueName('ops-results-epipe');
    const run = cli(['results', '--follow', '--last', '1'], { ...env, MCP_CONSUMER_GROUP: group });
    await waitUntil(() => run.lines.length >= 1, 30_000, 'the newest event');
    run.closeStdout();
    // The next event's line meets the closed pipe (EPIPE).
    await produceMessages(probe.kafka, `${topic}.results`, [buildResultMessage(event('r-5', 5), 'r-5')]);
    const exited = await run.exited;
    expect(run.stderr, run.stderr.join('\n')).toEqual([]);
    expect(exited.code).toBe(0);
    const groups = (await probe.admin.listGroups()).groups.map((g) => g.groupId);
    expect(groups.filter((g) => g.startsWith(group))).toEqual([]);
  });
});

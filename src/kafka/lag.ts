/**
 * Consumer lag per partition, from the group's committed offsets against each partition's end
 * offset (admin API: the same numbers `kafka-consumer-groups --describe` shows, and what KEDA
 * scales on). A partition the group never committed counts from its earliest offset.
 */
import type { Admin } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { errorMessage } from '../retry/errors.ts';

export interface PartitionLag {
  partition: number;
  /** Next offset the group will read; -1 if it never committed on this partition. */
  committed: number;
  end: number;
  lag: number;
}

export async function fetchConsumerLag(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<PartitionLag[]> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committedBy = new Map<number, number>();
  for (const t of committed) {
    for (const p of t.partitions) committedBy.set(p.partition, Number(p.offset));
  }
  return ends
    .map((p) => {
      const end = Number(p.high);
      const low = Number(p.low);
      const c = committedBy.get(p.partition) ?? -1;
      return { partition: p.partition, committed: c, end, lag: Math.max(0, end - (c >= 0 ? c : low)) };
    })
    .sort((a, b) => a.partition - b.partition);
}

export interface LagPoller {
  stop(): void;
}

export function startLagPoller(options: {
  admin: Admin;
  groupId: string;
  topic: string;
  intervalMs: number;
  logger: Logger;
  onLag: (lag: PartitionLag[]) => void;
}): LagPoller {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      options.onLag(await fetchConsumerLag(options.admin, options.groupId, options.topic));
    } catch (err) {
      options.logger.debug({ err: errorMessage(err) }, 'lag refresh failed');
    }
    if (!stopped) {
      timer = setTimeout(tick, options.intervalMs);
      timer.unref();
    }
  };
  void tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

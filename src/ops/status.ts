/**
 * `kafka-worker status`: what `kafka-consumer-groups --describe` shows, without Kafka's shell
 * tools — per partition of the jobs topic the group's committed offset, the end offset, the lag
 * and the member that owns it; the group's state and members with their decoded assignments; the
 * number of dead letters retained in `<topic>.dlq`. Read-only: admin API calls only.
 */
import { type Admin, AssignerProtocol } from 'kafkajs';
import { fetchConsumerLag } from '../kafka/lag.ts';
import { renderTable, replayCursorGroup, topicSize } from './dlq.ts';

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  /** Partitions of each topic assigned to this member (empty while the group rebalances). */
  assignment: Record<string, number[]>;
}

export interface PartitionStatus {
  partition: number;
  /** Next offset the group will read; -1 when it never committed on this partition. */
  committed: number;
  end: number;
  lag: number;
  /** memberId of the owner, when the group is Stable. */
  owner: string | undefined;
}

export interface DlqStatus {
  topic: string;
  exists: boolean;
  /** Records retained (sum of end - earliest offsets). */
  messages: number;
  /** Records past the cursor of unfiltered replays (`<group>.dlq-replay`). */
  beyondReplayCursor: number;
  partitions: Array<{ partition: number; low: number; high: number }>;
}

export interface WorkerStatus {
  group: string;
  topic: string;
  state: string;
  protocol: string;
  members: GroupMember[];
  partitions: PartitionStatus[];
  totalLag: number;
  dlq: DlqStatus;
}

export function decodeAssignment(buffer: Buffer | null | undefined): Record<string, number[]> {
  if (!buffer || buffer.length === 0) return {};
  try {
    const decoded = AssignerProtocol.MemberAssignment.decode(buffer);
    const assignment: Record<string, number[]> = {};
    for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {})) {
      assignment[topic] = [...partitions].sort((a, b) => a - b);
    }
    return assignment;
  } catch {
    return {};
  }
}

function isUnknownTopic(err: unknown): boolean {
  const e = err as { type?: string; message?: string } | null;
  return (
    e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' ||
    /does not host this topic-partition|not found/i.test(e?.message ?? '')
  );
}

export async function fetchWorkerStatus(
  admin: Admin,
  options: { group: string; topic: string; dlqTopic: string },
): Promise<WorkerStatus> {
  const { group, topic, dlqTopic } = options;
  // Without this check kafkajs' "This server does not host this topic-partition" is all one sees.
  if (!(await admin.listTopics()).includes(topic)) {
    throw new Error(
      `${topic} does not exist: no job was enqueued to it and no worker has run on it (KAFKA_TOPIC?)`,
    );
  }
  const [lag, described] = await Promise.all([
    fetchConsumerLag(admin, group, topic),
    admin.describeGroups([group]),
  ]);
  const description = described.groups[0];
  const members: GroupMember[] = (description?.members ?? [])
    .map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      assignment: decodeAssignment(m.memberAssignment),
    }))
    .sort((a, b) => a.clientId.localeCompare(b.clientId) || a.memberId.localeCompare(b.memberId));
  const ownerOf = new Map<number, string>();
  for (const m of members) for (const p of m.assignment[topic] ?? []) ownerOf.set(p, m.memberId);
  const partitions = lag.map((p) => ({ ...p, owner: ownerOf.get(p.partition) }));

  let dlq: DlqStatus = { topic: dlqTopic, exists: false, messages: 0, beyondReplayCursor: 0, partitions: [] };
  try {
    const [size, cursor] = await Promise.all([
      topicSize(admin, dlqTopic),
      admin.fetchOffsets({ groupId: replayCursorGroup(group), topics: [dlqTopic] }),
    ]);
    const cursorOf = new Map(
      (cursor[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)] as const),
    );
    const beyond = size.partitions.reduce(
      (n, p) => n + Math.max(0, p.high - Math.max(p.low, cursorOf.get(p.partition) ?? 0)),
      0,
    );
    dlq = {
      topic: dlqTopic,
      exists: true,
      messages: size.messages,
      beyondReplayCursor: beyond,
      partitions: size.partitions,
    };
  } catch (err) {
    if (!isUnknownTopic(err)) throw err;
  }

  return {
    group,
    topic,
    state: description?.state ?? 'Unknown',
    protocol: description?.protocol ?? '',
    members,
    partitions,
    totalLag: partitions.reduce((n, p) => n + p.lag, 0),
    dlq,
  };
}

export function renderWorkerStatus(status: WorkerStatus): string {
  const out: string[] = [];
  const memberLabel = new Map(status.members.map((m) => [m.memberId, `${m.clientId} ${m.clientHost}`]));
  out.push(
    `Group ${status.group} on ${status.topic}: ${status.state}` +
      `${status.protocol ? ` (${status.protocol})` : ''}, ${status.members.length} member(s), total lag ${status.totalLag}`,
  );
  out.push('');
  out.push(
    renderTable(
      ['PARTITION', 'COMMITTED', 'END', 'LAG', 'OWNER'],
      status.partitions.map((p) => [
        String(p.partition),
        p.committed < 0 ? '-' : String(p.committed),
        String(p.end),
        String(p.lag),
        p.owner === undefined ? '-' : (memberLabel.get(p.owner) ?? p.owner),
      ]),
    ),
  );
  out.push('');
  if (status.members.length === 0) {
    out.push('No members: no worker is consuming (or the group is rebalancing).');
  } else {
    out.push(
      renderTable(
        ['MEMBER', 'CLIENT', 'HOST', 'ASSIGNMENT'],
        status.members.map((m) => [
          m.memberId,
          m.clientId,
          m.clientHost,
          Object.entries(m.assignment)
            .map(([topic, parts]) => `${topic}: ${parts.length > 0 ? parts.join(',') : '-'}`)
            .join('; ') || '-',
        ]),
      ),
    );
  }
  out.push('');
  const { dlq } = status;
  if (!dlq.exists) {
    out.push(`Dead letters: ${dlq.topic} does not exist yet`);
  } else {
    const perPartition = dlq.partitions.map((p) => `${p.partition}:${Math.max(0, p.high - p.low)}`).join(' ');
    out.push(
      `Dead letters: ${dlq.messages} in ${dlq.topic} (per partition ${perPartition}); ` +
        `${dlq.beyondReplayCursor} past the unfiltered replay cursor — see 'kafka-worker dlq list'`,
    );
  }
  return `${out.join('\n')}\n`;
}

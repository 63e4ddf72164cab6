/**
 * Group-coordinator failover for kafkajs 2.2.4 consumers.
 *
 * kafkajs looks the group coordinator up when a consumer joins the group and then keeps that
 * broker: when the coordinator dies, every offset commit fails with "Broker N not found in the
 * cached metadata" (the offset manager re-resolves the dead node id instead of asking who the
 * coordinator is now) and every heartbeat fails to connect, until the dead node returns or
 * kafkajs crashes and restarts the consumer — 30–70 s of no commits on a 3-node cluster, and a
 * rebalance that redelivers thousands of handled jobs.
 *
 * The Java client instead marks the coordinator unknown and asks any broker (FindCoordinator);
 * the new coordinator loads the group from `__consumer_offsets` and accepts the member's
 * heartbeats and commits with its current generation. This module makes kafkajs do the same:
 * an offset commit or fetch, or a heartbeat, that fails because the coordinator is gone
 * (connection refused/closed, node no longer in the metadata, "not coordinator", "coordinator
 * not available") looks the coordinator up again and is retried once at the new one.
 *
 * Joining has the same hole: kafkajs' ConsumerGroup#joinAndSync retries only "rebalance in
 * progress" and gives up on anything else. A JoinGroup is parked at the coordinator until every
 * member has rejoined (seconds, or minutes while a member finishes a long batch), so a consumer
 * starting or rejoining when the coordinator dies loses its join; at start kafkajs then crashes
 * the consumer and restarts it from scratch. Here a join that fails because the coordinator
 * is gone or still loading the group is started again at the successor, unless the consumer
 * is stopping (kafkajs' Runner#stop marks its group).
 *
 * kafkajs exposes neither the coordinator nor a hook, so this wraps five methods of its
 * internal classes (ConsumerGroup#heartbeat and #joinAndSync, OffsetManager#getCoordinator and
 * #commitOffsets, Runner#stop), once per process. It checks that they exist and refuses to start
 * otherwise, so a kafkajs upgrade that moves them fails loudly instead of silently losing the
 * failover.
 */
import { createRequire } from 'node:module';
import { sleep } from '../retry/backoff.ts';

const require = createRequire(import.meta.url);

interface BrokerLike {
  nodeId: number;
  isConnected(): boolean;
}

interface ClusterLike {
  findBroker(broker: { nodeId: number }): Promise<BrokerLike>;
  findGroupCoordinatorMetadata(options: { groupId: string }): Promise<{ coordinator: { nodeId: number } }>;
  refreshMetadata(): Promise<void>;
}

interface OffsetManagerLike {
  cluster: ClusterLike;
  coordinator: BrokerLike;
  groupId: string;
  getCoordinator(): Promise<BrokerLike>;
  commitOffsets(offsets?: unknown): Promise<void>;
}

interface ConsumerGroupLike {
  cluster: ClusterLike;
  coordinator: BrokerLike | null;
  groupId: string;
  memberId: string | null;
  offsetManager: OffsetManagerLike | null;
  heartbeat(options: { interval: number }): Promise<void>;
  joinAndSync(): Promise<void>;
  [STOPPING]?: boolean;
}

interface RunnerLike {
  consumerGroup: ConsumerGroupLike | null;
  stop(): Promise<void>;
}

type Proto<T> = { prototype: T };

/** Set on a consumer group whose consumer is stopping: it is not joined again from here. */
const STOPPING = Symbol('consumerStopping');

/** Pause between FindCoordinator rounds while the dead coordinator is being replaced. */
const REDISCOVER_INTERVAL_MS = 250;
/** Give up (the caller's error surfaces, and its next commit or heartbeat tries again) after this. */
const REDISCOVER_TIMEOUT_MS = 60_000;

/**
 * Asks the cluster who coordinates `groupId` until the answer is a broker we can connect to.
 * Until the controller fences the dead node (broker.session.timeout.ms) the answer is still the
 * dead node; kafkajs' own lookup backs off exponentially (up to seconds) between those tries,
 * this one asks again every REDISCOVER_INTERVAL_MS so it finds the successor right away.
 */
async function rediscoverCoordinator(
  cluster: ClusterLike,
  groupId: string,
  stopping: () => boolean = () => false,
): Promise<BrokerLike> {
  const deadline = Date.now() + REDISCOVER_TIMEOUT_MS;
  for (;;) {
    try {
      const { coordinator } = await cluster.findGroupCoordinatorMetadata({ groupId });
      return await cluster.findBroker({ nodeId: coordinator.nodeId });
    } catch (err) {
      if (Date.now() >= deadline || stopping()) throw err;
    }
    await sleep(REDISCOVER_INTERVAL_MS);
    await cluster.refreshMetadata().catch(() => undefined);
  }
}

/** Set on an offset manager whose coordinator must be looked up again before the next request. */
const STALE = Symbol('coordinatorStale');

/** True when `err` says the coordinator we hold is no longer the group's coordinator. */
export function isCoordinatorLost(err: unknown): boolean {
  const e = err as { name?: string; type?: string } | null;
  return (
    e?.name === 'KafkaJSBrokerNotFound' ||
    e?.name === 'KafkaJSConnectionError' ||
    e?.name === 'KafkaJSConnectionClosedError' ||
    e?.name === 'KafkaJSRequestTimeoutError' ||
    e?.type === 'NOT_COORDINATOR_FOR_GROUP' ||
    e?.type === 'GROUP_COORDINATOR_NOT_AVAILABLE'
  );
}

/** True when a failed join should be started again: the coordinator is gone or still loading. */
export function isJoinInterrupted(err: unknown): boolean {
  return isCoordinatorLost(err) || (err as { type?: string } | null)?.type === 'GROUP_LOAD_IN_PROGRESS';
}

let installed = false;

/** Installs the failover (idempotent). Throws when kafkajs' internals are not the expected ones. */
export function installCoordinatorFailover(): void {
  if (installed) return;
  const { prototype: offsetManager } = require('kafkajs/src/consumer/offsetManager/index.js') as Proto<
    OffsetManagerLike & { [STALE]?: boolean }
  >;
  const { prototype: consumerGroup } =
    require('kafkajs/src/consumer/consumerGroup.js') as Proto<ConsumerGroupLike>;
  const { prototype: clusterProto } = require('kafkajs/src/cluster/index.js') as Proto<ClusterLike>;
  const { prototype: runner } = require('kafkajs/src/consumer/runner.js') as Proto<RunnerLike>;
  for (const [name, fn] of [
    ['OffsetManager#getCoordinator', offsetManager.getCoordinator],
    ['OffsetManager#commitOffsets', offsetManager.commitOffsets],
    ['ConsumerGroup#heartbeat', consumerGroup.heartbeat],
    ['ConsumerGroup#joinAndSync', consumerGroup.joinAndSync],
    ['Runner#stop', runner.stop],
    ['Cluster#findGroupCoordinatorMetadata', clusterProto.findGroupCoordinatorMetadata],
    ['Cluster#findBroker', clusterProto.findBroker],
  ] as const) {
    if (typeof fn !== 'function') {
      throw new Error(
        `kafkajs has no ${name}: the coordinator failover (src/kafka/coordinator-failover.ts) needs updating`,
      );
    }
  }

  const getCoordinator = offsetManager.getCoordinator;
  offsetManager.getCoordinator = async function (this: OffsetManagerLike & { [STALE]?: boolean }) {
    if (!this[STALE]) {
      try {
        return await getCoordinator.call(this);
      } catch (err) {
        if (!isCoordinatorLost(err)) throw err;
      }
    }
    this.coordinator = await rediscoverCoordinator(this.cluster, this.groupId);
    this[STALE] = false;
    return this.coordinator;
  };

  const commitOffsets = offsetManager.commitOffsets;
  offsetManager.commitOffsets = async function (this: OffsetManagerLike & { [STALE]?: boolean }, offsets) {
    try {
      return await commitOffsets.call(this, offsets);
    } catch (err) {
      if (!isCoordinatorLost(err)) throw err;
      this[STALE] = true;
      return await commitOffsets.call(this, offsets);
    }
  };

  const heartbeat = consumerGroup.heartbeat;
  consumerGroup.heartbeat = async function (this: ConsumerGroupLike, options) {
    try {
      return await heartbeat.call(this, options);
    } catch (err) {
      if (!isCoordinatorLost(err) || this.memberId === null) throw err;
      this.coordinator = await rediscoverCoordinator(this.cluster, this.groupId, () => !!this[STOPPING]);
      if (this.offsetManager) this.offsetManager.coordinator = this.coordinator;
      return await heartbeat.call(this, options);
    }
  };

  const joinAndSync = consumerGroup.joinAndSync;
  consumerGroup.joinAndSync = async function (this: ConsumerGroupLike) {
    const deadline = Date.now() + REDISCOVER_TIMEOUT_MS;
    for (;;) {
      try {
        return await joinAndSync.call(this);
      } catch (err) {
        if (!isJoinInterrupted(err) || Date.now() >= deadline || this[STOPPING]) throw err;
      }
      await sleep(REDISCOVER_INTERVAL_MS);
      // The join looks the coordinator up itself; this waits until the answer is a live broker
      // (kafkajs' own lookup would back off for seconds between asking).
      await rediscoverCoordinator(this.cluster, this.groupId, () => !!this[STOPPING]);
    }
  };

  // kafkajs' Runner#stop returns at once while the runner is still starting (joining), so the
  // group is marked before it looks.
  const stop = runner.stop;
  runner.stop = async function (this: RunnerLike) {
    if (this.consumerGroup) this.consumerGroup[STOPPING] = true;
    return await stop.call(this);
  };
  installed = true;
}

/**
 * The local Kafka launcher reads why a broker did not start from the whole start-up log, not
 * only its last lines: a failed bind is followed by the broker's entire shutdown sequence, and a
 * port taken between "free" and "bound" must be recognised to be retried with other ports.
 */
import { describe, expect, it } from 'vitest';
import { startFailureCause } from '../../scripts/kafka-local.ts';

const shutdown = Array.from(
  { length: 80 },
  (_, i) =>
    `2026-11-27T18:37:07.${String(100 + i)} [kafka-shutdown-hook] [INFO] kafka.network.SocketServer - [SocketServer listenerType=CONTROLLER, nodeId=2] shutdown step ${i}`,
).join('\n');

describe('startFailureCause', () => {
  it('finds a taken port above a long shutdown and names the first error', () => {
    const log = [
      '2026-11-27T18:37:06.900 [main] [INFO] kafka.server.KafkaRaftServer - starting',
      '2026-11-27T18:37:07.001 [main] [ERROR] kafka.server.BrokerServer - [BrokerServer id=2] Fatal error during broker startup. Prepare to shutdown',
      'org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:40471: Address already in use.',
      'Caused by: java.net.BindException: Address already in use',
      shutdown,
    ].join('\n');
    expect(log.split('\n').slice(-40).join('\n')).not.toMatch(/Address already in use/);
    expect(startFailureCause(log)).toEqual({
      firstError:
        '2026-11-27T18:37:07.001 [main] [ERROR] kafka.server.BrokerServer - [BrokerServer id=2] Fatal error during broker startup. Prepare to shutdown',
      portInUse: true,
    });
  });

  it('does not call every failure a taken port', () => {
    const log = [
      '2026-11-27T18:37:07.001 [main] [ERROR] kafka.Kafka$ - Exiting Kafka due to fatal exception',
      'java.lang.OutOfMemoryError: Java heap space',
      shutdown,
    ].join('\n');
    expect(startFailureCause(log)).toEqual({
      firstError:
        '2026-11-27T18:37:07.001 [main] [ERROR] kafka.Kafka$ - Exiting Kafka due to fatal exception',
      portInUse: false,
    });
    expect(startFailureCause(shutdown)).toEqual({ portInUse: false });
  });
});

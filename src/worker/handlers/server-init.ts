/**
 * `server-init`: payload `{mcpServers: {<name>: {command, args?, env?, envFile?}}}` (a Claude
 * Desktop config). Calls `server_initialize` once per entry, in order, with idempotency key
 * `${jobID}:${name}` so a redelivered job does not initialize an entry twice.
 *
 * Entries are independent: a refused entry (tool error) does not stop the others. If any
 * entry failed the job fails permanently (dead-lettered) naming each failure; a re-run of the
 * dead letter replays the entries that had succeeded. A transient failure retries the job,
 * and the entries already done are replayed by the server, not re-run.
 */
import { z } from 'zod';
import { PermanentError, ToolError } from '../../retry/errors.ts';
import { defineJobHandler } from '../registry.ts';

export const mcpServerEntrySchema = z.object({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  envFile: z.string().min(1).optional(),
});

export const serverInitPayloadSchema = z.object({
  mcpServers: z
    .record(z.string().min(1).max(200), mcpServerEntrySchema)
    .refine((servers) => Object.keys(servers).length > 0, 'must name at least one server'),
});

export const serverInitHandler = defineJobHandler({
  jobType: 'server-init',
  description: 'initialize each entry of an mcpServers map via server_initialize: payload {mcpServers}',
  payloadSchema: serverInitPayloadSchema,
  async run(payload, ctx) {
    const servers: Array<Record<string, unknown>> = [];
    const failures: string[] = [];
    for (const [name, config] of Object.entries(payload.mcpServers)) {
      try {
        const result = await ctx.client.callServerInitialize(
          { name, config },
          { idempotencyKey: `${ctx.jobID}:${name}`, signal: ctx.signal },
        );
        ctx.logger.info(
          { server: name, status: result.status, tools: result.tools.length, replayed: result.replayed },
          'server initialized',
        );
        servers.push({
          name,
          status: result.status,
          serverInfo: result.serverInfo,
          protocolVersion: result.protocolVersion,
          tools: result.tools.map((tool) => tool.name),
          durationMs: result.durationMs,
          replayed: result.replayed,
        });
      } catch (err) {
        if (!(err instanceof ToolError)) throw err;
        ctx.logger.warn({ server: name, error: err.message }, 'server_initialize refused');
        failures.push(`${name}: ${err.message}`);
      }
    }
    if (failures.length > 0) {
      const done = servers.map((s) => s.name).join(', ');
      throw new PermanentError(
        'tool-error',
        `server_initialize failed for ${failures.length} of ${failures.length + servers.length} server(s): ` +
          `${failures.join('; ')}${done ? ` (succeeded: ${done})` : ''}`,
      );
    }
    return { servers };
  },
});

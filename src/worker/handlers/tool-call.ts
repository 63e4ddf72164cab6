/**
 * `tool-call`: `{tool, arguments}` — calls any tool of the MCP server (e.g. bulk `save_note`).
 * Idempotency key = jobID, so a redelivered job replays the recorded result instead of
 * running the tool twice.
 */
import { z } from 'zod';
import { defineJobHandler } from '../registry.ts';

const MAX_SUMMARY_TEXT = 500;
const MAX_SUMMARY_STRUCTURED_BYTES = 2_048;

export const toolCallPayloadSchema = z.strictObject({
  tool: z.string().trim().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export const toolCallHandler = defineJobHandler({
  jobType: 'tool-call',
  description: 'call one tool of the MCP server: payload {tool, arguments}',
  payloadSchema: toolCallPayloadSchema,
  async run(payload, ctx) {
    const result = await ctx.client.callTool(payload.tool, payload.arguments, {
      idempotencyKey: ctx.jobID,
      signal: ctx.signal,
    });
    ctx.logger.debug({ tool: payload.tool, replayed: result.replayed }, 'tool call succeeded');
    const structured = result.structuredContent;
    const smallStructured =
      structured !== undefined && JSON.stringify(structured).length <= MAX_SUMMARY_STRUCTURED_BYTES;
    return {
      tool: payload.tool,
      replayed: result.replayed,
      text:
        result.text.length > MAX_SUMMARY_TEXT ? `${result.text.slice(0, MAX_SUMMARY_TEXT)}…` : result.text,
      ...(smallStructured && { structuredContent: structured }),
    };
  },
});

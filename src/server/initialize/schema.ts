/**
 * Input schemas of server_initialize: a server name (the catalog key) and one entry of a
 * Claude-Desktop-style `mcpServers` map. The descriptions are read by LLM clients, so they
 * say what each field does and what the server will refuse. Unknown keys some clients add
 * (`type`, `disabled`, `autoApprove`, …) are dropped; known keys are strictly typed.
 */
import { z } from 'zod';

const NO_NUL = (s: string) => !s.includes('\0');

/** Messages for a missing field or one of the wrong type; other issues keep their own message. */
const typed = (field: string, type: string) => ({
  error: (issue: { code?: string; input?: unknown }) => {
    if (issue.code !== 'invalid_type') return undefined;
    return issue.input === undefined ? `${field} is required` : `${field} must be ${type}`;
  },
});

export const serverNameSchema = z
  .string(typed('name', 'a string'))
  .min(1, 'name must not be empty')
  .max(100, 'name must be at most 100 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'name may contain only letters, digits, "_", "." and "-"')
  .describe('Name of the server, the key of its mcpServers entry (e.g. "MariaDB_Server"); the catalog key');

const ENV_NAME_RULE = 'env variable names must be letters, digits and "_", not starting with a digit';
const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, ENV_NAME_RULE);

export const mcpServerEntrySchema = z.object({
  command: z
    .string(typed('command', 'a string'))
    .min(1, 'command must not be empty')
    .max(4096, 'command must be at most 4096 characters')
    .refine(NO_NUL, 'command must not contain NUL characters')
    .describe(
      'Program that starts the stdio MCP server, e.g. "npx", "uvx", "node". It must be on the server\'s ' +
        "allowlist: a bare name is looked up on the server's PATH; a path runs only if that exact path is " +
        'allowed. It is run directly, never through a shell.',
    ),
  args: z
    .array(
      z
        .string(typed('each of args', 'a string'))
        .max(32_768, 'each argument must be at most 32768 characters')
        .refine(NO_NUL, 'arguments must not contain NUL characters'),
      typed('args', 'an array of strings'),
    )
    .max(1024, 'args must have at most 1024 items')
    .optional()
    .describe('Arguments passed to the command as they are (no shell expansion, no quoting needed)'),
  env: z
    .record(
      envNameSchema,
      z
        .string(typed('each env value', 'a string'))
        .max(32_768, 'env values must be at most 32768 characters')
        .refine(NO_NUL, 'env values must not contain NUL characters'),
      {
        error: (issue) =>
          issue.code === 'invalid_key'
            ? ENV_NAME_RULE
            : typed('env', 'an object of string values').error(issue),
      },
    )
    .optional()
    .describe(
      'Environment variables for the server. The server starts with only PATH and HOME plus these ' +
        '(and those of envFile); values override envFile. PATH and loader variables (LD_*, DYLD_*) cannot be set.',
    ),
  envFile: z
    .string(typed('envFile', 'a string'))
    .min(1, 'envFile must not be empty')
    .max(4096, 'envFile must be at most 4096 characters')
    .refine(NO_NUL, 'envFile must not contain NUL characters')
    .optional()
    .describe(
      "A dotenv file (KEY=value lines) whose variables the server gets, as a path inside the server's " +
        'configured env directory (MCP_INIT_ENV_DIR); paths leaving that directory are refused.',
    ),
});

export type McpServerEntry = z.infer<typeof mcpServerEntrySchema>;

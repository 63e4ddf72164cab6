import { describe, expect, it } from 'vitest';
import { OutputTail, redactValues } from '../../src/server/initialize/output-tail.ts';
import { mcpServerEntrySchema, serverNameSchema } from '../../src/server/initialize/schema.ts';

const messages = (input: unknown) => {
  const result = mcpServerEntrySchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('mcpServerEntrySchema', () => {
  it('accepts the seed entry and drops keys other clients add', () => {
    const entry = mcpServerEntrySchema.parse({
      command: 'uv',
      args: ['--directory', 'path/to/server', 'run', 'server.py'],
      envFile: 'path/to/.env',
      env: { DB_HOST: 'db' },
      type: 'stdio',
      disabled: false,
    });
    expect(entry).toEqual({
      command: 'uv',
      args: ['--directory', 'path/to/server', 'run', 'server.py'],
      envFile: 'path/to/.env',
      env: { DB_HOST: 'db' },
    });
  });

  it('names the field and the problem', () => {
    expect(messages({})).toEqual(['command: command is required']);
    expect(messages({ command: 42 })).toEqual(['command: command must be a string']);
    expect(messages({ command: '' })).toEqual(['command: command must not be empty']);
    expect(messages({ command: 'npx', args: 'a b' })).toEqual(['args: args must be an array of strings']);
    expect(messages({ command: 'npx', args: ['ok', 3] })).toEqual(['args.1: each of args must be a string']);
    expect(messages({ command: 'npx', env: { PORT: 8080 } })).toEqual([
      'env.PORT: each env value must be a string',
    ]);
    expect(messages({ command: 'npx', env: ['A=1'] })).toEqual([
      'env: env must be an object of string values',
    ]);
    expect(messages({ command: 'npx', env: { 'BAD-NAME': '1' } })[0]).toMatch(/env variable names/);
    expect(messages({ command: 'npx', envFile: 7 })).toEqual(['envFile: envFile must be a string']);
    expect(messages({ command: 'np\0x' })).toEqual(['command: command must not contain NUL characters']);
  });

  it('describes every field for LLM clients', () => {
    for (const field of ['command', 'args', 'env', 'envFile'] as const) {
      expect(mcpServerEntrySchema.shape[field].description, field).toBeTruthy();
    }
  });
});

describe('serverNameSchema', () => {
  it('takes catalog-safe names of 1–100 characters', () => {
    for (const name of ['MariaDB_Server', 'a', 'my.server-2', 'x'.repeat(100)]) {
      expect(serverNameSchema.safeParse(name).success, name).toBe(true);
    }
    for (const name of ['', 'has space', 'slash/name', 'x'.repeat(101), 'ünicode', 42]) {
      expect(serverNameSchema.safeParse(name).success, String(name)).toBe(false);
    }
  });
});

describe('OutputTail', () => {
  it('keeps only the last bytes and marks the cut', () => {
    const tail = new OutputTail(10);
    tail.append('hello ');
    expect(tail.text()).toBe('hello');
    tail.append(Buffer.from('world, again'));
    expect(tail.text()).toBe('…rld, again');
    tail.append('0123456789abcdef');
    expect(tail.text()).toBe('…6789abcdef');
  });
});

describe('redactValues', () => {
  it('masks every occurrence of the values, longest first, ignoring very short ones', () => {
    expect(redactValues('token=abcd1234 again abcd1234 and abcd', ['abcd', 'abcd1234', 'x'])).toBe(
      'token=[redacted] again [redacted] and [redacted]',
    );
    expect(redactValues('id=1 ok', ['1', 'ok'])).toBe('id=1 ok');
  });
});

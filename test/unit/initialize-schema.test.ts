import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OutputTail, type RedactOptions, redactValues } from '../../src/server/initialize/output-tail.ts';
import { mcpServerEntrySchema, serverNameSchema } from '../../src/server/initialize/schema.ts';
import { ChildStdioTransport } from '../../src/server/initialize/stdio-transport.ts';

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

  it('masks secrets before the cut, and the piece of one the cut left at its start', () => {
    const secret = 'hunter2-secret-value';
    const tail = new OutputTail(24);
    tail.append(`password=${secret} failed\n`);
    const redact = (text: string, options: RedactOptions) => redactValues(text, [secret], options);
    // The last 24 bytes begin inside the secret.
    expect(tail.text()).toBe('…er2-secret-value failed');
    expect(tail.text(redact)).toBe('…[redacted] failed');
    const whole = new OutputTail(64);
    whole.append(`password=${secret} failed\n`);
    expect(whole.text(redact)).toBe('password=[redacted] failed');
  });
});

describe('redactValues', () => {
  it('masks every occurrence of the values, longest first, ignoring very short ones', () => {
    expect(redactValues('token=abcd1234 again abcd1234 and abcd', ['abcd', 'abcd1234', 'x'])).toBe(
      'token=[redacted] again [redacted] and [redacted]',
    );
    expect(redactValues('id=1 ok', ['1', 'ok'])).toBe('id=1 ok');
  });

  it('with cutAtStart, also masks a start that is the end of a value (a tail cut into it)', () => {
    const values = ['s3cret-value-1234', 'other'];
    expect(redactValues('value-1234 and s3cret-value-1234', values, { cutAtStart: true })).toBe(
      '[redacted] and [redacted]',
    );
    // A multi-byte character cut in two decodes as U+FFFD before the rest of the value.
    expect(redactValues('\uFFFDß-tail', ['pwd-äß-tail'], { cutAtStart: true })).toBe('[redacted]');
    // Not the end of any value, or not cut: left alone.
    expect(redactValues('value-9 rest', values, { cutAtStart: true })).toBe('value-9 rest');
    expect(redactValues('value-1234 rest', values)).toBe('value-1234 rest');
  });
});

describe('ChildStdioTransport', () => {
  it.each([
    ['S3CRETVALUE-0123456789 is not JSON', /^not valid JSON$/],
    ['{"S3CRETVALUE-0123456789": 1}', /^valid JSON, but not a JSON-RPC message$/],
  ])('reports the whole offending line (%s) with an error that does not quote it', async (line, why) => {
    const stdout = new PassThrough();
    const transport = new ChildStdioTransport(new PassThrough(), stdout);
    const reported = new Promise<{ output: string; error: Error }>((resolve) => {
      transport.onInvalidOutput = (output, error) => resolve({ output, error });
    });
    await transport.start();
    stdout.write(`${line}\n`);
    const { output, error } = await reported;
    expect(output).toBe(line);
    expect(error.message).toMatch(why);
    expect(error.message).not.toContain('S3CRET');
    await transport.close();
  });
});

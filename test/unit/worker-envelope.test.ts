import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../src/retry/errors.ts';
import {
  decodeJobMessage,
  peekJobIdentity,
  readJobMessage,
  toJobEnvelope,
} from '../../src/worker/envelope.ts';
import { createDefaultJobRegistry } from '../../src/worker/handlers/index.ts';

const SEED_VALUE =
  '{"jobID":"job-123","jobType":"server-init","payload":"{\\"mcpServers\\":{\\"MariaDB_Server\\":{\\"command\\":\\"uv\\",\\"args\\":[\\"--directory\\",\\"path/to/server\\",\\"run\\",\\"server.py\\"],\\"envFile\\":\\"path/to/.env\\"}}}"}';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PermanentError);
    return (err as PermanentError).reason;
  }
  throw new Error('expected a PermanentError');
}

describe('job envelope', () => {
  it('decodes the seed message (payload as a JSON string)', () => {
    const job = decodeJobMessage(Buffer.from(SEED_VALUE), 1024 * 1024);
    expect(job).toEqual({
      jobID: 'job-123',
      jobType: 'server-init',
      payload: {
        mcpServers: {
          MariaDB_Server: {
            command: 'uv',
            args: ['--directory', 'path/to/server', 'run', 'server.py'],
            envFile: 'path/to/.env',
          },
        },
      },
    });
    const resolved = createDefaultJobRegistry().resolve(job);
    expect(resolved.handler.jobType).toBe('server-init');
  });

  it('accepts the payload as an object', () => {
    const job = toJobEnvelope({ jobID: 'a', jobType: 'tool-call', payload: { tool: 'list_notes' } });
    expect(job.payload).toEqual({ tool: 'list_notes' });
    const resolved = createDefaultJobRegistry().resolve(job);
    expect(resolved.payload).toEqual({ tool: 'list_notes', arguments: {} });
  });

  it('names each way a message can be poison', () => {
    const max = 1024;
    expect(reasonOf(() => decodeJobMessage(null, max))).toBe('invalid-envelope');
    expect(reasonOf(() => decodeJobMessage(Buffer.from('not json'), max))).toBe('invalid-json');
    expect(reasonOf(() => decodeJobMessage(Buffer.from('x'.repeat(max + 1)), max))).toBe('message-too-large');
    expect(reasonOf(() => decodeJobMessage(Buffer.from('[1,2]'), max))).toBe('invalid-envelope');
    expect(
      reasonOf(() => decodeJobMessage(Buffer.from('{"jobID":"","jobType":"x","payload":{}}'), max)),
    ).toBe('invalid-envelope');
    expect(reasonOf(() => decodeJobMessage(Buffer.from('{"jobID":"a","jobType":"x"}'), max))).toBe(
      'invalid-envelope',
    );
    expect(
      reasonOf(() => decodeJobMessage(Buffer.from('{"jobID":"a","jobType":"x","payload":"{oops"}'), max)),
    ).toBe('invalid-payload');
    expect(
      reasonOf(() => decodeJobMessage(Buffer.from('{"jobID":"a","jobType":"x","payload":"[1]"}'), max)),
    ).toBe('invalid-payload');
  });

  it('the registry rejects unknown job types and bad payloads', () => {
    const registry = createDefaultJobRegistry();
    expect(reasonOf(() => registry.resolve({ jobID: 'a', jobType: 'nope', payload: {} }))).toBe(
      'unknown-job-type',
    );
    expect(
      reasonOf(() => registry.resolve({ jobID: 'a', jobType: 'tool-call', payload: { tool: '' } })),
    ).toBe('invalid-payload');
    expect(
      reasonOf(() =>
        registry.resolve({ jobID: 'a', jobType: 'tool-call', payload: { tool: 'x', args: {} } }),
      ),
    ).toBe('invalid-payload');
    expect(
      reasonOf(() => registry.resolve({ jobID: 'a', jobType: 'server-init', payload: { mcpServers: {} } })),
    ).toBe('invalid-payload');
    expect(
      reasonOf(() =>
        registry.resolve({
          jobID: 'a',
          jobType: 'server-init',
          payload: { mcpServers: { s: { args: [] } } },
        }),
      ),
    ).toMatch('invalid-payload');
  });

  it('peeks the identity of a message that fails validation', () => {
    expect(peekJobIdentity(Buffer.from('{"jobID":"j1","jobType":"nope"}'), 1024)).toEqual({
      jobID: 'j1',
      jobType: 'nope',
    });
    expect(peekJobIdentity(Buffer.from('garbage'), 1024)).toEqual({});
    expect(peekJobIdentity(null, 1024)).toEqual({});
  });

  it('reads a value once: the job and its identity, or the error and a peeked identity', () => {
    const read = readJobMessage(Buffer.from('{"jobID":" j1 ","jobType":"tool-call","payload":"{}"}'), 1024);
    expect(read).toEqual({
      ok: true,
      job: { jobID: 'j1', jobType: 'tool-call', payload: {} },
      identity: { jobID: 'j1', jobType: 'tool-call' },
    });
    const bad = readJobMessage(Buffer.from('{"jobID":"j2","jobType":"x","payload":"{oops"}'), 1024);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.reason).toBe('invalid-payload');
    expect(bad.identity).toEqual({ jobID: 'j2', jobType: 'x' });
    const tooLarge = readJobMessage(Buffer.from(`{"jobID":"j3","pad":"${'x'.repeat(2000)}"}`), 1024);
    expect(!tooLarge.ok && tooLarge.error.reason).toBe('message-too-large');
    expect(tooLarge.identity).toEqual({});
  });
});

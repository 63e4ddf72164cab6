import { describe, expect, it } from 'vitest';
import { ConfigError, parseServerConfig, parseWorkerConfig } from '../../src/config.ts';

describe('server config', () => {
  it('has the documented defaults', () => {
    const c = parseServerConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      notesDb: './data/notes.db',
      databaseUrl: undefined,
      stateless: false,
      authToken: undefined,
      allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
      allowedOrigins: [],
      maxContentBytes: 1024 * 1024,
      init: {
        allowedCommands: ['node', 'npx', 'uv', 'uvx', 'python3'],
        envDir: undefined,
        timeoutMs: 30_000,
      },
      logLevel: 'info',
    });
  });

  it('parses values and lists', () => {
    const c = parseServerConfig({
      PORT: '9000',
      MCP_STATELESS: 'true',
      MCP_ALLOWED_HOSTS: ' MCP-Server , mcp-server.ns.svc ',
      MCP_INIT_ALLOWED_COMMANDS: 'node',
      PATH: '/usr/bin',
      HOME: '/home/x',
      SECRET: 'not copied',
    });
    expect(c.port).toBe(9000);
    expect(c.stateless).toBe(true);
    expect(c.allowedHosts).toEqual(['mcp-server', 'mcp-server.ns.svc']);
    expect(c.init.allowedCommands).toEqual(['node']);
    expect(c.init.baseEnv).toEqual({ PATH: '/usr/bin', HOME: '/home/x' });
  });

  it('names the variable in a bad value', () => {
    expect(() => parseServerConfig({ PORT: '70000' })).toThrow(ConfigError);
    expect(() => parseServerConfig({ PORT: '70000' })).toThrow(
      /PORT: must be an integer between 0 and 65535/,
    );
    expect(() => parseServerConfig({ MCP_STATELESS: 'maybe' })).toThrow(/MCP_STATELESS/);
    expect(() => parseServerConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });
});

describe('worker config', () => {
  it('derives the dead-letter and results topics from KAFKA_TOPIC', () => {
    const c = parseWorkerConfig({ KAFKA_BROKERS: 'a:9092, b:9092', KAFKA_TOPIC: 'jobs' });
    expect(c.brokers).toEqual(['a:9092', 'b:9092']);
    expect(c.dlqTopic).toBe('jobs.dlq');
    expect(c.resultsTopic).toBe('jobs.results');
    expect(c.groupId).toBe('mcp-workers');
    expect(c.serverUrl).toBe('http://localhost:8080');
  });

  it('rejects a server URL that is not a URL', () => {
    expect(() => parseWorkerConfig({ MCP_SERVER_URL: 'not a url' })).toThrow(/MCP_SERVER_URL: must be a URL/);
  });
});

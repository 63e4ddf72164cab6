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
        sandbox: 'bwrap',
        sandboxPaths: [],
        network: 'none',
        memoryMb: 1024,
        maxConcurrent: 4,
        maxListingBytes: 1024 * 1024,
      },
      idempotencyTtlMs: 7 * 24 * 60 * 60_000,
      logLevel: 'info',
    });
  });

  it('allows no command at all when MCP_INIT_ALLOWED_COMMANDS is set but empty', () => {
    expect(parseServerConfig({ MCP_INIT_ALLOWED_COMMANDS: '' }).init.allowedCommands).toEqual([]);
    expect(parseServerConfig({ MCP_INIT_ALLOWED_COMMANDS: ' ' }).init.allowedCommands).toEqual([]);
    expect(parseServerConfig({ MCP_INIT_ALLOWED_COMMANDS: ',' }).init.allowedCommands).toEqual([]);
  });

  it('parses the sandbox settings and refuses bad ones by name', () => {
    const c = parseServerConfig({
      MCP_INIT_SANDBOX: 'off',
      MCP_INIT_SANDBOX_PATHS: '/opt/servers, /srv/x',
      MCP_INIT_NETWORK: 'host',
      MCP_INIT_MEMORY_MB: '0',
      MCP_INIT_MAX_CONCURRENT: '2',
      MCP_INIT_MAX_LISTING_BYTES: '65536',
    });
    expect(c.init).toMatchObject({
      sandbox: 'off',
      sandboxPaths: ['/opt/servers', '/srv/x'],
      network: 'host',
      memoryMb: 0,
      maxConcurrent: 2,
      maxListingBytes: 65536,
    });
    expect(() => parseServerConfig({ MCP_INIT_SANDBOX: 'docker' })).toThrow(/MCP_INIT_SANDBOX/);
    expect(() => parseServerConfig({ MCP_INIT_SANDBOX_PATHS: 'relative/dir' })).toThrow(
      /MCP_INIT_SANDBOX_PATHS/,
    );
    expect(() => parseServerConfig({ MCP_INIT_NETWORK: 'bridge' })).toThrow(/MCP_INIT_NETWORK/);
    expect(() => parseServerConfig({ MCP_INIT_MAX_CONCURRENT: '0' })).toThrow(/MCP_INIT_MAX_CONCURRENT/);
  });

  it('parses MCP_IDEMPOTENCY_TTL as a duration', () => {
    const ttl = (v: string) => parseServerConfig({ MCP_IDEMPOTENCY_TTL: v }).idempotencyTtlMs;
    expect(ttl('7d')).toBe(7 * 86_400_000);
    expect(ttl('12h')).toBe(12 * 3_600_000);
    expect(ttl('90s')).toBe(90_000);
    expect(ttl('5000')).toBe(5000);
    expect(() => ttl('soon')).toThrow(/MCP_IDEMPOTENCY_TTL/);
    expect(() => ttl('10ms')).toThrow(/at least 1000 ms/);
  });

  it('parses the task pruner interval and tasks/list page size, only with KAFKA_BROKERS', () => {
    const tasks = (env: Record<string, string>) =>
      parseServerConfig({ KAFKA_BROKERS: 'k:9092', ...env }).tasks;
    expect(tasks({})).toMatchObject({ pruneIntervalMs: 60_000, listPageSize: 50 });
    expect(tasks({ MCP_TASK_PRUNE_INTERVAL: '200ms', MCP_TASKS_PAGE_SIZE: '3' })).toMatchObject({
      pruneIntervalMs: 200,
      listPageSize: 3,
    });
    expect(() => tasks({ MCP_TASK_PRUNE_INTERVAL: '10ms' })).toThrow(/MCP_TASK_PRUNE_INTERVAL/);
    expect(() => tasks({ MCP_TASKS_PAGE_SIZE: '0' })).toThrow(/MCP_TASKS_PAGE_SIZE/);
    expect(parseServerConfig({ MCP_TASKS_PAGE_SIZE: '3' }).tasks).toBeUndefined();
  });

  it('reads secrets from *_FILE, and refuses both forms, a missing file or an empty one', () => {
    const files: Record<string, string> = {
      '/run/secrets/token': 'tok\n',
      '/run/secrets/db': 'postgres://x',
      '/empty': '\n',
    };
    const read = (path: string) => {
      if (!(path in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[path]!;
    };
    const c = parseServerConfig(
      { MCP_AUTH_TOKEN_FILE: '/run/secrets/token', DATABASE_URL_FILE: '/run/secrets/db' },
      read,
    );
    expect(c.authToken).toBe('tok');
    expect(c.databaseUrl).toBe('postgres://x');
    expect(c.secretFiles).toEqual(['/run/secrets/token', '/run/secrets/db']);
    expect(() =>
      parseServerConfig({ MCP_AUTH_TOKEN: 'a', MCP_AUTH_TOKEN_FILE: '/run/secrets/token' }, read),
    ).toThrow(/set only one/);
    expect(() => parseServerConfig({ MCP_AUTH_TOKEN_FILE: '/missing' }, read)).toThrow(
      /MCP_AUTH_TOKEN_FILE: cannot read '\/missing' \(ENOENT\)/,
    );
    expect(() => parseServerConfig({ DATABASE_URL_FILE: '/empty' }, read)).toThrow(/is empty/);
    expect(parseWorkerConfig({ MCP_AUTH_TOKEN_FILE: '/run/secrets/token' }, read).authToken).toBe('tok');
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
    expect(c.serverUrls).toEqual(['http://localhost:8080']);
  });

  it('rejects a server URL that is not a URL', () => {
    expect(() => parseWorkerConfig({ MCP_SERVER_URL: 'not a url' })).toThrow(/MCP_SERVER_URL: must be a URL/);
    expect(() => parseWorkerConfig({ MCP_SERVER_URL: 'http://a:8080,nope' })).toThrow(/got 'nope'/);
  });

  it('reads a comma-separated list of server replicas, in order', () => {
    const c = parseWorkerConfig({ MCP_SERVER_URL: 'http://a:8080/, http://b:8080' });
    expect(c.serverUrls).toEqual(['http://a:8080', 'http://b:8080']);
  });

  it('orders by key by default, 16 jobs of a partition at once; partition and unordered on request', () => {
    const defaults = parseWorkerConfig({});
    expect(defaults.ordering).toBe('key');
    expect(defaults.jobsPerPartition).toBe(16);
    expect(parseWorkerConfig({ WORKER_ORDERING: 'partition' }).ordering).toBe('partition');
    const unordered = parseWorkerConfig({ WORKER_ORDERING: 'unordered', WORKER_JOBS_PER_PARTITION: '4' });
    expect(unordered).toMatchObject({ ordering: 'unordered', jobsPerPartition: 4 });
    expect(() => parseWorkerConfig({ WORKER_ORDERING: 'fifo' })).toThrow(/WORKER_ORDERING/);
    expect(() => parseWorkerConfig({ WORKER_JOBS_PER_PARTITION: '0' })).toThrow(/WORKER_JOBS_PER_PARTITION/);
  });
});

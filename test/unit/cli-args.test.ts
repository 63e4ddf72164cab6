/**
 * Command lines of mcp-server and of the kafka-local CLI (node:util parseArgs): what each accepts,
 * and that anything else is refused with a message naming it, the help, and exit code 2 — before
 * anything starts (no store opened, no broker launched).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError as KafkaLocalUsageError, parseKafkaLocalArgs } from '../../scripts/kafka-local-args.ts';
import { parseServerArgs, UsageError } from '../../src/server/args.ts';
import { REPO } from '../helpers/processes.ts';

function run(script: string, args: string[]) {
  return spawnSync(process.execPath, [join(REPO, script), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 30_000,
    // Nothing may be started: a port nobody listens on, a store that must not be created.
    env: { PATH: process.env.PATH, KAFKA_LOCAL_PORT: '1', NOTES_DB: '/nonexistent/dir/notes.db' },
  });
}

describe('mcp-server arguments', () => {
  it('serves HTTP by default and stdio with --stdio', () => {
    expect(parseServerArgs([])).toEqual({ action: 'serve', stdio: false });
    expect(parseServerArgs(['--stdio'])).toEqual({ action: 'serve', stdio: true });
  });

  it('--help, -h and --version win over everything else', () => {
    expect(parseServerArgs(['--help'])).toEqual({ action: 'help' });
    expect(parseServerArgs(['-h'])).toEqual({ action: 'help' });
    expect(parseServerArgs(['--stdio', '--version'])).toEqual({ action: 'version' });
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['-x'], "Unknown option '-x'"],
    [['--stdio=yes'], "Option '--stdio' does not take an argument"],
    [['stdio'], "Unexpected argument 'stdio'"],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseServerArgs(argv)).toThrow(UsageError);
    expect(() => parseServerArgs(argv)).toThrow(message);
  });

  it('the entrypoint prints the error, then the help, and exits 2 without starting', () => {
    const result = run('src/bin/mcp-server.ts', ['--bogus']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const [first, blank, title] = result.stderr.split('\n');
    expect(first).toBe("mcp-server: Unknown option '--bogus'");
    expect(blank).toBe('');
    expect(title).toMatch(/^mcp-server \d+\.\d+\.\d+ — /);
    expect(result.stderr).toContain('mcp-server --stdio');
  });

  it('--help prints the help to stdout and names every option the parser takes', () => {
    const result = run('src/bin/mcp-server.ts', ['--help']);
    expect(result.status).toBe(0);
    for (const option of ['--stdio', '--help', '-h', '--version']) expect(result.stdout).toContain(option);
  });
});

describe('kafka-local CLI arguments', () => {
  it('parses up, up --brokers N, down, down --wipe, status, help', () => {
    expect(parseKafkaLocalArgs(['up'])).toEqual({ command: 'up', brokers: 1 });
    expect(parseKafkaLocalArgs(['up', '--brokers', '3'])).toEqual({ command: 'up', brokers: 3 });
    expect(parseKafkaLocalArgs(['up', '--brokers=9'])).toEqual({ command: 'up', brokers: 9 });
    expect(parseKafkaLocalArgs(['down'])).toEqual({ command: 'down', wipe: false });
    expect(parseKafkaLocalArgs(['down', '--wipe'])).toEqual({ command: 'down', wipe: true });
    expect(parseKafkaLocalArgs(['status'])).toEqual({ command: 'status' });
    for (const argv of [[], ['--help'], ['-h'], ['up', '--help']])
      expect(parseKafkaLocalArgs(argv)).toEqual({ command: 'help' });
  });

  it.each([
    [['start'], "unknown command 'start' (up, down or status)"],
    [['up', '--bogus'], "up: Unknown option '--bogus'"],
    [['up', '--brokers'], "up: Option '--brokers <value>' argument missing"],
    [['up', '--brokers', '0'], "up: --brokers must be a whole number from 1 to 9, got '0'"],
    [['up', '--brokers', '10'], "up: --brokers must be a whole number from 1 to 9, got '10'"],
    [['up', '--brokers', '2.5'], "up: --brokers must be a whole number from 1 to 9, got '2.5'"],
    [['up', '--brokers', ' 3'], "up: --brokers must be a whole number from 1 to 9, got ' 3'"],
    [['down', '--brokers', '3'], "down: Unknown option '--brokers'"],
    [['status', 'now'], "status: Unexpected argument 'now'"],
    [['down', '--wipe=yes'], "down: Option '--wipe' does not take an argument"],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseKafkaLocalArgs(argv)).toThrow(KafkaLocalUsageError);
    expect(() => parseKafkaLocalArgs(argv)).toThrow(message);
  });

  it('the CLI prints the error, then the usage, and exits 2 without launching anything', () => {
    const result = run('scripts/kafka-local.ts', ['up', '--brokers', '3', '--bogus']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const [first, blank, usage] = result.stderr.split('\n');
    expect(first).toBe("kafka-local: up: Unknown option '--bogus'");
    expect(blank).toBe('');
    expect(usage).toMatch(/^usage: node scripts\/kafka-local\.ts up \[--brokers N\]/);
  });

  it('--help prints the usage to stdout and exits 0', () => {
    const result = run('scripts/kafka-local.ts', ['--help']);
    expect(result.status).toBe(0);
    for (const text of ['up [--brokers N]', 'down [--wipe]', 'status', 'KAFKA_LOCAL_HOME'])
      expect(result.stdout).toContain(text);
  });
});

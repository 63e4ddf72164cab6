import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decideCommand,
  findOnPath,
  isPathCommand,
  resolveAllowedCommand,
} from '../../src/server/initialize/allowlist.ts';
import { InitializeError } from '../../src/server/initialize/errors.ts';

const DEFAULTS = ['node', 'npx', 'uv', 'uvx', 'python3'];

describe('decideCommand', () => {
  it('allows exactly the listed bare names', () => {
    expect(decideCommand('npx', DEFAULTS)).toEqual({ allowed: true, kind: 'name' });
    expect(decideCommand('uvx', DEFAULTS)).toEqual({ allowed: true, kind: 'name' });
    for (const command of ['bash', 'sh', 'NPX', 'npx ', ' npx', 'npx;rm', 'python', 'node2', '']) {
      expect(decideCommand(command, DEFAULTS).allowed, command).toBe(false);
    }
  });

  it('refuses paths unless that exact path is listed', () => {
    for (const command of ['/usr/bin/node', './node', '../bin/npx', 'bin/node', 'C:\\node.exe', '/bin/sh']) {
      expect(isPathCommand(command)).toBe(true);
      expect(decideCommand(command, DEFAULTS).allowed, command).toBe(false);
    }
    const listed = [...DEFAULTS, '/opt/servers/run-db'];
    expect(decideCommand('/opt/servers/run-db', listed)).toEqual({ allowed: true, kind: 'path' });
    expect(decideCommand('/opt/servers/../servers/run-db', listed).allowed).toBe(false);
    expect(decideCommand('/opt/servers/run-db/', listed).allowed).toBe(false);
  });

  it('does not allow a bare name because its path is listed, nor the reverse', () => {
    expect(decideCommand('node', ['/usr/bin/node']).allowed).toBe(false);
    expect(decideCommand('/usr/bin/node', ['node']).allowed).toBe(false);
  });

  it('says why, naming the allowed commands', () => {
    expect(decideCommand('bash', DEFAULTS)).toEqual({
      allowed: false,
      why: `command 'bash' is not allowed; allowed commands: ${DEFAULTS.join(', ')}`,
    });
    expect(decideCommand('/bin/sh', DEFAULTS)).toEqual({
      allowed: false,
      why: `command path '/bin/sh' is not allowed: a path runs only if that exact path is on the allowlist (${DEFAULTS.join(', ')})`,
    });
  });

  it('allows nothing, by name or by path, when the list is empty, and says the list is empty', () => {
    for (const command of [...DEFAULTS, '/usr/bin/node', './server', 'bash', '']) {
      expect(decideCommand(command, []), command).toEqual({
        allowed: false,
        why: `command '${command}' is not allowed: MCP_INIT_ALLOWED_COMMANDS is empty: no command is allowed`,
      });
    }
  });
});

describe('findOnPath / resolveAllowedCommand', () => {
  let dir: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'allowlist-'));
    first = join(dir, 'first');
    second = join(dir, 'second');
    await mkdir(first);
    await mkdir(second);
    await mkdir(join(first, 'dirtool')); // a directory with the name is not a match
    await writeFile(join(first, 'tool'), '#!/bin/sh\n');
    await chmod(join(first, 'tool'), 0o644); // not executable: skipped
    await writeFile(join(second, 'tool'), '#!/bin/sh\n');
    await chmod(join(second, 'tool'), 0o755);
    await writeFile(join(second, 'dirtool'), '#!/bin/sh\n');
    await chmod(join(second, 'dirtool'), 0o755);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the first executable regular file, as execvp would', async () => {
    const path = [first, second].join(delimiter);
    expect(await findOnPath('tool', path)).toBe(join(second, 'tool'));
    expect(await findOnPath('dirtool', path)).toBe(join(second, 'dirtool'));
    expect(await findOnPath('missing', path)).toBeUndefined();
    expect(await findOnPath('tool', undefined)).toBeUndefined();
  });

  it('ignores empty and relative PATH entries (they would depend on the working directory)', async () => {
    expect(await findOnPath('tool', ['', '.', 'relative/bin'].join(delimiter))).toBeUndefined();
  });

  it('resolves an allowed name on the given PATH, refuses others, and reports a missing one', async () => {
    const path = [first, second].join(delimiter);
    expect(await resolveAllowedCommand('tool', ['tool'], path)).toBe(join(second, 'tool'));
    const refused = await resolveAllowedCommand('tool', ['node'], path).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InitializeError);
    expect((refused as InitializeError).reason).toBe('not_allowed');
    const missing = await resolveAllowedCommand('missing', ['missing'], path).catch((e: unknown) => e);
    expect((missing as InitializeError).reason).toBe('spawn_failed');
    expect((missing as InitializeError).message).toContain('ENOENT');
  });

  it('passes a listed path through unchanged', async () => {
    const exact = join(second, 'tool');
    expect(await resolveAllowedCommand(exact, [exact], '')).toBe(exact);
  });
});

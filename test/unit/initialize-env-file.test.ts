import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChildEnv } from '../../src/server/initialize/child-env.ts';
import {
  isWithin,
  loadEnvFile,
  MAX_ENV_FILE_BYTES,
  readEnvFile,
  resolveEnvFile,
} from '../../src/server/initialize/env-file.ts';
import { InitializeError } from '../../src/server/initialize/errors.ts';

let root: string;
let envDir: string;

async function refusal(promise: Promise<unknown>): Promise<InitializeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InitializeError);
  expect((err as InitializeError).reason).toBe('env_file');
  return err as InitializeError;
}

beforeAll(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'env-file-')));
  envDir = join(root, 'envs');
  await mkdir(join(envDir, 'nested'), { recursive: true });
  await writeFile(
    join(envDir, 'db.env'),
    '# comment\nDB_HOST=db\nDB_PASSWORD="p@ss word"\nexport TOKEN=abc\n',
  );
  await writeFile(join(envDir, 'nested', 'api.env'), 'API_KEY=k1\n');
  await writeFile(join(root, 'secret.env'), 'STOLEN=yes\n');
  await symlink(join(root, 'secret.env'), join(envDir, 'escape.env'));
  await symlink(join(root), join(envDir, 'escape-dir'));
  await symlink(join(envDir, 'db.env'), join(envDir, 'alias.env'));
  await writeFile(join(envDir, 'huge.env'), `BIG=${'x'.repeat(MAX_ENV_FILE_BYTES)}\n`);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('isWithin', () => {
  it('is lexical containment that does not confuse prefixes or "..name" files', () => {
    expect(isWithin('/a/b', '/a/b/c')).toBe(true);
    expect(isWithin('/a/b', '/a/b')).toBe(true);
    expect(isWithin('/a/b', '/a/b/..c')).toBe(true);
    expect(isWithin('/a/b', '/a/bc')).toBe(false);
    expect(isWithin('/a/b', '/a')).toBe(false);
    expect(isWithin('/a/b', '/etc/passwd')).toBe(false);
  });
});

describe('resolveEnvFile', () => {
  it('resolves relative paths inside the env dir, including nested ones and inner symlinks', async () => {
    expect(await resolveEnvFile('db.env', envDir)).toBe(join(envDir, 'db.env'));
    expect(await resolveEnvFile('nested/api.env', envDir)).toBe(join(envDir, 'nested', 'api.env'));
    expect(await resolveEnvFile('nested/../db.env', envDir)).toBe(join(envDir, 'db.env'));
    expect(await resolveEnvFile('alias.env', envDir)).toBe(join(envDir, 'db.env'));
  });

  it('accepts an absolute path only when it is inside the env dir', async () => {
    expect(await resolveEnvFile(join(envDir, 'db.env'), envDir)).toBe(join(envDir, 'db.env'));
    const err = await refusal(resolveEnvFile(join(root, 'secret.env'), envDir));
    expect(err.message).toContain('outside the env directory');
    await refusal(resolveEnvFile('/etc/passwd', envDir));
  });

  it('refuses .. traversal out of the env dir', async () => {
    for (const path of ['../secret.env', 'nested/../../secret.env', '..', '../envs-other/x.env']) {
      const err = await refusal(resolveEnvFile(path, envDir));
      expect(err.message, path).toContain('outside the env directory');
    }
  });

  it('refuses symlinks that lead out of the env dir (file or directory)', async () => {
    const file = await refusal(resolveEnvFile('escape.env', envDir));
    expect(file.message).toContain('through a symlink');
    const dir = await refusal(resolveEnvFile('escape-dir/secret.env', envDir));
    expect(dir.message).toContain('through a symlink');
  });

  it('refuses when no env dir is configured, or it does not exist', async () => {
    expect((await refusal(resolveEnvFile('db.env', undefined))).message).toContain('MCP_INIT_ENV_DIR');
    expect((await refusal(resolveEnvFile('db.env', '  '))).message).toContain('MCP_INIT_ENV_DIR');
    expect((await refusal(resolveEnvFile('db.env', join(root, 'missing-dir')))).message).toContain(
      'env directory does not exist',
    );
  });

  it('reports a missing file without revealing the directory', async () => {
    const err = await refusal(resolveEnvFile('nope.env', envDir));
    expect(err.message).toBe("envFile 'nope.env' does not exist in the env directory");
    expect(err.message).not.toContain(root);
  });
});

describe('loadEnvFile / readEnvFile', () => {
  it('parses dotenv syntax with node:util parseEnv', async () => {
    expect(await readEnvFile('db.env', envDir)).toEqual({
      DB_HOST: 'db',
      DB_PASSWORD: 'p@ss word',
      TOKEN: 'abc',
    });
  });

  it('refuses directories and oversized files', async () => {
    expect((await refusal(loadEnvFile(join(envDir, 'nested'), 'nested'))).message).toContain(
      'not a regular file',
    );
    expect((await refusal(readEnvFile('huge.env', envDir))).message).toContain('too large');
  });
});

describe('buildChildEnv', () => {
  it('layers PATH and HOME, then the env file, then env', () => {
    const env = buildChildEnv(
      { PATH: '/usr/bin', HOME: '/home/app' },
      { A: 'file', B: 'file' },
      { B: 'config', HOME: '/tmp/h' },
    );
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/tmp/h', A: 'file', B: 'config' });
  });

  it('omits PATH and HOME when the server has none', () => {
    expect(buildChildEnv({}, {}, { X: '1' })).toEqual({ X: '1' });
  });

  it('refuses PATH and loader variables from the request', () => {
    for (const name of ['PATH', 'Path', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES']) {
      expect(() => buildChildEnv({}, {}, { [name]: 'x' })).toThrow(InitializeError);
      try {
        buildChildEnv({}, {}, { [name]: 'x' });
      } catch (err) {
        expect((err as InitializeError).reason).toBe('not_allowed');
      }
      try {
        buildChildEnv({}, { [name]: 'x' }, {});
      } catch (err) {
        expect((err as InitializeError).reason).toBe('env_file');
      }
    }
  });

  it('keeps a "__proto__" variable as a plain variable', () => {
    const configEnv = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
    const env = buildChildEnv({}, {}, configEnv);
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
    expect(Object.keys(env)).toEqual(['__proto__']);
  });
});

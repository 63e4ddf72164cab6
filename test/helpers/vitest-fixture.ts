/**
 * Runs vitest in a child process on a fixture config outside the suite's globs, as a user's
 * `npx vitest run --config …` would: without this run's VITEST* / NODE_ENV variables, with
 * `env` applied on top (a value of undefined removes the variable). Resolves with the exit
 * code and everything it printed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { REPO } from './processes.ts';

const VITEST = resolve(REPO, 'node_modules/vitest/vitest.mjs');

export async function runVitestFixture(
  config: string,
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; output: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(childEnv)) {
    if (name.startsWith('VITEST') || name === 'NODE_ENV') delete childEnv[name];
  }
  for (const [name, value] of Object.entries({ NO_COLOR: '1', ...env })) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  const child = spawn(process.execPath, [VITEST, 'run', '--config', resolve(REPO, config)], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

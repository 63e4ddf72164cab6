/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against the real
 * server process over Streamable HTTP. Scenarios that need the suite's own test tools
 * (images, sampling, elicitation, prompts, …) are listed in conformance/expected-failures.yml
 * with the reason in docs/conformance.md; every other scenario must pass, and a listed
 * scenario that starts passing fails the run (a stale baseline), so the list stays true.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO, SERVER_ENTRY, type Spawned, spawnEntry } from '../helpers/processes.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const CLI = join(dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js');

/** Scenarios that apply to any MCP server; each must pass. */
const REQUIRED = [
  'server-initialize',
  'ping',
  'tools-list',
  'resources-list',
  'logging-set-level',
  'dns-rebinding-protection',
];

let server: Spawned;
let url: string;
let out: string;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'conformance-'));
  server = spawnEntry(SERVER_ENTRY, [], { PORT: '0', NOTES_DB: ':memory:', LOG_LEVEL: 'info' });
  const listening = await server.waitForLog((l) => l.msg === 'MCP server listening');
  url = `${(listening.url as string).replace('127.0.0.1', 'localhost')}/mcp`;
});

afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(out, { recursive: true, force: true });
});

it('passes every applicable scenario of the official conformance suite', async () => {
  let stdout = '';
  let code = 0;
  try {
    const result = await run(
      process.execPath,
      [
        CLI,
        'server',
        '--url',
        url,
        '--expected-failures',
        join(REPO, 'conformance/expected-failures.yml'),
        '-o',
        out,
      ],
      { cwd: out, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
    );
    stdout = result.stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    stdout = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
    code = e.code ?? 1;
  }
  expect(code, stdout).toBe(0);

  // Read the per-scenario checks and prove the required scenarios ran and passed.
  const results = new Map<string, string[]>();
  for (const entry of readdirSync(out, { recursive: true }) as string[]) {
    if (!entry.endsWith('checks.json')) continue;
    const checks = JSON.parse(readFileSync(join(out, entry), 'utf8')) as Array<{ status: string }>;
    const scenario = REQUIRED.find((s) => entry.includes(`server-${s}-`) || entry.includes(`${s}-`));
    if (scenario) results.set(scenario, [...(results.get(scenario) ?? []), ...checks.map((c) => c.status)]);
  }
  for (const scenario of REQUIRED) {
    const statuses = results.get(scenario);
    expect(statuses, `${scenario} ran`).toBeDefined();
    expect(
      statuses!.filter((s) => s === 'FAILURE'),
      `${scenario} has no failed check`,
    ).toEqual([]);
  }
});

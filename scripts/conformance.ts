/**
 * Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against a real
 * mcp-server process in one mode and compares every scenario with conformance/baseline.yml:
 * FAILURE scenarios must be exactly the baseline's failures, WARNING checks exactly its
 * warnings, everything else must pass. (The suite's own --expected-failures counts a warning
 * as a failure; this keeps the two apart.)
 *
 *   npm run conformance -- stateful|stateless      prints the table; exit 1 on any mismatch
 *
 * The suite's server scenarios connect over Streamable HTTP only, so the legacy SSE transport
 * is not something it can test (our end-to-end tests cover SSE).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { parse } from 'yaml';

export type ConformanceMode = 'stateful' | 'stateless';
export const MODES: ConformanceMode[] = ['stateful', 'stateless'];

const REPO = resolve(import.meta.dirname, '..');
const CLI = join(
  dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json')),
  'dist/index.js',
);
const run = promisify(execFile);

export interface Baseline {
  failures: Record<string, string>;
  warnings: Record<string, string[]>;
}

export interface ScenarioResult {
  scenario: string;
  failed: string[];
  warned: string[];
  passed: string[];
}

export interface ConformanceReport {
  mode: ConformanceMode;
  scenarios: ScenarioResult[];
  /** Differences from the baseline; empty when the run matches it. */
  mismatches: string[];
}

export function readBaseline(mode: ConformanceMode): Baseline {
  const file = parse(readFileSync(join(REPO, 'conformance/baseline.yml'), 'utf8')) as {
    modes: Record<string, Partial<Baseline>>;
  };
  const entry = file.modes[mode];
  if (!entry) throw new Error(`conformance/baseline.yml has no mode '${mode}'`);
  return { failures: entry.failures ?? {}, warnings: entry.warnings ?? {} };
}

/** Compares per-scenario check statuses with the baseline. */
export function compareWithBaseline(scenarios: ScenarioResult[], baseline: Baseline): string[] {
  const mismatches: string[] = [];
  const seen = new Set(scenarios.map((s) => s.scenario));
  for (const s of scenarios) {
    const expectFailure = Object.hasOwn(baseline.failures, s.scenario);
    if (s.failed.length > 0 && !expectFailure)
      mismatches.push(`${s.scenario}: unexpected failure (${s.failed.join(', ')})`);
    if (s.failed.length === 0 && expectFailure)
      mismatches.push(`${s.scenario}: passes now; remove it from the baseline's failures`);
    const expectedWarnings = [...(baseline.warnings[s.scenario] ?? [])].sort();
    const warned = [...s.warned].sort();
    if (JSON.stringify(warned) !== JSON.stringify(expectedWarnings)) {
      mismatches.push(
        `${s.scenario}: warnings ${JSON.stringify(warned)}, baseline ${JSON.stringify(expectedWarnings)}`,
      );
    }
  }
  for (const listed of [...Object.keys(baseline.failures), ...Object.keys(baseline.warnings)]) {
    if (!seen.has(listed)) mismatches.push(`${listed}: in the baseline but the suite did not run it`);
  }
  return mismatches;
}

function readResults(dir: string): ScenarioResult[] {
  const results: ScenarioResult[] = [];
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    if (!entry.endsWith('checks.json')) continue;
    const folder = dirname(entry).split(/[\\/]/).at(-1)!;
    // <role>-<scenario>-<ISO timestamp>
    const scenario = folder.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    const checks = JSON.parse(readFileSync(join(dir, entry), 'utf8')) as Array<{
      id: string;
      status: string;
    }>;
    const ids = (status: string) => checks.filter((c) => c.status === status).map((c) => c.id);
    results.push({ scenario, failed: ids('FAILURE'), warned: ids('WARNING'), passed: ids('SUCCESS') });
  }
  return results.sort((a, b) => a.scenario.localeCompare(b.scenario));
}

/** Starts mcp-server in `mode` on a free port, runs the active suite against it, stops it. */
export async function runConformance(mode: ConformanceMode): Promise<ConformanceReport> {
  const out = mkdtempSync(join(tmpdir(), `conformance-${mode}-`));
  const server = spawn(process.execPath, [join(REPO, 'src/bin/mcp-server.ts')], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      NOTES_DB: ':memory:',
      LOG_LEVEL: 'info',
      MCP_STATELESS: String(mode === 'stateless'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      server.once('exit', (code) => reject(new Error(`mcp-server exited (${code}) before listening`)));
      createInterface({ input: server.stdout! }).on('line', (line) => {
        try {
          const log = JSON.parse(line) as { msg?: string; url?: string };
          if (log.msg === 'MCP server listening' && log.url) resolveUrl(log.url);
        } catch {
          // not a log line
        }
      });
    });
    // The suite's dns-rebinding scenario sends Host: localhost.
    const endpoint = `${url.replace('127.0.0.1', 'localhost')}/mcp`;
    try {
      await run(process.execPath, [CLI, 'server', '--url', endpoint, '-o', out], {
        cwd: out,
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      // Exit code 1 whenever a scenario fails; the checks on disk are what we judge.
      if ((err as { code?: unknown }).code !== 1) throw err;
    }
    const scenarios = readResults(out);
    return { mode, scenarios, mismatches: compareWithBaseline(scenarios, readBaseline(mode)) };
  } finally {
    server.kill('SIGTERM');
    if (server.exitCode === null) await once(server, 'exit');
    rmSync(out, { recursive: true, force: true });
  }
}

export function formatReport(report: ConformanceReport): string {
  const baseline = readBaseline(report.mode);
  const rows = report.scenarios.map((s) => {
    const result = s.failed.length > 0 ? 'fail' : s.warned.length > 0 ? 'pass, warning' : 'pass';
    const why = baseline.failures[s.scenario] ?? (s.warned.length > 0 ? s.warned.join(', ') : '');
    return `| ${s.scenario} | ${result} | ${why} |`;
  });
  const passed = report.scenarios.filter((s) => s.failed.length === 0).length;
  return [
    `${report.mode}: ${passed} of ${report.scenarios.length} scenarios pass`,
    '| scenario | result | fixture needed / warning |',
    '|---|---|---|',
    ...rows,
    report.mismatches.length === 0
      ? 'matches conformance/baseline.yml'
      : `MISMATCHES:\n  ${report.mismatches.join('\n  ')}`,
  ].join('\n');
}

if (import.meta.main) {
  const modes = process.argv.slice(2);
  const chosen = (modes.length > 0 ? modes : MODES) as ConformanceMode[];
  let ok = true;
  for (const mode of chosen) {
    if (!MODES.includes(mode)) {
      process.stderr.write(`usage: npm run conformance -- [${MODES.join('|')}]...\n`);
      process.exit(2);
    }
    const report = await runConformance(mode);
    process.stdout.write(`${formatReport(report)}\n\n`);
    ok &&= report.mismatches.length === 0;
  }
  process.exitCode = ok ? 0 : 1;
}

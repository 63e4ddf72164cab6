/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against the real
 * server process, stateful and stateless, compared scenario by scenario and check by check
 * with conformance/baseline.yml (see scripts/conformance.ts and docs/conformance.md): a
 * scenario that starts failing or warning, or a listed one that starts passing, fails the
 * run. The scenarios that apply to any MCP server must pass with no warning in both modes.
 */
import { describe, expect, it } from 'vitest';
import { compareWithBaseline, MODES, runConformance } from '../../scripts/conformance.ts';

/** Scenarios that apply to any MCP server; each must run and pass. */
const REQUIRED = [
  'server-initialize',
  'ping',
  'tools-list',
  'resources-list',
  'prompts-list',
  'logging-set-level',
  'dns-rebinding-protection',
];

describe.each(MODES)('conformance suite, %s', (mode) => {
  it('matches the baseline, and passes every scenario that applies to any server', async () => {
    const report = await runConformance(mode);
    expect(report.mismatches, JSON.stringify(report.scenarios, null, 1)).toEqual([]);
    for (const name of REQUIRED) {
      const scenario = report.scenarios.find((s) => s.scenario === name);
      expect(scenario, `${name} ran`).toBeDefined();
      expect(scenario!.passed.length, `${name} has passing checks`).toBeGreaterThan(0);
      expect([...scenario!.failed, ...scenario!.warned], `${name} is clean`).toEqual([]);
    }
  });
});

describe('baseline comparison', () => {
  const baseline = { failures: { 'needs-fixture': 'tool x' }, warnings: { warns: ['w1'] } };
  const result = (scenario: string, failed: string[] = [], warned: string[] = []) => ({
    scenario,
    failed,
    warned,
    passed: failed.length === 0 ? [scenario] : [],
  });

  it('accepts exactly the listed failures and warnings', () => {
    expect(
      compareWithBaseline(
        [result('ok'), result('needs-fixture', ['c']), result('warns', [], ['w1'])],
        baseline,
      ),
    ).toEqual([]);
  });

  it('reports a new failure, a new warning, a stale entry and a missing scenario', () => {
    expect(
      compareWithBaseline(
        [result('ok', ['c1']), result('needs-fixture'), result('other', [], ['w2'])],
        baseline,
      ),
    ).toEqual([
      'ok: unexpected failure (c1)',
      "needs-fixture: passes now; remove it from the baseline's failures",
      'other: warnings ["w2"], baseline []',
      'warns: in the baseline but the suite did not run it',
    ]);
  });
});

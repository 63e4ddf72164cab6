/**
 * docs/conformance.md says, scenario by scenario, what conformance/baseline.yml holds: a
 * scenario the baseline lists as a failure is `fixture` in that mode's column and its row names
 * the fixture the baseline names; a baseline warning is a pass with a **warning** naming the
 * check id; every other scenario in the table passes; and the counts above the table are the
 * table's. The baseline is read with the runner's own reader (scripts/conformance.ts).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Baseline, type ConformanceMode, MODES, readBaseline } from '../../scripts/conformance.ts';

const REPO = resolve(import.meta.dirname, '../..');

type Status = 'pass' | 'warning' | 'fixture';

interface DocRow {
  scenarios: string[];
  status: Record<ConformanceMode, Status>;
  why: string;
}

/** The rows of the result table; each names one or more scenarios in backticks, in full. */
function parseResultTable(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => /^\| scenario \| stateful \| stateless \| why \|$/.test(l));
  if (header < 0)
    throw new Error('docs/conformance.md: no "| scenario | stateful | stateless | why |" table');
  const rows: DocRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .slice(1, -1)
      .split(' | ')
      .map((c) => c.trim());
    if (cells.length !== 4) throw new Error(`not a four-column row: ${line}`);
    const [names, stateful, stateless, why] = cells as [string, string, string, string];
    rows.push({
      scenarios: [...names.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
      status: { stateful: statusOf(stateful, line), stateless: statusOf(stateless, line) },
      why,
    });
  }
  return rows;
}

function statusOf(cell: string, line: string): Status {
  if (cell === 'fixture') return 'fixture';
  if (/^(\*\*)?pass(\*\*)?, \*\*warning\*\*$/.test(cell)) return 'warning';
  if (/^(\*\*)?pass(\*\*)?$/.test(cell)) return 'pass';
  throw new Error(`unknown status '${cell}' in: ${line}`);
}

/** `tool test_x (…)` → `test_x`: the fixture a baseline failure says the scenario needs. */
function fixtureOf(reason: string): string | undefined {
  return /^(?:tool|prompt|resource|template) (\S+)/.exec(reason)?.[1];
}

/** The differences between the page and the baseline; empty when they agree. */
function docMismatches(markdown: string, baselines: Record<ConformanceMode, Baseline>): string[] {
  const rows = parseResultTable(markdown);
  const problems: string[] = [];
  const rowOf = new Map<string, DocRow>();
  for (const row of rows) {
    if (row.scenarios.length === 0) problems.push(`a row names no scenario: ${row.why}`);
    for (const name of row.scenarios) {
      if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(name)) problems.push(`'${name}' is not a full scenario name`);
      if (rowOf.has(name)) problems.push(`${name}: listed twice`);
      rowOf.set(name, row);
    }
  }

  for (const mode of MODES) {
    const { failures, warnings } = baselines[mode];
    for (const [name, reason] of Object.entries(failures)) {
      const row = rowOf.get(name);
      if (!row) {
        problems.push(`${name}: a ${mode} failure in the baseline, not in the table`);
        continue;
      }
      if (row.status[mode] !== 'fixture')
        problems.push(`${name}: ${mode} is '${row.status[mode]}' in the table, a failure in the baseline`);
      const fixture = fixtureOf(reason);
      if (!fixture) problems.push(`${name}: the baseline's reason names no fixture: "${reason}"`);
      else if (!row.why.includes(`\`${fixture}\``))
        problems.push(`${name}: the table does not name the fixture \`${fixture}\``);
    }
    for (const [name, checks] of Object.entries(warnings)) {
      const row = rowOf.get(name);
      if (!row) {
        problems.push(`${name}: a ${mode} warning in the baseline, not in the table`);
        continue;
      }
      if (row.status[mode] !== 'warning')
        problems.push(`${name}: ${mode} is '${row.status[mode]}' in the table, a warning in the baseline`);
      for (const check of checks)
        if (!row.why.includes(`\`${check}\``)) problems.push(`${name}: the table does not name \`${check}\``);
    }
    for (const [name, row] of rowOf) {
      if (row.status[mode] === 'fixture' && !Object.hasOwn(failures, name))
        problems.push(`${name}: ${mode} is 'fixture' in the table, not a failure in the baseline`);
      if (row.status[mode] === 'warning' && !Object.hasOwn(warnings, name))
        problems.push(`${name}: ${mode} warns in the table, not in the baseline`);
    }

    const label = mode === 'stateful' ? 'Stateful' : 'Stateless';
    const counts = new RegExp(
      `${label}: (\\d+) of (\\d+) scenarios pass(?:, (\\d+) of them with a warning)?\\.`,
    ).exec(markdown);
    const statuses = [...rowOf.values()].map((r) => r.status[mode]);
    const passing = statuses.filter((s) => s !== 'fixture').length;
    const warned = statuses.filter((s) => s === 'warning').length;
    if (!counts) problems.push(`no "${label}: N of M scenarios pass" line`);
    else if (
      Number(counts[1]) !== passing ||
      Number(counts[2]) !== rowOf.size ||
      Number(counts[3] ?? 0) !== warned
    )
      problems.push(
        `${label}: the page says ${counts[0]} The table has ${passing} of ${rowOf.size} passing, ${warned} with a warning.`,
      );
  }
  return problems;
}

describe('docs/conformance.md', () => {
  it('agrees with conformance/baseline.yml, scenario by scenario and mode by mode', () => {
    const markdown = readFileSync(join(REPO, 'docs/conformance.md'), 'utf8');
    const baselines = { stateful: readBaseline('stateful'), stateless: readBaseline('stateless') };
    expect(docMismatches(markdown, baselines)).toEqual([]);
  });
});

describe('the page check itself', () => {
  const page = (rows: string[], counts: string) =>
    [counts, '', '| scenario | stateful | stateless | why |', '|---|---|---|---|', ...rows, ''].join('\n');
  const baseline: Record<ConformanceMode, Baseline> = {
    stateful: { failures: { 'needs-tool': 'tool test_tool (why)' }, warnings: {} },
    stateless: {
      failures: { 'needs-tool': 'tool test_tool (why)' },
      warnings: { 'warns-here': ['warns-here-session'] },
    },
  };
  const good = [
    '| `ok` | **pass** | **pass** | |',
    '| `warns-here` | **pass** | pass, **warning** | `warns-here-session`: no session id |',
    '| `needs-tool` | fixture | fixture | calls `test_tool` |',
  ];
  const goodCounts =
    'Stateful: 2 of 3 scenarios pass. Stateless: 2 of 3 scenarios pass, 1 of them with a warning.';

  it('accepts a page that says what the baseline says', () => {
    expect(docMismatches(page(good, goodCounts), baseline)).toEqual([]);
  });

  it('names every way the page can drift from the baseline', () => {
    const drifted = [
      '| `ok`, `-abbreviated` | **pass** | fixture | |',
      '| `warns-here` | **pass** | **pass** | no session id |',
      '| `needs-tool` | **pass** | fixture | calls another tool |',
    ];
    expect(
      docMismatches(
        page(drifted, 'Stateful: 2 of 3 scenarios pass. Stateless: 2 of 3 scenarios pass.'),
        baseline,
      ),
    ).toEqual([
      "'-abbreviated' is not a full scenario name",
      "needs-tool: stateful is 'pass' in the table, a failure in the baseline",
      'needs-tool: the table does not name the fixture `test_tool`',
      'Stateful: the page says Stateful: 2 of 3 scenarios pass. The table has 4 of 4 passing, 0 with a warning.',
      'needs-tool: the table does not name the fixture `test_tool`',
      "warns-here: stateless is 'pass' in the table, a warning in the baseline",
      'warns-here: the table does not name `warns-here-session`',
      "ok: stateless is 'fixture' in the table, not a failure in the baseline",
      "-abbreviated: stateless is 'fixture' in the table, not a failure in the baseline",
      'Stateless: the page says Stateless: 2 of 3 scenarios pass. The table has 1 of 4 passing, 0 with a warning.',
    ]);
  });

  it('refuses a status it does not know rather than guessing', () => {
    expect(() => docMismatches(page(['| `ok` | maybe | **pass** | |'], goodCounts), baseline)).toThrow(
      /unknown status 'maybe'/,
    );
  });
});

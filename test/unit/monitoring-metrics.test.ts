/**
 * The alert rules and the Grafana dashboard only name metrics the code really exports: metric
 * names and label matchers are taken from the PromQL syntax tree of every rule and dashboard
 * query and compared with the registries built by createServerMetrics and createWorkerMetrics.
 * A renamed metric or label in the code fails here, not silently on an operator's screen.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allPanels,
  dashboardQueries,
  type ExportedMetric,
  exportedSeriesNames,
  parsePromQL,
  readDashboard,
  readRules,
  unknownNames,
} from '../helpers/monitoring.ts';

const rules = readRules();
const dashboard = readDashboard();
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
let exported: Map<string, ExportedMetric>;

beforeAll(async () => {
  exported = await exportedSeriesNames();
});

describe('metric names the code exports', () => {
  it('include both services, with histogram series expanded', () => {
    expect(exported.get('kafka_worker_job_duration_seconds_bucket')?.labelNames).toEqual([
      'job_type',
      'outcome',
      'le',
    ]);
    expect(exported.has('kafka_worker_job_duration_seconds_count')).toBe(true);
    expect(exported.get('mcp_http_requests_total')?.services).toEqual(['mcp-server']);
    expect(exported.get('kafka_worker_consumer_lag')?.labelNames).toEqual(['topic', 'partition']);
    expect(exported.get('process_cpu_seconds_total')?.services).toEqual(['mcp-server', 'kafka-worker']);
  });
});

describe('monitoring/alerts.yml', () => {
  it.each(rules.map((r) => [r.alert ?? r.record, r.expr] as const))(
    '%s names only exported metrics and their labels',
    (_name, expr) => {
      expect(unknownNames(expr, exported, recorded)).toEqual([]);
    },
  );

  it('uses every recording rule it defines in an alert', () => {
    const used = new Set(
      rules.filter((r) => r.alert).flatMap((r) => parsePromQL(r.expr).selectors.map((s) => s.metric)),
    );
    for (const name of recorded) expect(used).toContain(name);
  });
});

describe('monitoring/grafana-dashboard.json', () => {
  const queries = dashboardQueries(dashboard);

  it('has queries', () => {
    expect(queries.length).toBeGreaterThan(20);
  });

  it.each(queries.map((q) => [q.where, q.expr] as const))(
    '%s names only exported metrics',
    (_where, expr) => {
      // The dashboard must work without the recording rules loaded.
      expect(unknownNames(expr, exported, new Set())).toEqual([]);
    },
  );

  it('shows every application metric of both services', () => {
    const shown = new Set(queries.flatMap((q) => parsePromQL(q.expr).selectors.map((s) => s.metric)));
    const shownBases = new Set([...shown].map((n) => exported.get(n)?.base));
    const application = [...exported.values()]
      .map((m) => m.base)
      .filter((n) => n.startsWith('mcp_') || n.startsWith('kafka_worker_'));
    expect([...new Set(application)].filter((n) => !shownBases.has(n))).toEqual([]);
  });

  it('covers lag, throughput, error rate and latency', () => {
    const titles = allPanels(dashboard).map((p) => p.title.toLowerCase());
    for (const word of ['lag', 'throughput', 'ratio', 'latency']) {
      expect(
        titles.some((t) => t.includes(word)),
        word,
      ).toBe(true);
    }
  });

  it('is a well-formed dashboard: unique ids, panels inside the 24-column grid, one data source variable', () => {
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type !== 'row') {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
        expect(p.datasource?.uid, p.title).toBe('${datasource}');
        for (const t of p.targets ?? []) expect(t.expr.trim().length, p.title).toBeGreaterThan(0);
      }
    }
    const refIds = panels.flatMap((p) => (p.targets ?? []).map((t) => `${p.id}/${t.refId}`));
    expect(new Set(refIds).size).toBe(refIds.length);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
  });
});

describe('the check catches real mistakes (negative controls)', () => {
  it('reports a misspelled metric, a label the metric does not have, and broken syntax', () => {
    expect(unknownNames('sum(rate(kafka_worker_job_total[5m]))', exported, recorded)).toEqual([
      "unknown metric 'kafka_worker_job_total'",
    ]);
    expect(unknownNames('kafka_worker_consumer_lag{group="x"}', exported, recorded)).toEqual([
      "metric 'kafka_worker_consumer_lag' has no label 'group'",
    ]);
    expect(unknownNames('sum(rate(mcp_tool_calls_total[5m])', exported, recorded)[0]).toMatch(
      /^syntax error/,
    );
    expect(unknownNames('rate(mcp_tool_duration_seconds[5m])', exported, recorded)).toEqual([
      "unknown metric 'mcp_tool_duration_seconds'",
    ]);
  });

  it('accepts the label le only on histogram buckets', () => {
    expect(unknownNames('mcp_tool_duration_seconds_bucket{le="1"}', exported, recorded)).toEqual([]);
    expect(unknownNames('mcp_tool_duration_seconds_count{le="1"}', exported, recorded)).toHaveLength(1);
  });
});

/**
 * Reads monitoring/ (Prometheus rules, Grafana dashboard) and the metric names the code really
 * registers, for the monitoring tests. PromQL is parsed with Prometheus' own grammar
 * (@prometheus-io/lezer-promql, the parser of the Prometheus UI), so metric names are taken from
 * vector selectors in the syntax tree, never guessed from text.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { Registry } from 'prom-client';
import { createServerMetrics } from '../../src/observability/server-metrics.ts';
import { createWorkerMetrics } from '../../src/worker/metrics.ts';
import { type Doc, REPO, readYamlDocuments } from './deploy.ts';

export const MONITORING_DIR = resolve(REPO, 'monitoring');
export const ALERTS_FILE = resolve(MONITORING_DIR, 'alerts.yml');
export const ALERTS_TEST_FILE = resolve(MONITORING_DIR, 'alerts.test.yml');
export const PROMETHEUS_FILE = resolve(MONITORING_DIR, 'prometheus.yml');
export const DASHBOARD_FILE = resolve(MONITORING_DIR, 'grafana-dashboard.json');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function readRules(file = ALERTS_FILE): Rule[] {
  const doc = readYamlDocuments(file)[0] as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

export interface DashboardQuery {
  where: string;
  expr: string;
}

export interface Panel extends Doc {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}

export interface Dashboard extends Doc {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<Doc & { name: string; type: string; query?: unknown }> };
}

export function readDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL text of the dashboard: panel targets and `label_values(<selector>, label)` variables. */
export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const t of panel.targets ?? [])
      queries.push({ where: `panel '${panel.title}' ${t.refId}`, expr: t.expr });
  }
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const text = typeof v.query === 'string' ? v.query : String((v.query as { query: string }).query);
    const labelValues = /^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(text.trim());
    queries.push({ where: `variable '${v.name}'`, expr: labelValues ? labelValues[1]! : text });
  }
  return queries;
}

/** Grafana's interval variables become a duration, so the text parses as plain PromQL. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?__(rate_interval|interval|range)\}?/g, '5m');
}

export interface Selector {
  metric: string;
  labels: string[];
}

export interface ParsedPromQL {
  selectors: Selector[];
  /** Text of the nodes the grammar could not parse; empty when the expression is valid. */
  errors: string[];
}

export function parsePromQL(expr: string): ParsedPromQL {
  const text = withoutGrafanaVariables(expr);
  const tree = parser.parse(text);
  const selectors: Selector[] = [];
  const errors: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) {
        errors.push(`at ${node.from}: '${text.slice(Math.max(0, node.from - 10), node.to + 10)}'`);
        return;
      }
      if (node.name !== 'VectorSelector') return;
      const ident = node.node.getChild('Identifier');
      const labels = node.node
        .getChild('LabelMatchers')
        ?.getChildren('UnquotedLabelMatcher')
        .map((m) => m.getChild('LabelName'))
        .filter((n) => n !== null)
        .map((n) => text.slice(n.from, n.to));
      if (ident) selectors.push({ metric: text.slice(ident.from, ident.to), labels: labels ?? [] });
      else errors.push(`selector without a metric name: '${text.slice(node.from, node.to)}'`);
    },
  });
  return { selectors, errors };
}

export interface ExportedMetric {
  /** The name as registered (`mcp_http_requests_total`, `kafka_worker_job_duration_seconds`). */
  base: string;
  type: string;
  labelNames: string[];
  /** Which service registers it. */
  services: string[];
}

/**
 * Every series name the two services expose on /metrics, from their real metric factories:
 * histograms as `_bucket` (with `le`), `_sum` and `_count`; summaries as `_sum`, `_count` and the
 * base (with `quantile`); counters and gauges as registered (prom-client counters carry `_total`
 * in their registered name).
 */
export async function exportedSeriesNames(): Promise<Map<string, ExportedMetric>> {
  const registries = {
    'mcp-server': createServerMetrics(new Registry()).registry,
    'kafka-worker': createWorkerMetrics(new Registry()).registry,
  };
  const series = new Map<string, ExportedMetric>();
  for (const [service, registry] of Object.entries(registries)) {
    for (const m of await registry.getMetricsAsJSON()) {
      const type = String(m.type);
      const labelNames = [
        ...((registry.getSingleMetric(m.name) as { labelNames?: string[] }).labelNames ?? []),
      ];
      const names =
        type === 'histogram'
          ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]
          : type === 'summary'
            ? [m.name, `${m.name}_sum`, `${m.name}_count`]
            : [m.name];
      for (const name of names) {
        const extra = name.endsWith('_bucket')
          ? ['le']
          : type === 'summary' && name === m.name
            ? ['quantile']
            : [];
        const known = series.get(name);
        if (known) known.services.push(service);
        else
          series.set(name, {
            base: m.name,
            type,
            labelNames: [...labelNames, ...extra],
            services: [service],
          });
      }
    }
  }
  return series;
}

/** Labels Prometheus adds to every scraped series. */
export const TARGET_LABELS = ['job', 'instance'];

/** Problems with the metric names and label matchers of `expr` (empty when all are real). */
export function unknownNames(
  expr: string,
  exported: Map<string, ExportedMetric>,
  recorded: Set<string>,
): string[] {
  const { selectors, errors } = parsePromQL(expr);
  const problems = errors.map((e) => `syntax error ${e}`);
  for (const s of selectors) {
    if (recorded.has(s.metric)) continue;
    const metric = exported.get(s.metric);
    if (!metric) {
      problems.push(`unknown metric '${s.metric}'`);
      continue;
    }
    for (const label of s.labels) {
      if (!metric.labelNames.includes(label) && !TARGET_LABELS.includes(label)) {
        problems.push(`metric '${s.metric}' has no label '${label}'`);
      }
    }
  }
  return problems;
}

export function findPromtool(): string | undefined {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? 'promtool' : undefined;
}

export function promtool(args: string[], cwd = REPO): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

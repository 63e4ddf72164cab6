/**
 * monitoring/alerts.yml is valid Prometheus rule syntax and its alerts fire when they should:
 * checked with promtool (Prometheus' own tool; Debian package `prometheus`, which .ci/run
 * installs). Without promtool those cases are skipped with a message saying how to get it —
 * except under CI=true, where a missing promtool fails the run. The structural checks below run
 * everywhere.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { COMPOSE_FILE, type Doc, REPO, readYamlDocuments } from '../helpers/deploy.ts';
import {
  ALERTS_FILE,
  ALERTS_TEST_FILE,
  findPromtool,
  PROMETHEUS_FILE,
  promtool,
  readRules,
} from '../helpers/monitoring.ts';

const hasPromtool = findPromtool() !== undefined;
const inCi = process.env.CI === 'true';
if (!hasPromtool && !inCi) {
  process.stderr.write(
    'monitoring-rules: promtool not found; skipping the promtool checks ' +
      '(install it: apt-get install -y prometheus — .ci/run does this)\n',
  );
}

const rules = readRules();
const alerts = rules.filter((r) => r.alert !== undefined);

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

it.runIf(!hasPromtool && inCi)(
  'promtool is installed (CI=true checks the rules, it never skips them)',
  () => {
    expect.fail('promtool not found: apt-get install -y prometheus (.ci/run does this as root)');
  },
);

describe.skipIf(!hasPromtool)('promtool', () => {
  it('check rules: alerts.yml is valid rule syntax', () => {
    const run = promtool(['check', 'rules', ALERTS_FILE]);
    expect(run.output).toContain('SUCCESS');
    expect(run.status, run.output).toBe(0);
  });

  it('test rules: every alert fires on its test series and none on a healthy system', () => {
    const run = promtool(['test', 'rules', ALERTS_TEST_FILE]);
    expect(run.status, run.output).toBe(0);
  });

  it('check config: prometheus.yml is valid and loads alerts.yml', () => {
    const run = promtool(['check', 'config', PROMETHEUS_FILE]);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('rejects a broken rule (negative control)', () => {
    const dir = scratchDir();
    const broken = join(dir, 'alerts.yml');
    writeFileSync(
      broken,
      readFileSync(ALERTS_FILE, 'utf8').replace(
        'expr: kafka_worker_mcp_connected == 0',
        'expr: sum(kafka_worker_mcp_connected == 0',
      ),
    );
    const run = promtool(['check', 'rules', broken]);
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/parse error|unclosed/i);
  });

  it('fails a rule test whose alert does not fire (negative control)', () => {
    const dir = scratchDir();
    copyFileSync(ALERTS_TEST_FILE, join(dir, 'alerts.test.yml'));
    writeFileSync(
      join(dir, 'alerts.yml'),
      readFileSync(ALERTS_FILE, 'utf8').replace('> 0.05\n        for: 5m', '> 0.5\n        for: 5m'),
    );
    const run = promtool(['test', 'rules', join(dir, 'alerts.test.yml')]);
    expect(run.status).not.toBe(0);
    expect(run.output).toContain('McpServerHigh5xxRatio');
  });
});

describe('alert rules', () => {
  it('cover lag, DLQ, error ratio, server 5xx and readiness of both services', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'KafkaWorkerLagGrowing',
        'KafkaWorkerDeadLetters',
        'KafkaWorkerErrorRatioHigh',
        'McpServerHigh5xxRatio',
        'McpServerNoReadyReplicas',
        'KafkaWorkerNoReadyReplicas',
      ]),
    );
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    '%s has a severity, a summary and a runbook',
    (name, rule) => {
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary?.length).toBeGreaterThan(10);
      expect(rule.annotations?.runbook).toBe(`docs/operations.md#${name.toLowerCase()}`);
    },
  );

  it('every alert has a promtool test case in which it fires', () => {
    const doc = readYamlDocuments(ALERTS_TEST_FILE)[0] as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const firing = new Set(
      doc.tests
        .flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0))
        .map((a) => a.alertname),
    );
    expect(alerts.map((a) => a.alert).filter((n) => !firing.has(n!))).toEqual([]);
  });

  it('every runbook link points at a section of docs/operations.md, and the README lists every alert', () => {
    const runbook = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
    const anchors = new Set(
      [...runbook.matchAll(/^#{2,4} (.+)$/gm)].map(([, title]) =>
        title!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const rule of alerts) {
      expect(anchors, rule.alert).toContain(rule.annotations!.runbook!.split('#')[1]);
      expect(readme, rule.alert).toContain(`| \`${rule.alert}\` |`);
    }
  });

  it('docker-compose mounts alerts.yml beside prometheus.yml, where rule_files expects it', () => {
    const config = readYamlDocuments(PROMETHEUS_FILE)[0] as Doc;
    expect(config.rule_files).toEqual(['alerts.yml']);
    const compose = readYamlDocuments(COMPOSE_FILE)[0] as { services: Record<string, Doc> };
    const volumes = compose.services.prometheus?.volumes as string[];
    expect(volumes).toContain('./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(volumes).toContain('./monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro');
  });
});

/**
 * hot-metrics.ts against prom-client: the same updates to a prom-client Counter and Histogram
 * on one registry and to HotCounter and HotHistogram on another must give the same exposition,
 * byte for byte, and the same `get()` values.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../src/observability/hot-metrics.ts';

const BUCKETS = [0.001, 0.005, 0.01, 0.1, 1];

function pair() {
  const reference = new Registry();
  const ours = new Registry();
  const counter = {
    name: 'x_requests_total',
    help: 'Requests, by route and status.',
    labelNames: ['route', 'status'] as const,
  };
  const histogram = {
    name: 'x_duration_seconds',
    help: 'Duration.',
    labelNames: ['route'] as const,
    buckets: BUCKETS,
  };
  return {
    reference,
    ours,
    counters: [
      new Counter({ ...counter, labelNames: [...counter.labelNames], registers: [reference] }),
      new HotCounter({ ...counter, registers: [ours] }),
    ] as const,
    histograms: [
      new Histogram({ ...histogram, labelNames: [...histogram.labelNames], registers: [reference] }),
      new HotHistogram({ ...histogram, registers: [ours] }),
    ] as const,
  };
}

/** Values as `get()` gives them, without the fields only prom-client carries (exemplars). */
const values = (metric: { values: Array<{ value: number; labels: object; metricName?: string }> }) =>
  metric.values.map(({ value, labels, metricName }) => ({ value, labels, metricName }));

describe('HotCounter and HotHistogram', () => {
  it('expose exactly what prom-client exposes for the same updates', async () => {
    const { reference, ours, counters, histograms } = pair();
    const updates: Array<[string, string, number]> = [
      ['/mcp', '200', 0.0004],
      ['/mcp', '200', 0.001], // on a bound: counted in that bucket
      ['/sse', '200', 0.02],
      ['/mcp', '404', 3], // beyond the last bound: only +Inf, _sum, _count
      ['/mcp', '200', 0.1],
      ['/sse', '499', 0],
    ];
    for (const [route, status, seconds] of updates) {
      for (const c of counters) c.inc({ route, status });
      for (const h of histograms) h.observe({ route }, seconds);
    }
    for (const c of counters) c.inc({ route: '/mcp', status: '200' }, 5);
    expect(await ours.metrics()).toBe(await reference.metrics());
    expect(values(await histograms[1].get())).toEqual(values(await histograms[0].get()));
    expect(values(await counters[1].get())).toEqual(values(await counters[0].get()));

    reference.resetMetrics();
    ours.resetMetrics();
    expect(await ours.metrics()).toBe(await reference.metrics());
  });

  it('times with startTimer and refuses what prom-client refuses', async () => {
    const { histograms, counters } = pair();
    const stop = histograms[1].startTimer({ route: '/mcp' });
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0);
    const [sum] = (await histograms[1].get()).values.filter((v) => v.metricName === 'x_duration_seconds_sum');
    expect(sum?.value).toBe(seconds);
    expect(() => counters[1].inc({ route: '/mcp', status: '200' }, -1)).toThrow(/decrease/);
    expect(() => counters[1].inc({ route: '/mcp', status: '200' }, Number.NaN)).toThrow(/not a valid number/);
    expect(() => histograms[1].observe({ route: '/mcp' }, Number.POSITIVE_INFINITY)).toThrow(
      /not a valid number/,
    );
  });

  it('refuses a second metric of the same name on one registry', () => {
    const registry = new Registry();
    new HotCounter({ name: 'dup_total', help: 'h', labelNames: [], registers: [registry] });
    expect(() => new Counter({ name: 'dup_total', help: 'h', registers: [registry] })).toThrow(
      /already been registered/,
    );
  });
});

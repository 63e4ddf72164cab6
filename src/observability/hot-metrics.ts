/**
 * A counter and a histogram for the hot paths (the server's per-request metrics, the worker's
 * per-job ones): registered on a prom-client Registry and exposed exactly as prom-client's own
 * Counter and Histogram are (names, help, types, label sets, cumulative `_bucket` lines with
 * `le`, `_sum`, `_count`, in the order label sets first appeared), but cheap to update.
 *
 * prom-client checks every label name of every update against the declared ones, hashes the
 * labels object (sorting its keys), copies it, and times with `process.hrtime()` arrays: with
 * these instead for the four updates a call makes, a stateful `read_note` costs the server
 * 0.91–0.92 of the CPU it did (docs/benchmarks.md, pinned side by side). Here
 * a label set is found by its values joined in the declared order (one string, one Map lookup);
 * the label names are checked by the type system, since every caller is this codebase.
 *
 * `get()` answers as prom-client's metrics do, so tests and `registry.getMetricsAsJSON()` read
 * them alike; `test/unit/hot-metrics.test.ts` holds the exposition to prom-client's, byte for byte.
 */
import type { Registry } from 'prom-client';

type Labels<L extends string> = Readonly<Record<L, string>>;

interface MetricConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Record<string, string>;
}

/** The key of a label set: its values in the declared order, NUL-separated (NUL is no label value here). */
function keyOf<L extends string>(labelNames: readonly L[], labels: Labels<L>): string {
  let key = '';
  for (const name of labelNames) key += `${labels[name]}\u0000`;
  return key;
}

/** What the two metrics share: a series per label set, found by `keyOf`, made on first use. */
abstract class HotMetric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';
  protected readonly series = new Map<string, S>();

  constructor(config: MetricConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  /** A new, empty series for a label set (a copy of `labels`, in the declared order). */
  protected abstract newSeries(labels: Record<L, string>): S;

  /** The series of `labels`, made on first use. */
  protected seriesOf(labels: Labels<L>): S {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      const copy = {} as Record<L, string>;
      for (const name of this.labelNames) copy[name] = labels[name];
      series = this.newSeries(copy);
      this.series.set(key, series);
    }
    return series;
  }

  protected result(values: Value[]) {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

interface CounterSeries<L extends string> {
  labels: Record<L, string>;
  value: number;
}

export class HotCounter<L extends string> extends HotMetric<L, CounterSeries<L>> {
  readonly type = 'counter';

  inc(labels: Labels<L>, value = 1): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (value < 0) throw new Error('It is not possible to decrease a counter');
    this.seriesOf(labels).value += value;
  }

  protected newSeries(labels: Record<L, string>): CounterSeries<L> {
    return { labels, value: 0 };
  }

  async get() {
    return this.result([...this.series.values()].map((s) => ({ value: s.value, labels: { ...s.labels } })));
  }
}

interface HistogramSeries<L extends string> {
  labels: Record<L, string>;
  /** Observations per bucket (not cumulative); beyond the last bound only `count` counts them. */
  buckets: number[];
  sum: number;
  count: number;
}

export class HotHistogram<L extends string> extends HotMetric<L, HistogramSeries<L>> {
  readonly type = 'histogram';
  readonly upperBounds: readonly number[];

  constructor(config: MetricConfig<L> & { buckets: readonly number[] }) {
    super(config);
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const series = this.seriesOf(labels);
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        series.buckets[i]!++;
        break;
      }
    }
    series.sum += value;
    series.count += 1;
  }

  protected newSeries(labels: Record<L, string>): HistogramSeries<L> {
    return { labels, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 };
  }

  /** Starts timing; the function returned observes the seconds since, and returns them. */
  startTimer(labels: Labels<L>): () => number {
    const start = performance.now();
    return () => {
      const seconds = (performance.now() - start) / 1000;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  /** As prom-client's Histogram#getForPromString: `le` in the labels, the set's own labels shared. */
  async getForPromString() {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (const [i, le] of this.upperBounds.entries()) {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: cumulative, metricName: bucket });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return this.result(values);
  }

  /** As prom-client's Histogram#get: each value's labels are `le` (if any) plus the set's own. */
  async get() {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }
}

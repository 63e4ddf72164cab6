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

abstract class HotMetric<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';

  constructor(config: MetricConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  protected copyLabels(labels: Labels<L>): Record<L, string> {
    const copy = {} as Record<L, string>;
    for (const name of this.labelNames) copy[name] = labels[name];
    return copy;
  }

  protected result(values: Value[]) {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  abstract reset(): void;
}

export class HotCounter<L extends string> extends HotMetric<L> {
  readonly type = 'counter';
  readonly #series = new Map<string, { labels: Record<L, string>; value: number }>();

  inc(labels: Labels<L>, value = 1): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (value < 0) throw new Error('It is not possible to decrease a counter');
    const key = keyOf(this.labelNames, labels);
    const series = this.#series.get(key);
    if (series) series.value += value;
    else this.#series.set(key, { labels: this.copyLabels(labels), value });
  }

  async get() {
    return this.result([...this.#series.values()].map((s) => ({ value: s.value, labels: { ...s.labels } })));
  }

  reset(): void {
    this.#series.clear();
  }
}

interface HistogramSeries<L extends string> {
  labels: Record<L, string>;
  /** Observations per bucket (not cumulative); beyond the last bound only `count` counts them. */
  buckets: number[];
  sum: number;
  count: number;
}

export class HotHistogram<L extends string> extends HotMetric<L> {
  readonly type = 'histogram';
  readonly upperBounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries<L>>();

  constructor(config: MetricConfig<L> & { buckets: readonly number[] }) {
    super(config);
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const key = keyOf(this.labelNames, labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: this.copyLabels(labels), buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
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
    for (const s of this.#series.values()) {
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

  reset(): void {
    this.#series.clear();
  }
}

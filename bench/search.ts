/**
 * searchNotes latency by store size, on both backends: p50/p99 at 1k, 10k and 100k notes
 * of varied English-like text (200–500 characters each), for keywords that match a few
 * notes and keywords that match none. The store grows in place between sizes, so each
 * size is measured on the same database the previous one was.
 *
 * SQLite runs on a temp file; PostgreSQL on a database created for the run and dropped
 * after (from DATABASE_URL, else test/helpers/postgres.ts's acquisition).
 *
 *   node bench/search.ts             prints a markdown table
 *   BENCH_SEARCH_SIZES=1000,10000 node bench/search.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bulkInsertPostgresNotes, openPostgresNotesStore, postgresQuery } from '../src/notes/postgres.ts';
import { bulkInsertSqliteNotes, openSqliteNotesStore } from '../src/notes/sqlite.ts';
import type { Note, NotesStore } from '../src/notes/store.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { acquirePostgres, createTestDatabase } from '../test/helpers/postgres.ts';

export interface SearchBenchResult {
  backend: 'sqlite' | 'postgres';
  notes: number;
  p50Ms: number;
  p99Ms: number;
}

const DEFAULT_SIZES = [1_000, 10_000, 100_000];
const WARMUP = 20;
const SAMPLES = 400;

const WORDS = `
  the of and to in is you that it he was for on are as with his they at be this have from or one had by
  word but not what all were we when your can said there use an each which she do how their if will up
  other about out many then them these so some her would make like him into time has look two more write
  go see number no way could people my than first water been call who oil its now find long down day did
  get come made may part meeting budget invoice roadmap release review design travel ledger project team
  customer quarterly report deadline schedule proposal contract vendor payment account server database
  deploy incident outage metrics dashboard feature backlog sprint planning retrospective onboarding hiring
  interview candidate offer salary benefits vacation holiday conference keynote workshop agenda minutes
  decision action owner follow summary notes draft final version approval feedback comment question answer
  idea research experiment result analysis data model training evaluation baseline latency throughput
  café résumé naïve Zürich São Paulo München Ærø straße garçon déjà vu façade jalapeño smörgåsbord
`
  .split(/\s+/)
  .filter(Boolean);

/** Planted words and the row indexes that carry them: each size holds a few of each. */
const PLANTED: Record<string, number[]> = {
  quixotic: [123, 4_321, 45_678, 99_999],
  zeppelin: [777, 9_876, 77_777],
  marmalade: [500, 5_000, 50_000, 98_765],
};
const HIT_KEYWORDS = ['Quixotic', 'ZEPPELIN', 'marmalade'];
const MISS_KEYWORDS = ['xylophonez', 'Qwertyuiop', 'no-such-term'];

/** Deterministic pseudo-random numbers (mulberry32), so every run loads the same text. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function makeNotes(from: number, to: number): Note[] {
  const random = rng(from + 1);
  const planted = new Map<number, string>();
  for (const [word, rows] of Object.entries(PLANTED)) for (const r of rows) planted.set(r, word);
  const base = Date.UTC(2024, 0, 1);
  const notes: Note[] = [];
  for (let i = from; i < to; i++) {
    const target = 200 + Math.floor(random() * 300);
    const parts: string[] = [];
    let length = 0;
    while (length < target) {
      // Squared draw: early (common) words appear far more often, as in real text.
      const w = WORDS[Math.floor(random() ** 2 * WORDS.length)]!;
      const word = random() < 0.08 ? `${w[0]!.toUpperCase()}${w.slice(1)}` : w;
      parts.push(random() < 0.03 ? `${word} ${Math.floor(random() * 10_000)}` : word);
      length += word.length + 1;
    }
    const extra = planted.get(i);
    if (extra) parts.splice(Math.floor(parts.length / 2), 0, extra);
    const createdAt = new Date(base + i * 1_000).toISOString();
    notes.push({
      title: `Note ${i} ${parts[0]} ${parts[1]}`,
      content: parts.join(' '),
      createdAt,
      updatedAt: createdAt,
    });
  }
  return notes;
}

function expectedMatches(keyword: string, size: number): number {
  return (PLANTED[keyword.toLowerCase()] ?? []).filter((r) => r < size).length;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function measure(store: NotesStore, size: number): Promise<{ p50Ms: number; p99Ms: number }> {
  const keywords = [...HIT_KEYWORDS, ...MISS_KEYWORDS];
  for (const k of keywords) {
    const found = await store.searchNotes(k, { limit: 50 });
    if (found.notes.length !== expectedMatches(k, size)) {
      throw new Error(
        `${store.backend} at ${size}: '${k}' found ${found.notes.length}, want ${expectedMatches(k, size)}`,
      );
    }
  }
  for (let i = 0; i < WARMUP; i++) await store.searchNotes(keywords[i % keywords.length]!);
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const keyword = keywords[i % keywords.length]!;
    const start = performance.now();
    await store.searchNotes(keyword, { limit: 50 });
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return { p50Ms: round(percentile(samples, 50)), p99Ms: round(percentile(samples, 99)) };
}

type Loader = (notes: Note[]) => Promise<void>;

async function benchStore(
  backend: SearchBenchResult['backend'],
  store: NotesStore,
  load: Loader,
  afterLoad: () => Promise<void>,
  sizes: number[],
  log: (line: string) => void,
): Promise<SearchBenchResult[]> {
  const results: SearchBenchResult[] = [];
  let loaded = 0;
  for (const size of sizes) {
    const started = performance.now();
    for (let from = loaded; from < size; from += 5_000)
      await load(makeNotes(from, Math.min(size, from + 5_000)));
    loaded = size;
    await afterLoad();
    log(`${backend}: ${size} notes loaded in ${Math.round(performance.now() - started)} ms`);
    results.push({ backend, notes: size, ...(await measure(store, size)) });
  }
  return results;
}

export async function benchSearch(
  options: { sizes?: number[]; log?: (line: string) => void } = {},
): Promise<SearchBenchResult[]> {
  const sizes = options.sizes ?? DEFAULT_SIZES;
  const log = options.log ?? (() => {});
  const logger = silentLogger();
  const results: SearchBenchResult[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'bench-search-'));
  try {
    const store = await openSqliteNotesStore({ path: join(dir, 'notes.db'), logger });
    try {
      results.push(
        ...(await benchStore(
          'sqlite',
          store,
          async (notes) => bulkInsertSqliteNotes(store, notes),
          async () => {},
          sizes,
          log,
        )),
      );
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const cluster = process.env.DATABASE_URL ? undefined : await acquirePostgres();
  try {
    const db = await createTestDatabase(process.env.DATABASE_URL ?? cluster!.url);
    try {
      const store = await openPostgresNotesStore({ url: db.url, logger });
      try {
        results.push(
          ...(await benchStore(
            'postgres',
            store,
            (notes) => bulkInsertPostgresNotes(store, notes),
            async () => {
              await postgresQuery(store, 'VACUUM ANALYZE notes');
            },
            sizes,
            log,
          )),
        );
      } finally {
        await store.close();
      }
    } finally {
      await db.drop();
    }
  } finally {
    await cluster?.stop();
  }
  return results;
}

function table(rows: SearchBenchResult[]): string {
  const header = ['backend', 'notes', 'p50 ms', 'p99 ms'];
  const body = rows.map((r) => [r.backend, String(r.notes), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = process.env.BENCH_SEARCH_SIZES?.split(',').map((s) => Number(s.trim()));
  const results = await benchSearch({ sizes, log: (line) => console.error(line) });
  console.error('');
  process.stdout.write(
    `### searchNotes latency (limit 50; keywords matching a few notes or none)\n\n${table(results)}\n`,
  );
}

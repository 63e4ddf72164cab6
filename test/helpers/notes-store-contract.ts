/**
 * The notes store contract, written once and run against every backend
 * (test/integration/notes-store.test.ts). A backend hands in how to get fresh data for one
 * test (and reopen it), how to seed many notes fast, and how to read its search plan;
 * everything else goes through the NotesStore interface and asserts exact values.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CatalogEntry,
  DEFAULT_LIST_LIMIT,
  InvalidCursorError,
  InvalidNoteInputError,
  MAX_COMPLETION_LIMIT,
  MAX_LIST_LIMIT,
  type Note,
  type NoteChange,
  type NotesStore,
} from '../../src/notes/store.ts';

export interface NotesStoreBackend {
  /** Empty data for one test; `open()` may be called again after `close()` to reopen the same data. */
  freshData(): Promise<{ open(): Promise<NotesStore> }>;
  /** False for `:memory:`: data does not outlive the store, restart tests are skipped. */
  persistent: boolean;
  /** Inserts notes with the given timestamps, fast. */
  seed(store: NotesStore, notes: Note[]): Promise<void>;
  /** Refreshes planner statistics after seeding. */
  analyze(store: NotesStore): Promise<void>;
  /** The query plan, as text, of the search the store runs for `keyword`. */
  searchPlan(store: NotesStore, keyword: string): Promise<string>;
  /** What a plan served by the trigram index contains. */
  indexedPlan: RegExp;
  /** What a plan that reads every note contains. */
  fullScanPlan: RegExp;
  /** The query plan, as text, of the title completion the store runs for `prefix`. */
  completionPlan(store: NotesStore, prefix: string): Promise<string>;
  /** What a completion plan served by the folded-title index contains. */
  completionIndexedPlan: RegExp;
  /** True when a change made through another store on the same data reaches this store's listeners. */
  sharedChanges: boolean;
}

/** Collects the changes a store announces; `waitFor` resolves once `count` have arrived. */
export async function collectChanges(store: NotesStore) {
  const changes: NoteChange[] = [];
  let wake = () => {};
  const stop = await store.watchNoteChanges((change) => {
    changes.push(change);
    wake();
  });
  return {
    changes,
    stop,
    async waitFor(count: number): Promise<NoteChange[]> {
      while (changes.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return changes;
    },
  };
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The seed's semantics, verbatim: `keyword.lower() in title.lower() or keyword.lower() in content.lower()`. */
export function seedMatches(note: { title: string; content: string }, keyword: string): boolean {
  const k = keyword.toLowerCase();
  return note.title.toLowerCase().includes(k) || note.content.toLowerCase().includes(k);
}

/** Listing order: createdAt desc, then title in code point order (SQLite BINARY, PostgreSQL "C"). */
export function listingOrder(
  a: { createdAt: string; title: string },
  b: { createdAt: string; title: string },
) {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return Buffer.compare(Buffer.from(a.title, 'utf8'), Buffer.from(b.title, 'utf8'));
}

/** Waits until the millisecond clock has moved on, so the next save gets a later timestamp. */
async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() <= start) await new Promise((r) => setTimeout(r, 1));
}

const iso = (ms: number) => new Date(ms).toISOString();

export function describeNotesStoreContract(name: string, backend: () => NotesStoreBackend): void {
  describe(`NotesStore contract: ${name}`, () => {
    let data: { open(): Promise<NotesStore> };
    let opened: NotesStore[] = [];
    let store: NotesStore;
    let b: NotesStoreBackend;

    const open = async () => {
      const s = await data.open();
      opened.push(s);
      return s;
    };

    /** Saves in order, each in a later millisecond than the one before: the last is the newest. */
    const saveInOrder = async (notes: Array<[string, string]>) => {
      for (const [title, content] of notes) {
        await nextMillisecond();
        await store.saveNote(title, content);
      }
    };
    const titles = (notes: Array<{ title: string }>) => notes.map((n) => n.title);

    beforeEach(async () => {
      b = backend();
      data = await b.freshData();
      opened = [];
      store = await open();
    });

    afterEach(async () => {
      await Promise.allSettled(opened.map((s) => s.close()));
    });

    describe('save and read', () => {
      it('creates a note with ISO millisecond timestamps and reads it back', async () => {
        const before = new Date().toISOString();
        const { note, created } = await store.saveNote('First', 'hello world');
        const after = new Date().toISOString();
        expect(created).toBe(true);
        expect(note.title).toBe('First');
        expect(note.content).toBe('hello world');
        expect(note.createdAt).toMatch(ISO_MS);
        expect(note.updatedAt).toBe(note.createdAt);
        expect(note.createdAt >= before && note.createdAt <= after).toBe(true);
        expect(await store.getNote('First')).toEqual(note);
        expect(await store.getNote('first')).toBeUndefined();
        expect(await store.getNote('Missing')).toBeUndefined();
      });

      it('upserts by title: keeps createdAt, moves updatedAt, replaces content', async () => {
        const first = await store.saveNote('Plan', 'v1');
        await nextMillisecond();
        const second = await store.saveNote('Plan', 'v2');
        expect(second.created).toBe(false);
        expect(second.note.createdAt).toBe(first.note.createdAt);
        expect(second.note.updatedAt > first.note.updatedAt).toBe(true);
        expect(second.note.content).toBe('v2');
        expect(await store.getNote('Plan')).toEqual(second.note);
        expect(await store.countNotes()).toBe(1);
        // The old content is gone from the search index, the new one is in it.
        expect((await store.searchNotes('v1')).notes).toEqual([]);
        expect(titles((await store.searchNotes('v2')).notes)).toEqual(['Plan']);
      });

      it('never lets updatedAt fall below createdAt or the previous updatedAt, even within one millisecond', async () => {
        const saves = [];
        for (let i = 0; i < 20; i++) saves.push((await store.saveNote('Burst', `v${i}`)).note);
        for (let i = 0; i < saves.length; i++) {
          expect(saves[i]!.createdAt).toBe(saves[0]!.createdAt);
          expect(saves[i]!.updatedAt >= saves[i]!.createdAt).toBe(true);
          if (i > 0) expect(saves[i]!.updatedAt >= saves[i - 1]!.updatedAt).toBe(true);
        }
        expect((await store.getNote('Burst'))?.content).toBe('v19');
      });

      it('keeps every note when saves run concurrently', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.saveNote(`Parallel ${String(i).padStart(2, '0')}`, `body ${i}`),
          ),
        );
        expect(results.every((r) => r.created)).toBe(true);
        expect(await store.countNotes()).toBe(20);
        const same = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.saveNote('Contended', `c${i}`)),
        );
        expect(same.filter((r) => r.created)).toHaveLength(1);
        expect(await store.countNotes()).toBe(21);
        expect(new Set(same.map((r) => r.note.createdAt)).size).toBe(1);
      });

      it('round-trips unicode titles and content (emoji, CJK, RTL, combining marks)', async () => {
        const notes: Array<[string, string]> = [
          ['📝 Emoji 👍🏽', 'Family: 👨‍👩‍👧‍👦, flags: 🇯🇵🇫🇷, math: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢'],
          ['中文笔记', '今天的会议记录：预算已经批准。日本語のテキストも。한국어 문장.'],
          ['עברית', 'مرحبا بالعالم — שלום עולם'],
          ['Cafe\u0301 combining', 'e\u0301 vs é, Å vs A\u030a'],
        ];
        await saveInOrder(notes);
        for (const [title, content] of notes) {
          const got = await store.getNote(title);
          expect(got?.title).toBe(title);
          expect(got?.content).toBe(content);
        }
        expect(titles((await store.listNotes()).notes)).toEqual(notes.map(([t]) => t).reverse());
        expect(titles((await store.searchNotes('👍🏽')).notes)).toEqual(['📝 Emoji 👍🏽']);
        expect(titles((await store.searchNotes('🇯🇵🇫🇷')).notes)).toEqual(['📝 Emoji 👍🏽']);
        expect(titles((await store.searchNotes('预算已经')).notes)).toEqual(['中文笔记']);
        expect(titles((await store.searchNotes('笔')).notes)).toEqual(['中文笔记']);
        expect(titles((await store.searchNotes('שלום עולם')).notes)).toEqual(['עברית']);
        // No normalisation: precomposed and combining forms are different strings, as in Python.
        expect(titles((await store.searchNotes('CAFE\u0301')).notes)).toEqual(['Cafe\u0301 combining']);
        expect(titles((await store.searchNotes('café')).notes)).toEqual([]);
      });

      it('round-trips a 1 MiB note and finds it by a word near its end', async () => {
        const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
        let content = '';
        for (let i = 0; content.length < 1024 * 1024 - 64; i++) content += `${words[i % words.length]} ${i} `;
        content += 'NEEDLE-in-the-haystack';
        content = content.padEnd(1024 * 1024, '.');
        expect(Buffer.byteLength(content)).toBe(1024 * 1024);
        await store.saveNote('Big', content);
        await store.saveNote('Small', 'tiny');
        const got = await store.getNote('Big');
        expect(got?.content.length).toBe(content.length);
        expect(got?.content === content).toBe(true);
        expect(titles((await store.searchNotes('needle-IN-the')).notes)).toEqual(['Big']);
        expect(titles((await store.searchNotes('ALPHA 50000 ')).notes)).toEqual(['Big']);
        expect((await store.searchNotes('beta 50000 ')).notes).toEqual([]);
      });
    });

    describe('text a backend cannot store', () => {
      it('refuses NUL characters with the same field error on every backend, and saves nothing', async () => {
        const refusals: Array<[string, () => Promise<unknown>]> = [
          ['title', () => store.saveNote('bad\0title', 'content')],
          ['content', () => store.saveNote('good title', 'bad\0content')],
          ['title', () => store.getNote('a\0b')],
          ['title', () => store.deleteNote('a\0b')],
          ['keyword', () => store.searchNotes('x\0y')],
          ['prefix', () => store.completeTitles('x\0')],
        ];
        for (const [field, attempt] of refusals) {
          const err = await attempt().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(InvalidNoteInputError);
          expect((err as InvalidNoteInputError).field).toBe(field);
          expect((err as Error).message).toBe(`${field} must not contain NUL characters (U+0000)`);
        }
        expect(await store.countNotes()).toBe(0);
        await store.saveNote('still works', 'after the refusals');
        expect(await store.countNotes()).toBe(1);
      });
    });

    describe('delete and count', () => {
      it('deletes an existing note once and removes it from list and search', async () => {
        await store.saveNote('Keep', 'kept content');
        await store.saveNote('Drop', 'dropped content');
        expect(await store.countNotes()).toBe(2);
        expect(await store.deleteNote('Drop')).toBe(true);
        expect(await store.deleteNote('Drop')).toBe(false);
        expect(await store.deleteNote('Never existed')).toBe(false);
        expect(await store.getNote('Drop')).toBeUndefined();
        expect(await store.countNotes()).toBe(1);
        expect(titles((await store.listNotes()).notes)).toEqual(['Keep']);
        expect((await store.searchNotes('dropped')).notes).toEqual([]);
        expect(titles((await store.searchNotes('content')).notes)).toEqual(['Keep']);
      });

      it('gives a note saved again after deletion a new createdAt', async () => {
        const first = await store.saveNote('Phoenix', 'one');
        await store.deleteNote('Phoenix');
        await nextMillisecond();
        const again = await store.saveNote('Phoenix', 'two');
        expect(again.created).toBe(true);
        expect(again.note.createdAt > first.note.createdAt).toBe(true);
      });

      it('counts zero on empty data', async () => {
        expect(await store.countNotes()).toBe(0);
        expect(await store.listNotes()).toEqual({ notes: [] });
        expect(await store.searchNotes('anything')).toEqual({ notes: [], truncated: false });
      });
    });

    describe('listing', () => {
      it('lists newest first with summaries only', async () => {
        await saveInOrder([
          ['A', 'a'],
          ['B', 'b'],
          ['C', 'c'],
        ]);
        const page = await store.listNotes();
        expect(page.nextCursor).toBeUndefined();
        expect(titles(page.notes)).toEqual(['C', 'B', 'A']);
        const c = await store.getNote('C');
        expect(page.notes[0]).toEqual({ title: 'C', createdAt: c?.createdAt, updatedAt: c?.updatedAt });
      });

      it('paginates across pages with no duplicates or gaps, ties broken by title', async () => {
        const base = Date.UTC(2025, 0, 1);
        const notes: Note[] = [];
        // 23 notes over 9 distinct timestamps: several notes share each createdAt.
        const tied = ['b', 'a', 'C', 'é', 'Z', '中', '😀', 'aa', 'a b', 'A', '_', '%', 'zz'];
        for (let i = 0; i < 23; i++) {
          const t = iso(base + (i % 9) * 1000);
          notes.push({
            title: `${tied[i % tied.length]}-${i % 3}`,
            content: `n${i}`,
            createdAt: t,
            updatedAt: t,
          });
        }
        await b.seed(store, notes);
        const expected = [...notes].sort(listingOrder).map((n) => n.title);

        const seen: string[] = [];
        const sizes: number[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listNotes({ limit: 4, cursor });
          sizes.push(page.notes.length);
          seen.push(...titles(page.notes));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toEqual(expected);
        expect(sizes).toEqual([4, 4, 4, 4, 4, 3]);

        // A page size that divides the total exactly ends without a dangling cursor.
        const whole = await store.listNotes({ limit: 23 });
        expect(whole.nextCursor).toBeUndefined();
        expect(titles(whole.notes)).toEqual(expected);
      });

      it('keeps paginating correctly while notes are added and removed between pages', async () => {
        const base = Date.UTC(2025, 5, 1);
        const notes: Note[] = Array.from({ length: 10 }, (_, i) => ({
          title: `N${i}`,
          content: '',
          createdAt: iso(base + i),
          updatedAt: iso(base + i),
        }));
        await b.seed(store, notes);
        const first = await store.listNotes({ limit: 4 });
        expect(titles(first.notes)).toEqual(['N9', 'N8', 'N7', 'N6']);
        await store.saveNote('Newest', 'added after the first page');
        await store.deleteNote('N5');
        const second = await store.listNotes({ limit: 4, cursor: first.nextCursor });
        expect(titles(second.notes)).toEqual(['N4', 'N3', 'N2', 'N1']);
        const third = await store.listNotes({ limit: 4, cursor: second.nextCursor });
        expect(titles(third.notes)).toEqual(['N0']);
        expect(third.nextCursor).toBeUndefined();
      });

      it('rejects a cursor it did not issue with InvalidCursorError', async () => {
        await saveInOrder([
          ['A', 'a'],
          ['B', 'b'],
        ]);
        const good = (await store.listNotes({ limit: 1 })).nextCursor!;
        expect(typeof good).toBe('string');
        const forged = [
          'not a cursor!',
          '',
          Buffer.from('{"createdAt":"x"}').toString('base64url'),
          Buffer.from('[1,"yesterday","A"]').toString('base64url'),
          Buffer.from('[2,"2025-01-01T00:00:00.000Z","A"]').toString('base64url'),
          Buffer.from('[1,"2025-01-01T00:00:00.000Z",7]').toString('base64url'),
          `${good}%%`,
        ];
        for (const cursor of forged) {
          await expect(store.listNotes({ cursor }), cursor).rejects.toBeInstanceOf(InvalidCursorError);
        }
        expect(titles((await store.listNotes({ limit: 1, cursor: good })).notes)).toEqual(['A']);
      });

      it('clamps limit to 1..MAX_LIST_LIMIT and defaults to DEFAULT_LIST_LIMIT', async () => {
        const base = Date.UTC(2024, 0, 1);
        const count = MAX_LIST_LIMIT + 5;
        await b.seed(
          store,
          Array.from({ length: count }, (_, i) => ({
            title: `T${String(i).padStart(4, '0')}`,
            content: i % 2 === 0 ? 'even row' : 'odd row',
            createdAt: iso(base + i),
            updatedAt: iso(base + i),
          })),
        );
        expect((await store.listNotes()).notes).toHaveLength(DEFAULT_LIST_LIMIT);
        expect((await store.listNotes({ limit: 0 })).notes).toHaveLength(1);
        expect((await store.listNotes({ limit: -3 })).notes).toHaveLength(1);
        const max = await store.listNotes({ limit: 100_000 });
        expect(max.notes).toHaveLength(MAX_LIST_LIMIT);
        expect(max.notes[0]!.title).toBe(`T${String(count - 1).padStart(4, '0')}`);
        expect(typeof max.nextCursor).toBe('string');
        expect((await store.searchNotes('row')).notes).toHaveLength(DEFAULT_LIST_LIMIT);
        expect((await store.searchNotes('row', { limit: 0 })).notes).toHaveLength(1);
        const all = await store.searchNotes('row', { limit: 100_000 });
        expect(all.notes).toHaveLength(MAX_LIST_LIMIT);
        expect(all.truncated).toBe(true);
        expect(await store.countNotes()).toBe(count);
      });
    });

    describe('search', () => {
      // Saved oldest first: results come newest first, i.e. bottom to top of this list.
      const SEARCH_NOTES: Array<[string, string]> = [
        ['Budget 2024', 'Quarterly numbers for the team.'],
        ['Groceries', 'Buy milk, eggs and BUDGET-friendly bread.'],
        ['Summer', 'Plans for the ÉTÉ holidays.'],
        ['Été à Paris', 'Museums.'],
        ['Quotes', 'She said "hi" to everyone.'],
        ['Percent', 'I am 100% sure.'],
        ['Snake', 'use snake_case names'],
        ['Glob', 'match a*b here'],
        ['Apostrophe', "it's fine"],
        ['Boolean', 'this OR that'],
        ['Near', 'call NEAR(x, y) now'],
        ['Windows', 'C:\\Users\\me'],
        ['Georgian', 'აბგდ ანბანი'],
        ['Greek', 'ΟΔΟΣ ΚΑΙ ΠΟΛΗ'],
        ['Turkish', 'İstanbul'],
        ['Edge xy', 'zw tail'],
      ];
      const newestFirst = (names: string[]) => {
        const order = SEARCH_NOTES.map(([t]) => t).reverse();
        return [...names].sort((x, y) => order.indexOf(x) - order.indexOf(y));
      };
      const search = async (keyword: string) =>
        titles((await store.searchNotes(keyword, { limit: 100 })).notes);

      beforeEach(async () => {
        await saveInOrder(SEARCH_NOTES);
      });

      it('matches a case-insensitive substring of the title or the content', async () => {
        expect(await search('UDGE')).toEqual(['Groceries', 'Budget 2024']);
        expect(await search('budget')).toEqual(['Groceries', 'Budget 2024']);
        expect(await search('quarterly')).toEqual(['Budget 2024']);
        expect(await search('GROCER')).toEqual(['Groceries']);
        expect(await search('museums.')).toEqual(['Été à Paris']);
        expect(await search('no such words')).toEqual([]);
      });

      it('never matches across the title/content boundary', async () => {
        expect(await search('xy')).toEqual(['Edge xy']);
        expect(await search('zw')).toEqual(['Edge xy']);
        expect(await search('xyzw')).toEqual([]);
        expect(await search('xy zw')).toEqual([]);
      });

      it('folds non-ASCII case like Python str.lower()', async () => {
        expect(await search('ÉTÉ')).toEqual(['Été à Paris', 'Summer']);
        expect(await search('été')).toEqual(['Été à Paris', 'Summer']);
        expect(await search('é')).toEqual(['Été à Paris', 'Summer']);
        // Georgian Mtavruli capitals (Unicode 11) fold to Mkhedruli.
        expect(await search('ᲐᲑᲒ')).toEqual(['Georgian']);
        expect(await search('ანბანი')).toEqual(['Georgian']);
        // Final sigma: 'ΟΔΟΣ'.lower() is 'οδος', so 'οδοσ' is not a substring (as in Python).
        expect(await search('ΟΔΟΣ')).toEqual(['Greek']);
        expect(await search('οδος και')).toEqual(['Greek']);
        expect(await search('οδοσ')).toEqual([]);
        expect(await search('πολη')).toEqual(['Greek']);
        // 'İ'.lower() is 'i̇' (i + combining dot): 'istanbul' is not a substring (as in Python).
        expect(await search('İSTANBUL')).toEqual(['Turkish']);
        expect(await search('istanbul')).toEqual([]);
        expect(await search('stanbul')).toEqual(['Turkish']);
      });

      it('treats quotes, LIKE wildcards, FTS operators and backslashes literally', async () => {
        expect(await search('"hi"')).toEqual(['Quotes']);
        expect(await search('"')).toEqual(['Quotes']);
        expect(await search('said "')).toEqual(['Quotes']);
        expect(await search('100%')).toEqual(['Percent']);
        expect(await search('%')).toEqual(['Percent']);
        expect(await search('0% s')).toEqual(['Percent']);
        expect(await search('_')).toEqual(['Snake']);
        expect(await search('e_c')).toEqual(['Snake']);
        expect(await search('snake_')).toEqual(['Snake']);
        expect(await search('a*b')).toEqual(['Glob']);
        expect(await search('*')).toEqual(['Glob']);
        expect(await search('match a*')).toEqual(['Glob']);
        expect(await search("it's")).toEqual(['Apostrophe']);
        expect(await search("'")).toEqual(['Apostrophe']);
        expect(await search('this OR that')).toEqual(['Boolean']);
        expect(await search('OR')).toEqual(newestFirst(['Budget 2024', 'Summer', 'Boolean', 'Georgian']));
        expect(await search('NEAR(')).toEqual(['Near']);
        expect(await search('near(x, y)')).toEqual(['Near']);
        expect(await search('NEAR(x y)')).toEqual([]);
        expect(await search('\\')).toEqual(['Windows']);
        expect(await search('c:\\users\\')).toEqual(['Windows']);
        expect(await search('C:\\\\')).toEqual([]);
        expect(await search('-')).toEqual(['Groceries']);
        expect(await search('^')).toEqual([]);
        expect(await search('a b')).toEqual([]);
        expect(await search('he"')).toEqual([]);
        expect(await search('""')).toEqual([]);
      });

      it('handles one- and two-character keywords and the empty keyword', async () => {
        expect(await search('xy')).toEqual(['Edge xy']);
        expect(await search('Y')).toEqual(
          newestFirst(['Edge xy', 'Near', 'Quotes', 'Summer', 'Groceries', 'Budget 2024']),
        );
        expect(await search('ΟΔ')).toEqual(['Greek']);
        expect(await search(' ')).toHaveLength(
          SEARCH_NOTES.filter(([t, c]) => `${t}${c}`.includes(' ')).length,
        );
        // '' is a substring of everything, as in Python.
        expect(await search('')).toEqual(SEARCH_NOTES.map(([t]) => t).reverse());
      });

      it('agrees with the seed semantics on every keyword of a sweep', async () => {
        const corpus = SEARCH_NOTES.map(([title, content]) => ({ title, content }));
        const keywords = new Set<string>([
          'OR',
          'AND',
          'NOT',
          'NEAR',
          '(',
          ')',
          ':',
          '{',
          '}',
          '+',
          '^',
          ' ',
        ]);
        // Every substring of length 1..5 of every note, in the note's case and in swapped case.
        for (const { title, content } of corpus) {
          for (const text of [title, content]) {
            const chars = [...text];
            for (let len = 1; len <= 5; len++) {
              for (let i = 0; i + len <= chars.length; i += 2) {
                const k = chars.slice(i, i + len).join('');
                keywords.add(k);
                keywords.add(k.toUpperCase());
              }
            }
          }
        }
        const mismatches: string[] = [];
        for (const k of keywords) {
          const expected = newestFirst(corpus.filter((n) => seedMatches(n, k)).map((n) => n.title));
          const got = await search(k);
          if (JSON.stringify(got) !== JSON.stringify(expected)) {
            mismatches.push(
              `${JSON.stringify(k)}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`,
            );
          }
        }
        expect(keywords.size).toBeGreaterThan(500);
        expect(mismatches).toEqual([]);
      });

      it('returns at most limit newest matches and says when more matched', async () => {
        await saveInOrder([
          ['Common 1', 'shared marker'],
          ['Common 2', 'shared marker'],
          ['Common 3', 'Shared Marker'],
        ]);
        expect(await store.searchNotes('shared marker', { limit: 2 })).toEqual({
          notes: [
            expect.objectContaining({ title: 'Common 3' }),
            expect.objectContaining({ title: 'Common 2' }),
          ],
          truncated: true,
        });
        const exact = await store.searchNotes('SHARED MARKER', { limit: 3 });
        expect(titles(exact.notes)).toEqual(['Common 3', 'Common 2', 'Common 1']);
        expect(exact.truncated).toBe(false);
        const short = await store.searchNotes('ss', { limit: 1 });
        expect(short.truncated).toBe(false);
        expect(titles(short.notes)).toEqual([]);
        const shortMany = await store.searchNotes('e', { limit: 2 });
        expect(titles(shortMany.notes)).toEqual(['Common 3', 'Common 2']);
        expect(shortMany.truncated).toBe(true);
        const c3 = await store.getNote('Common 3');
        expect(exact.notes[0]).toEqual({
          title: 'Common 3',
          createdAt: c3?.createdAt,
          updatedAt: c3?.updatedAt,
        });
      });
    });

    it('uses the trigram index for keywords of 3+ characters', async () => {
      const words = [
        'ledger',
        'invoice',
        'meeting',
        'roadmap',
        'release',
        'budget',
        'travel',
        'design',
        'review',
      ];
      const base = Date.UTC(2023, 0, 1);
      const notes: Note[] = Array.from({ length: 2_000 }, (_, i) => {
        const body = Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ');
        return {
          title: `Seeded ${i}`,
          content: i % 500 === 0 ? `${body} zebracorn` : body,
          createdAt: iso(base + i * 1000),
          updatedAt: iso(base + i * 1000),
        };
      });
      await b.seed(store, notes);
      await b.analyze(store);
      const plan = await b.searchPlan(store, 'zebracorn');
      expect(plan).toMatch(b.indexedPlan);
      expect(plan).not.toMatch(b.fullScanPlan);
      expect(titles((await store.searchNotes('ZEBRACORN')).notes)).toEqual([
        'Seeded 1500',
        'Seeded 1000',
        'Seeded 500',
        'Seeded 0',
      ]);
    });

    it('finds the newest matches exactly when a search spans many index and scan chunks', async () => {
      // Timestamps are a permutation of insertion order, so storage order says nothing about age.
      const count = 12_000;
      const base = Date.UTC(2021, 0, 1);
      const rare = new Set([17, 5_003, 11_999]);
      const notes: Note[] = Array.from({ length: count }, (_, i) => {
        const t = iso(base + ((i * 7_919) % count) * 1000);
        return {
          title: `Bulk ${i}`,
          content: rare.has(i) ? `shared words plus Ø mark ${i}` : `shared words ${i % 97}`,
          createdAt: t,
          updatedAt: t,
        };
      });
      await b.seed(store, notes);
      await b.analyze(store);
      const expectTop = (keyword: string, limit: number) => {
        const all = notes.filter((n) => seedMatches(n, keyword)).sort(listingOrder);
        return { titles: all.slice(0, limit).map((n) => n.title), truncated: all.length > limit };
      };
      for (const [keyword, limit] of [
        ['SHARED words', 7],
        ['words 5', 50],
        ['words 1', 20],
        ['ø', 10],
        ['ø m', 10],
        ['s', 3],
        ['zq', 5],
      ] as const) {
        const got = await store.searchNotes(keyword, { limit });
        expect({ titles: titles(got.notes), truncated: got.truncated }, keyword).toEqual(
          expectTop(keyword, limit),
        );
      }
      expect(titles((await store.searchNotes('Ø', { limit: 10 })).notes)).toHaveLength(3);
    });

    describe('export', () => {
      it('exports whole notes in listing order until the next would pass maxBytes', async () => {
        // Byte sizes: 'ééé' is 6 bytes in UTF-8 (3 characters), '😀' is 4.
        await saveInOrder([
          ['Oldest', 'ééé'],
          ['Middle', '😀😀'],
          ['Newest', 'abcd'],
        ]);
        const all = await store.exportNotes({ maxBytes: 1_000 });
        expect(all.total).toBe(3);
        expect(all.truncated).toBe(false);
        expect(all.notes.map((n) => [n.title, n.content])).toEqual([
          ['Newest', 'abcd'],
          ['Middle', '😀😀'],
          ['Oldest', 'ééé'],
        ]);
        expect(all.notes[0]).toEqual(await store.getNote('Newest'));

        const exactFit = await store.exportNotes({ maxBytes: 4 + 8 + 6 });
        expect(exactFit.truncated).toBe(false);
        expect(exactFit.notes).toHaveLength(3);

        const cut = await store.exportNotes({ maxBytes: 4 + 8 + 5 });
        expect(titles(cut.notes)).toEqual(['Newest', 'Middle']);
        expect(cut.total).toBe(3);
        expect(cut.truncated).toBe(true);

        const first = await store.exportNotes({ maxBytes: 11 });
        expect(titles(first.notes)).toEqual(['Newest']);
        expect(first.truncated).toBe(true);

        const none = await store.exportNotes({ maxBytes: 3 });
        expect(none).toEqual({ notes: [], total: 3, truncated: true });
      });

      it('exports an empty store as not truncated', async () => {
        expect(await store.exportNotes({ maxBytes: 0 })).toEqual({ notes: [], total: 0, truncated: false });
      });

      it('exports more notes than one internal batch', async () => {
        const base = Date.UTC(2022, 0, 1);
        await b.seed(
          store,
          Array.from({ length: 2_500 }, (_, i) => ({
            title: `E${String(i).padStart(4, '0')}`,
            content: 'x'.repeat(10),
            createdAt: iso(base + i),
            updatedAt: iso(base + i),
          })),
        );
        const part = await store.exportNotes({ maxBytes: 2_100 * 10 + 9 });
        expect(part.notes).toHaveLength(2_100);
        expect(part.notes[0]!.title).toBe('E2499');
        expect(part.notes.at(-1)!.title).toBe('E0400');
        expect(part).toMatchObject({ total: 2_500, truncated: true });
        const whole = await store.exportNotes({ maxBytes: 25_000 });
        expect(whole.notes).toHaveLength(2_500);
        expect(whole.truncated).toBe(false);
      });
    });

    describe('catalog', () => {
      const entry = (
        name: string,
        status: 'ready' | 'failed',
        extra: Partial<CatalogEntry> = {},
      ): CatalogEntry => ({
        name,
        status,
        command: 'node',
        args: ['server.js', '--flag'],
        tools: [{ name: 'echo', description: 'Echoes' }],
        durationMs: 42,
        initializedAt: '2025-03-04T05:06:07.089Z',
        ...extra,
      });

      it('keeps the latest entry per name, listed by name', async () => {
        expect(await store.listCatalog()).toEqual([]);
        const zeta = entry('zeta', 'failed', { error: 'spawn ENOENT', tools: [] });
        const alphaOld = entry('alpha', 'failed', { error: 'timeout' });
        const alphaNew = entry('alpha', 'ready', {
          protocolVersion: '2025-11-25',
          serverInfo: { name: 'alpha-server', version: '1.2.3', title: 'Alpha' },
          capabilities: { tools: { listChanged: true }, resources: {} },
          resources: [{ uri: 'file:///x', name: 'x' }],
          prompts: [{ name: 'p', description: 'd' }],
          initializedAt: '2025-03-04T05:07:00.000Z',
        });
        await store.upsertCatalogEntry(zeta);
        await store.upsertCatalogEntry(alphaOld);
        await store.upsertCatalogEntry(entry('Mid', 'ready'));
        await store.upsertCatalogEntry(alphaNew);
        expect(await store.listCatalog()).toEqual([entry('Mid', 'ready'), alphaNew, zeta]);
      });
    });

    describe('idempotency records', () => {
      it('returns nothing for an unknown key', async () => {
        expect(await store.getIdempotentResult('job-1:save_note')).toBeUndefined();
      });

      it('keeps the first result recorded under a key', async () => {
        const before = new Date().toISOString();
        const first = { content: [{ type: 'text', text: "Note 'x' saved successfully." }], n: 1, ok: true };
        await store.recordIdempotentResult('job-1', 'save_note', first);
        await store.recordIdempotentResult('job-1', 'delete_note', { other: true });
        const got = await store.getIdempotentResult('job-1');
        expect(got).toEqual({
          key: 'job-1',
          tool: 'save_note',
          result: first,
          recordedAt: expect.stringMatching(ISO_MS),
        });
        expect(got!.recordedAt >= before).toBe(true);
        await store.recordIdempotentResult('job-2', 'tool', null);
        expect((await store.getIdempotentResult('job-2'))?.result).toBeNull();
      });

      it('prunes records older than a cutoff and reports how many', async () => {
        await store.recordIdempotentResult('old-1', 't', 1);
        await store.recordIdempotentResult('old-2', 't', 2);
        expect(await store.pruneIdempotentResults(new Date(Date.now() - 60_000))).toBe(0);
        await nextMillisecond();
        const cutoff = new Date();
        await nextMillisecond();
        await store.recordIdempotentResult('new-1', 't', 3);
        expect(await store.pruneIdempotentResults(cutoff)).toBe(2);
        expect(await store.getIdempotentResult('old-1')).toBeUndefined();
        expect((await store.getIdempotentResult('new-1'))?.result).toBe(3);
        expect(await store.pruneIdempotentResults(cutoff)).toBe(0);
      });
    });

    describe('title completion', () => {
      const complete = async (prefix: string, limit?: number) =>
        store.completeTitles(prefix, limit === undefined ? {} : { limit });

      it('completes a prefix case-insensitively, in folded-title order, with the titles as saved', async () => {
        for (const title of [
          'Meeting notes',
          'meeting agenda',
          'MEETUP',
          'Memo',
          'Budget',
          'Ärger',
          'ärmel',
          '100% done',
          '100_x',
          '100 plain',
          'Ωmega',
        ]) {
          await store.saveNote(title, 'x');
        }
        expect(await complete('mee')).toEqual({
          titles: ['meeting agenda', 'Meeting notes', 'MEETUP'],
          total: 3,
          hasMore: false,
        });
        expect((await complete('MEETING ')).titles).toEqual(['meeting agenda', 'Meeting notes']);
        expect((await complete('Meeting notes')).titles).toEqual(['Meeting notes']);
        expect((await complete('Meeting notes!')).titles).toEqual([]);
        expect((await complete('ÄR')).titles).toEqual(['Ärger', 'ärmel']);
        expect((await complete('ωME')).titles).toEqual(['Ωmega']);
        // LIKE metacharacters are literal.
        expect((await complete('100%')).titles).toEqual(['100% done']);
        expect((await complete('100_')).titles).toEqual(['100_x']);
        expect((await complete('100')).titles).toEqual(['100 plain', '100% done', '100_x']);
        expect(await complete('zzz')).toEqual({ titles: [], total: 0, hasMore: false });
        const all = await complete('');
        expect(all.total).toBe(11);
        expect(all.titles[0]).toBe('100 plain');
        expect(all.titles.at(-1)).toBe('Ωmega');
      });

      it(`returns at most ${MAX_COMPLETION_LIMIT} titles, with the total and whether more match`, async () => {
        const base = Date.UTC(2024, 0, 1);
        await b.seed(
          store,
          [
            ...Array.from({ length: 250 }, (_, i) => `Item ${String(i).padStart(3, '0')}`),
            'Other',
            'Items are everywhere',
          ].map((title, i) => ({ title, content: '', createdAt: iso(base + i), updatedAt: iso(base + i) })),
        );
        const first = await complete('item');
        expect(first.titles).toHaveLength(MAX_COMPLETION_LIMIT);
        expect(first.titles[0]).toBe('Item 000');
        expect(first.titles.at(-1)).toBe('Item 099');
        expect(first).toMatchObject({ total: 251, hasMore: true });
        expect(await complete('ITEM 2')).toMatchObject({ total: 50, hasMore: false });
        expect((await complete('item 2')).titles).toHaveLength(50);
        expect(await complete('item', 5)).toEqual({
          titles: ['Item 000', 'Item 001', 'Item 002', 'Item 003', 'Item 004'],
          total: 251,
          hasMore: true,
        });
        expect((await complete('item', 1_000)).titles).toHaveLength(MAX_COMPLETION_LIMIT);
        expect(await complete('items')).toEqual({
          titles: ['Items are everywhere'],
          total: 1,
          hasMore: false,
        });
      });

      it('completes through the folded-title index', async () => {
        const base = Date.UTC(2023, 0, 1);
        await b.seed(
          store,
          Array.from({ length: 2_000 }, (_, i) => ({
            title: `Seeded ${i}`,
            content: 'body',
            createdAt: iso(base + i),
            updatedAt: iso(base + i),
          })),
        );
        await b.analyze(store);
        const plan = await b.completionPlan(store, 'seeded 19');
        expect(plan).toMatch(b.completionIndexedPlan);
        expect(plan).not.toMatch(b.fullScanPlan);
        expect(await complete('SEEDED 199')).toMatchObject({ total: 11, hasMore: false });
      });
    });

    describe('change feed', () => {
      it('announces created, updated and deleted notes in commit order, and nothing for a missing note', async () => {
        const feed = await collectChanges(store);
        await store.saveNote('Watched', 'v1');
        await store.saveNote('Watched', 'v2');
        expect(await store.deleteNote('Never existed')).toBe(false);
        await store.deleteNote('Watched');
        await store.saveNote('Marker', 'last');
        expect(await feed.waitFor(4)).toEqual([
          { kind: 'created', title: 'Watched' },
          { kind: 'updated', title: 'Watched' },
          { kind: 'deleted', title: 'Watched' },
          { kind: 'created', title: 'Marker' },
        ]);
        feed.stop();
      });

      it('stops calling a listener once it unsubscribes', async () => {
        const stopped = await collectChanges(store);
        const watching = await collectChanges(store);
        await store.saveNote('Before', 'x');
        await stopped.waitFor(1);
        await watching.waitFor(1);
        stopped.stop();
        await store.saveNote('After', 'x');
        // Both listeners are called for the same change in one pass: once `watching` has it,
        // `stopped` would have it too had it not unsubscribed.
        await watching.waitFor(2);
        expect(stopped.changes).toEqual([{ kind: 'created', title: 'Before' }]);
        watching.stop();
      });

      it('announces changes made through another store on the same data', async (ctx) => {
        if (!b.sharedChanges) ctx.skip();
        const other = await open();
        const feed = await collectChanges(store);
        await other.saveNote('From elsewhere', 'x');
        await other.deleteNote('From elsewhere');
        expect(await feed.waitFor(2)).toEqual([
          { kind: 'created', title: 'From elsewhere' },
          { kind: 'deleted', title: 'From elsewhere' },
        ]);
        feed.stop();
      });
    });

    describe('lifecycle', () => {
      it('pings while open and fails once closed; close is idempotent', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await store.close();
        await expect(store.ping()).rejects.toThrow();
      });

      it('keeps notes, catalog and idempotency records across a restart', async (ctx) => {
        if (!b.persistent) ctx.skip();
        await saveInOrder([
          ['Persisted', 'survives restarts'],
          ['Second', 'also here'],
        ]);
        await store.upsertCatalogEntry({
          name: 'srv',
          status: 'ready',
          command: 'node',
          args: [],
          tools: [],
          durationMs: 1,
          initializedAt: '2025-01-01T00:00:00.000Z',
        });
        await store.recordIdempotentResult('k', 'save_note', { ok: 1 });
        const before = await store.getNote('Persisted');
        await store.close();

        const reopened = await open();
        expect(await reopened.getNote('Persisted')).toEqual(before);
        expect(await reopened.countNotes()).toBe(2);
        expect(titles((await reopened.listNotes()).notes)).toEqual(['Second', 'Persisted']);
        expect(titles((await reopened.searchNotes('SURVIVES')).notes)).toEqual(['Persisted']);
        expect((await reopened.listCatalog()).map((e) => e.name)).toEqual(['srv']);
        expect((await reopened.getIdempotentResult('k'))?.result).toEqual({ ok: 1 });
        const updated = await reopened.saveNote('Persisted', 'changed after restart');
        expect(updated.created).toBe(false);
        expect(updated.note.createdAt).toBe(before!.createdAt);
      });

      it('lets several stores open the same data at once (replicas starting together)', async (ctx) => {
        if (!b.persistent) ctx.skip();
        const fresh = await b.freshData();
        const stores = await Promise.all(Array.from({ length: 4 }, () => fresh.open()));
        opened.push(...stores);
        await Promise.all(stores.map((s, i) => s.saveNote(`Replica ${i}`, `from ${i}`)));
        for (const s of stores) expect(await s.countNotes()).toBe(4);
        expect(titles((await stores[0]!.searchNotes('FROM 3')).notes)).toEqual(['Replica 3']);
      });
    });
  });
}

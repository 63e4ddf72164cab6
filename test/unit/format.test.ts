import { describe, expect, it } from 'vitest';
import { allNotesMarkdown, listNotesText, readNoteText, searchNotesText } from '../../src/notes/format.ts';

const note = (title: string, content: string) => ({
  title,
  content,
  createdAt: '2026-01-02T03:04:05.678Z',
  updatedAt: '2026-01-03T03:04:05.678Z',
});

describe('seed texts', () => {
  it('lists titles with created dates like the tutorial', () => {
    expect(listNotesText([note('A', ''), note('B', '')])).toBe(
      'Saved notes:\n- A (created: 2026-01-02)\n- B (created: 2026-01-02)',
    );
    expect(listNotesText([])).toBe('No notes saved yet.');
    expect(listNotesText([note('A', '')], 'abc')).toContain("cursor 'abc'");
  });

  it('reads a note in the tutorial layout', () => {
    expect(readNoteText(note('T', 'body'))).toBe(
      'Title: T\nCreated: 2026-01-02T03:04:05.678Z\nUpdated: 2026-01-03T03:04:05.678Z\n\nbody',
    );
  });

  it('lists search matches', () => {
    expect(searchNotesText('k', [note('A', ''), note('B', '')], false)).toBe("Notes matching 'k':\n- A\n- B");
  });
});

describe('notes://all', () => {
  it('joins sections with ---', () => {
    const md = allNotesMarkdown({ notes: [note('A', 'a'), note('B', 'b')], total: 2, truncated: false });
    expect(md).toBe('## A\n\na\n\n---\n## B\n\nb\n');
  });

  it('marks truncation with counts', () => {
    const md = allNotesMarkdown({ notes: [note('A', 'a')], total: 3, truncated: true });
    expect(md).toContain('_[truncated: showing 1 of 3 notes.');
    expect(allNotesMarkdown({ notes: [], total: 0, truncated: false })).toBe('No notes available.');
  });
});

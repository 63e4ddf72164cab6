/**
 * The human-readable texts of the notes tools and resources. They keep the seed
 * tutorial's wording so LLM prompts written against it keep working; structured data
 * travels separately in `structuredContent`.
 */
import type { Note, NoteSummary, NotesExport } from './store.ts';

export const noteSavedText = (title: string) => `Note '${title}' saved successfully.`;
export const noteDeletedText = (title: string) => `Note '${title}' deleted.`;
export const noteNotFoundText = (title: string) => `Note '${title}' not found.`;
export const NO_NOTES_TEXT = 'No notes saved yet.';
export const noMatchText = (keyword: string) => `No notes found containing '${keyword}'.`;

/** `2026-01-02T03:04:05.678Z` → `2026-01-02`, as the seed's `created_at[:10]`. */
const day = (iso: string) => iso.slice(0, 10);

export function listNotesText(notes: NoteSummary[], nextCursor?: string): string {
  if (notes.length === 0) return NO_NOTES_TEXT;
  const lines = notes.map((n) => `- ${n.title} (created: ${day(n.createdAt)})`);
  const more = nextCursor ? `\n\nMore notes follow; call list_notes with cursor '${nextCursor}'.` : '';
  return `Saved notes:\n${lines.join('\n')}${more}`;
}

export function readNoteText(note: Note): string {
  return `Title: ${note.title}\nCreated: ${note.createdAt}\nUpdated: ${note.updatedAt}\n\n${note.content}`;
}

export function searchNotesText(keyword: string, notes: NoteSummary[], truncated: boolean): string {
  if (notes.length === 0) return noMatchText(keyword);
  const more = truncated ? `\n\nMore notes match; raise limit or narrow the keyword.` : '';
  return `Notes matching '${keyword}':\n${notes.map((n) => `- ${n.title}`).join('\n')}${more}`;
}

/** One note as markdown: `notes://{title}`, and each section of `notes://all`. */
export function noteMarkdown(note: Pick<Note, 'title' | 'content'>): string {
  return `## ${note.title}\n\n${note.content}\n`;
}

export const NO_NOTES_RESOURCE_TEXT = 'No notes available.';

/** `notes://all`: `## title` sections joined by `---`, with a marker when cut short. */
export function allNotesMarkdown(exported: NotesExport): string {
  if (exported.total === 0) return NO_NOTES_RESOURCE_TEXT;
  const sections = exported.notes.map(noteMarkdown);
  let text = sections.join('\n---\n');
  if (exported.truncated) {
    const shown = exported.notes.length;
    text +=
      `${shown > 0 ? '\n---\n' : ''}` +
      `_[truncated: showing ${shown} of ${exported.total} notes. ` +
      `Read notes://{title} or call list_notes and read_note for the rest.]_\n`;
  }
  return text;
}

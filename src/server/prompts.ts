/**
 * Prompts a notes user picks from a desktop client's menu:
 * - `summarise_notes` (keyword): the notes matching a keyword, newest first, as embedded
 *   resources, with the request to summarise them;
 * - `note_to_checklist` (title): one note as an embedded resource, with the request to turn
 *   it into a markdown checklist.
 * Both arguments complete from note titles (see completion.ts). A keyword that matches
 * nothing or a missing note is a -32602 error naming it; the notes embedded are bounded
 * in number and bytes.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, type GetPromptResult, McpError } from '@modelcontextprotocol/sdk/types.js';
import { noMatchText, noteMarkdown, noteNotFoundText } from '../notes/format.ts';
import type { Note, NotesStore } from '../notes/store.ts';
import { type Completer, type CompletionTable, promptRef, titleCompleter } from './completion.ts';
import { keywordSchema, titleSchema } from './notes-tools.ts';
import { noteUri } from './resources.ts';

export const SUMMARISE_NOTES = 'summarise_notes';
export const NOTE_TO_CHECKLIST = 'note_to_checklist';
/** The most notes one summarise_notes prompt embeds. */
export const PROMPT_MAX_NOTES = 20;

export interface PromptsDeps {
  store: Pick<NotesStore, 'searchNotes' | 'getNote'>;
  /** Content bytes the embedded notes of one prompt may add up to. */
  maxBytes: number;
}

type Message = GetPromptResult['messages'][number];

const ask = (text: string): Message => ({ role: 'user', content: { type: 'text', text } });
const embed = (note: Note): Message => ({
  role: 'user',
  content: {
    type: 'resource',
    resource: { uri: noteUri(note.title), mimeType: 'text/markdown', text: noteMarkdown(note) },
  },
});

// Built once at load: a zod schema costs microseconds to build, and stateless mode builds a server per request.
const SUMMARISE_ARGS = {
  keyword: keywordSchema.describe(
    'Notes whose title or content contains this (case-insensitive) are summarised',
  ),
};
const CHECKLIST_ARGS = { title: titleSchema.describe('The title of the note') };

export function registerPrompts(server: McpServer, deps: PromptsDeps): void {
  const { store } = deps;

  server.registerPrompt(
    SUMMARISE_NOTES,
    {
      title: 'Summarise notes',
      description: `Summarise the notes that contain a keyword (newest ${PROMPT_MAX_NOTES} at most).`,
      argsSchema: SUMMARISE_ARGS,
    },
    async ({ keyword }) => {
      const found = await store.searchNotes(keyword, { limit: PROMPT_MAX_NOTES });
      if (found.notes.length === 0) throw new McpError(ErrorCode.InvalidParams, noMatchText(keyword));
      const notes: Note[] = [];
      let bytes = 0;
      for (const summary of found.notes) {
        const note = await store.getNote(summary.title);
        if (!note) continue; // deleted since the search
        bytes += Buffer.byteLength(note.content, 'utf8');
        if (bytes > deps.maxBytes && notes.length > 0) break;
        notes.push(note);
      }
      const partial = found.truncated || notes.length < found.notes.length;
      return {
        description: `Summarise ${notes.length} note(s) containing '${keyword}'`,
        messages: [
          ask(
            `Summarise the ${notes.length} note(s) below, which contain '${keyword}'` +
              `${partial ? ' (the newest of more that match)' : ''}. ` +
              'Give the key points of each in a sentence or two, then what they have in common.',
          ),
          ...notes.map(embed),
        ],
      };
    },
  );

  server.registerPrompt(
    NOTE_TO_CHECKLIST,
    {
      title: 'Note to checklist',
      description: 'Turn one note into a markdown checklist of its actions and follow-ups.',
      argsSchema: CHECKLIST_ARGS,
    },
    async ({ title }) => {
      const note = await store.getNote(title);
      if (!note) throw new McpError(ErrorCode.InvalidParams, noteNotFoundText(title));
      return {
        description: `Checklist from note '${title}'`,
        messages: [
          ask(
            `Turn the note '${title}' below into a markdown checklist: one "- [ ] " line per action, ` +
              'task or decision to follow up, in the order they appear. Leave out anything not actionable.',
          ),
          embed(note),
        ],
      };
    },
  );
}

/** The prompts' completable arguments. */
export function promptCompletions(store: Pick<NotesStore, 'completeTitles'>): CompletionTable {
  const titles: Completer = titleCompleter(store);
  return new Map<string, Record<string, Completer>>([
    [promptRef(SUMMARISE_NOTES), { keyword: titles }],
    [promptRef(NOTE_TO_CHECKLIST), { title: titles }],
  ]);
}

/**
 * One end-to-end scenario over a connected MCP client, run by every transport's test
 * (Streamable HTTP stateful and stateless, SSE, stdio): every tool and resource, the seed's
 * texts, not-found and bad-input errors, and the server still serving afterwards.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';

export function textOf(result: unknown): string {
  const r = result as CallToolResult;
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

/**
 * What the scenario calls: the v1 `Client` has it, and so does the v2 client package's `Client`
 * (test/helpers/mcp-clients.ts connects either), with the same shapes on the wire.
 */
export type NotesScenarioClient = Pick<
  Client,
  'listTools' | 'callTool' | 'readResource' | 'listResourceTemplates' | 'listResources' | 'ping'
>;

export async function call(client: NotesScenarioClient, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

export const EXPECTED_TOOLS = [
  'delete_note',
  'list_notes',
  'read_note',
  'save_note',
  'search_notes',
  'server_initialize',
];

export async function runNotesScenario(client: NotesScenarioClient, prefix: string): Promise<void> {
  const tools = await client.listTools();
  expect(tools.tools.map((t) => t.name).sort()).toEqual(EXPECTED_TOOLS);
  for (const tool of tools.tools) {
    expect(tool.outputSchema, `${tool.name} declares an outputSchema`).toBeDefined();
    expect(tool.description?.length).toBeGreaterThan(10);
  }
  const save = tools.tools.find((t) => t.name === 'save_note')!;
  expect(save.inputSchema.required).toEqual(['title', 'content']);
  expect((save.inputSchema.properties?.title as { description?: string } | undefined)?.description).toMatch(
    /title/i,
  );

  const title = `${prefix} Meeting Notes`;
  const content = 'Discussed Q1 roadmap. Action items: review budget, schedule follow-up.';

  // save_note: seed text + structured content
  const saved = await call(client, 'save_note', { title, content });
  expect(saved.isError).toBeFalsy();
  expect(textOf(saved)).toBe(`Note '${title}' saved successfully.`);
  const first = saved.structuredContent as { created: boolean; createdAt: string; updatedAt: string };
  expect(first.created).toBe(true);

  // read_note: seed layout
  const read = await call(client, 'read_note', { title });
  expect(textOf(read)).toBe(
    `Title: ${title}\nCreated: ${first.createdAt}\nUpdated: ${first.updatedAt}\n\n${content}`,
  );
  expect(read.structuredContent).toEqual({
    title,
    content,
    createdAt: first.createdAt,
    updatedAt: first.updatedAt,
  });

  // upsert keeps createdAt, moves updatedAt (once the clock has moved past it)
  while (Date.now() <= Date.parse(first.updatedAt)) await new Promise((r) => setTimeout(r, 1));
  const resaved = await call(client, 'save_note', { title, content: `${content} Updated.` });
  const second = resaved.structuredContent as { created: boolean; createdAt: string; updatedAt: string };
  expect(second.created).toBe(false);
  expect(second.createdAt).toBe(first.createdAt);
  expect(second.updatedAt > first.updatedAt).toBe(true);

  // list_notes
  const other = `${prefix} Groceries`;
  await call(client, 'save_note', { title: other, content: 'milk, eggs' });
  const list = await call(client, 'list_notes', { limit: 500 });
  const listText = textOf(list);
  expect(listText.startsWith('Saved notes:\n')).toBe(true);
  expect(listText).toContain(`- ${title} (created: ${first.createdAt.slice(0, 10)})`);
  const listed = (list.structuredContent as { notes: Array<{ title: string }> }).notes.map((n) => n.title);
  expect(listed.indexOf(other)).toBeLessThan(listed.indexOf(title)); // newest first

  // search_notes: case-insensitive substring (UDGE finds budget)
  const found = await call(client, 'search_notes', { keyword: 'UDGE' });
  expect(textOf(found)).toContain(`Notes matching 'UDGE':`);
  expect(textOf(found)).toContain(`- ${title}`);
  expect(
    (found.structuredContent as { notes: Array<{ title: string }> }).notes.map((n) => n.title),
  ).toContain(title);
  const none = await call(client, 'search_notes', { keyword: `${prefix}-zzz-nothing` });
  expect(textOf(none)).toBe(`No notes found containing '${prefix}-zzz-nothing'.`);

  // resources
  const all = await client.readResource({ uri: 'notes://all' });
  const allText = (all.contents[0] as { text: string }).text;
  expect(allText).toContain(`## ${title}\n\n${content} Updated.\n`);
  expect(allText).toContain('\n---\n');
  const one = await client.readResource({ uri: `notes://${encodeURIComponent(title)}` });
  expect((one.contents[0] as { text: string }).text).toBe(`## ${title}\n\n${content} Updated.\n`);
  const templates = await client.listResourceTemplates();
  expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toContain('notes://{title}');
  const resources = await client.listResources();
  const uris = resources.resources.map((r) => r.uri);
  expect(uris).toContain('notes://all');
  expect(uris).toContain('servers://catalog');
  await expect(
    client.readResource({ uri: `notes://${encodeURIComponent(`${prefix} missing`)}` }),
  ).rejects.toThrow(/not found/);
  const catalog = await client.readResource({ uri: 'servers://catalog' });
  expect(JSON.parse((catalog.contents[0] as { text: string }).text)).toHaveProperty('servers');

  // delete_note, then not-found errors
  const deleted = await call(client, 'delete_note', { title: other });
  expect(textOf(deleted)).toBe(`Note '${other}' deleted.`);
  const missingRead = await call(client, 'read_note', { title: other });
  expect(missingRead.isError).toBe(true);
  expect(textOf(missingRead)).toBe(`Note '${other}' not found.`);
  const missingDelete = await call(client, 'delete_note', { title: other });
  expect(missingDelete.isError).toBe(true);
  expect(textOf(missingDelete)).toBe(`Note '${other}' not found.`);

  // bad input: clear tool errors naming the field; the server keeps serving
  const emptyTitle = await call(client, 'save_note', { title: '', content: 'x' });
  expect(emptyTitle.isError).toBe(true);
  expect(textOf(emptyTitle)).toMatch(/title/);
  const longTitle = await call(client, 'save_note', { title: 'x'.repeat(201), content: 'x' });
  expect(longTitle.isError).toBe(true);
  expect(textOf(longTitle)).toMatch(/title must be at most 200 characters/);
  const noContent = await call(client, 'save_note', { title: 'no content' });
  expect(noContent.isError).toBe(true);
  expect(textOf(noContent)).toMatch(/content/);
  const badLimit = await call(client, 'list_notes', { limit: 0 });
  expect(badLimit.isError).toBe(true);
  expect(textOf(badLimit)).toMatch(/limit/);
  const badCursor = await call(client, 'list_notes', { cursor: 'not-a-cursor' });
  expect(badCursor.isError).toBe(true);
  expect(textOf(badCursor)).toMatch(/cursor/);

  // still serving
  const again = await call(client, 'read_note', { title });
  expect(again.isError).toBeFalsy();
  await client.ping();
}

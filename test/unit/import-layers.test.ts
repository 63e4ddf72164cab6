/**
 * The layering the speed issue's rewrite set up: Kafka plumbing (src/kafka), the MCP client
 * (src/mcp-client) and the retry policy (src/retry) do not import the worker (src/worker), which
 * composes them — so none of them can form an import cycle through it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative import specifiers of a file (static imports and re-exports, dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return found.map((spec) => relative(SRC, resolve(file, '..', spec)));
}

describe('import layers', () => {
  for (const layer of ['kafka', 'mcp-client', 'retry']) {
    it(`src/${layer} imports nothing from src/worker`, () => {
      const offending = sources(join(SRC, layer)).flatMap((file) =>
        importsOf(file)
          .filter((target) => target.startsWith('worker/'))
          .map((target) => `${relative(SRC, file)} → ${target}`),
      );
      expect(offending).toEqual([]);
    });
  }

  it('finds the imports it checks (a worker file importing kafka/ is seen)', () => {
    const consumer = importsOf(join(SRC, 'worker/consumer.ts'));
    expect(consumer).toContain('kafka/producer.ts');
    expect(consumer).toContain('retry/backoff.ts');
  });
});

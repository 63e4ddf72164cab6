import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobsFileError, parseJobsText, readJobsFile, validateJobs } from '../../src/worker/enqueue.ts';
import { createDefaultJobRegistry } from '../../src/worker/handlers/index.ts';

const registry = createDefaultJobRegistry();
const example = (name: string) => readFileSync(resolve(import.meta.dirname, '../../examples', name), 'utf8');

describe('enqueue: parsing and validation', () => {
  it('reads a single envelope, an array, and JSON lines', () => {
    const one = { jobID: 'a', jobType: 'tool-call', payload: { tool: 'list_notes' } };
    expect(parseJobsText(JSON.stringify(one))).toEqual([one]);
    expect(parseJobsText(JSON.stringify([one, { ...one, jobID: 'b' }]))).toHaveLength(2);
    expect(
      parseJobsText(`${JSON.stringify(one)}\n\n${JSON.stringify({ ...one, jobID: 'b' })}\n`),
    ).toHaveLength(2);
    expect(() => parseJobsText(`${JSON.stringify(one)}\n{oops\n`)).toThrow('line 2');
    expect(() => parseJobsText('  ')).toThrow('no jobs');
  });

  it('keeps the payload as given and reports every bad job', () => {
    const items = [
      { jobID: 'a', jobType: 'tool-call', payload: '{"tool":"list_notes"}' },
      { jobID: 'b', jobType: 'nope', payload: {} },
      { jobID: 'a', jobType: 'tool-call', payload: { tool: 'list_notes' } },
      { jobType: 'tool-call', payload: {} },
    ];
    const { jobs, errors } = validateJobs(items, registry);
    expect(jobs.map((j) => j.jobID)).toEqual(['a']);
    expect(JSON.parse(jobs[0]!.value).payload).toBe('{"tool":"list_notes"}');
    expect(errors).toHaveLength(3);
    expect(errors[0]).toContain("unknown jobType 'nope'");
    expect(errors[1]).toContain("duplicate jobID 'a'");
    expect(errors[2]).toContain('jobID');
  });

  it('the shipped examples are valid', () => {
    for (const file of ['server-init.json', 'save-note.json', 'bulk-notes.jsonl']) {
      const { jobs, errors } = validateJobs(parseJobsText(example(file)), registry);
      expect(errors, file).toEqual([]);
      expect(jobs.length, file).toBeGreaterThan(0);
    }
  });

  it('readJobsFile: the jobs of a file, or one error naming the file and every bad job', () => {
    const examples = resolve(import.meta.dirname, '../../examples');
    expect(readJobsFile(resolve(examples, 'save-note.json'), registry).map((j) => j.jobID)).toEqual([
      'save-note-example-1',
    ]);
    expect(() => readJobsFile(resolve(examples, 'missing.json'), registry)).toThrow(
      /^cannot read .*missing\.json: ENOENT/,
    );
    const dir = mkdtempSync(resolve(tmpdir(), 'enqueue-'));
    try {
      const bad = resolve(dir, 'bad.jsonl');
      writeFileSync(
        bad,
        '{"jobID":"a","jobType":"tool-call","payload":{}}\n{"jobID":"b","jobType":"nope"}\n',
      );
      expect(() => readJobsFile(bad, registry)).toThrow(JobsFileError);
      expect(() => readJobsFile(bad, registry)).toThrow(
        /bad\.jsonl: 2 invalid job\(s\), nothing sent:\n {2}job #1: .*\n {2}job #2: /,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

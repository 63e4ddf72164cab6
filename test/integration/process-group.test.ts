/**
 * groupHasLiveMembers on a process whose main thread has exited while another thread runs: it
 * shows as a zombie in /proc/<pid>/stat, yet it is not gone (a multi-threaded PID-namespace init
 * such as the sandbox's lifeline tears its namespace down from that state). A real process:
 * Python calls pthread_exit() on its main thread while a second thread waits for a file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupHasLiveMembers } from '../../src/server/initialize/process-group.ts';
import { waitFor } from '../helpers/mcp-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'process-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ZOMBIE_LEADER = `
import ctypes, os, sys, threading, time
release = sys.argv[1]
def wait():
    while not os.path.exists(release):
        time.sleep(0.02)
threading.Thread(target=wait).start()
ctypes.CDLL(None).pthread_exit(None)
`;

const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
};

describe.runIf(process.platform === 'linux')('groupHasLiveMembers', () => {
  it('counts a member whose main thread exited as live until its last thread has', async () => {
    const release = join(dir, 'release');
    const child = spawn('python3', ['-c', ZOMBIE_LEADER, release], { detached: true, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const pgid = child.pid as number;
    await waitFor(() => stateOf(pgid) === 'Z', 10_000, 'the main thread to exit');
    expect(groupHasLiveMembers(pgid)).toBe(true);
    writeFileSync(release, '');
    await exited;
    // Reaped by node as the 'exit' event fired: the group no longer exists at all.
    await waitFor(() => !groupHasLiveMembers(pgid), 10_000, 'the group to be gone');
  });
});

/**
 * Process-group primitives for POSIX. A group outlives its leader while any member lives,
 * and `kill(-pgid, 0)` also counts zombies: orphans that died but wait for init to reap
 * them (some container inits reap only every second or so). Where /proc exists (Linux),
 * a group whose remaining members are all zombies is therefore treated as gone.
 *
 * A multi-threaded process whose main thread has exited shows as a zombie while its other
 * threads still run their exit; when it is a PID namespace's init (the sandbox's lifeline, a
 * Node process), the last of them is what kills and reaps the rest of the namespace. So a
 * member counts as a zombie only once every one of its threads is.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Sends `signal` to every process of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: no such group. EPERM: not ours (the number was reused), so not ours to signal.
    return false;
  }
}

/** True while group `pgid` has a member that is not a zombie. */
export function groupHasLiveMembers(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  const members = liveMembersFromProc(pgid);
  return members === undefined || members > 0;
}

/** Non-zombie processes in group `pgid` per /proc, or undefined where /proc cannot tell. */
function liveMembersFromProc(pgid: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let live = 0;
  let seen = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    seen++;
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && (isRunningState(fields[0]) || hasRunningThread(entry))) live++;
  }
  return seen === 0 ? undefined : live;
}

function isRunningState(state: string | undefined): boolean {
  return state !== 'Z' && state !== 'X';
}

/** Whether a thread of process `pid` has not finished exiting yet. */
function hasRunningThread(pid: string): boolean {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false; // reaped while we looked
  }
  return threads.some((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return isRunningState(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
    } catch {
      return false;
    }
  });
}

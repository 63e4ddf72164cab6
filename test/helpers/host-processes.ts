/**
 * Follows sandboxed processes from the host. A sandbox's pids are its own (a pid file written
 * inside names a namespace pid), so tests pass a unique token as an argument and find bwrap,
 * the lifeline (the namespace's PID 1) and the server it runs on the host by that token in their argv. A "gone" check is
 * only meaningful after the processes were seen alive: wait for them first.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './mcp-server.ts';

/** A sandboxed server_initialize child on the host: bwrap, the lifeline (PID 1 inside) and the command. */
export const SANDBOXED_CHILD_PROCESSES = 3;

/** How long a killed sandbox may take to disappear (the kernel tears the namespace down). */
export const GONE_WITHIN_MS = 10_000;
/** How long a sandboxed tree may take to come up on a loaded machine. */
const UP_WITHIN_MS = 30_000;

/** Host pids of live (non-zombie) processes whose argv contains `token`. */
export function processesWith(token: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(token)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Waits until at least `count` live processes carry `token`. */
export async function waitForProcesses(token: string, count = 1): Promise<void> {
  await waitFor(
    () => processesWith(token).length >= count,
    UP_WITHIN_MS,
    `${count} process(es) carrying ${token}`,
  );
}

/** Waits (up to `withinMs`) until no process carries `token`; on failure names the survivors and their parents. */
export async function waitUntilGone(token: string, withinMs = GONE_WITHIN_MS): Promise<void> {
  try {
    await waitFor(
      () => processesWith(token).length === 0,
      withinMs,
      `every process carrying ${token} to exit`,
    );
  } catch (err) {
    const survivors = processesWith(token).map((pid) => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
      return `${pid} ${field('Name')} state=${field('State')} ppid=${field('PPid')} nspid=${field('NSpid')}`;
    });
    throw new Error(`${(err as Error).message}; survivors: ${survivors.join('; ')}`);
  }
}

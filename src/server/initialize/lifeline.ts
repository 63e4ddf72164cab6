/**
 * The sandbox's lifeline: PID 1 of the sandbox's PID namespace is a small Node program of ours
 * (`bwrap --as-pid-1`) that starts the command only on the server's go-ahead and ends the
 * sandbox the moment the server is gone, whatever the moment.
 *
 * Why: bwrap's --die-with-parent is PR_SET_PDEATHSIG, which bwrap arms in its outer process only
 * after cloning the sandbox, and in the sandbox's init only after all the mount set-up (bwrap 0.8,
 * bubblewrap.c). A server killed before either is armed leaves a sandbox that no signal will
 * ever end. With the lifeline:
 *
 * - the server holds one end of a socket pair, the lifeline (fd LIFELINE_FD) the other. The
 *   kernel closes the server's end when the server dies, even by SIGKILL, so the lifeline reads
 *   end-of-file, exits, and the kernel kills every process left in the namespace (its PID 1 is
 *   gone). PID 1 cannot be killed or stopped from inside its namespace, so the command cannot
 *   take the lifeline down first;
 * - the command starts only after a round trip: the lifeline says ready (it runs, so bwrap has
 *   armed die-with-parent on it, after arming it on its outer process), the server answers go.
 *   A go received proves the server outlived both armings, so from then on the server's death
 *   kills the sandbox twice over (PDEATHSIG chain and end-of-file). A server that died earlier
 *   never answers: the lifeline reads end-of-file and exits without running anything;
 * - when the command exits, the lifeline exits with its status, which also ends anything the
 *   command left behind (setsid or not).
 *
 * The lifeline ignores everything after go; the command does not inherit its socket.
 */
import type { Duplex } from 'node:stream';

/** The lifeline's socket is this fd of the sandbox (the spawned bwrap's fourth stdio entry). */
export const LIFELINE_FD = 3;
/** What the lifeline sends once it runs, and what the server answers. */
const READY = 'r';
const GO = 'g';
/** Exit code of a lifeline whose server went away before go: the command never ran. */
export const LIFELINE_ABANDONED_EXIT = 125;

/**
 * The lifeline program, for `node -e` (CommonJS): argv is `<fd> <file> <args…>`. Exit codes:
 * the command's (128 + signal number when it was killed), 125 without a go, 127 when the
 * command cannot be started, 137 when the server went away while it ran, 143 on SIGTERM.
 */
export const LIFELINE_SOURCE = `'use strict';
const { spawn } = require('node:child_process');
const { Socket } = require('node:net');
const { constants } = require('node:os');
const [fd, file, ...args] = process.argv.slice(1);
let child;
const quit = (code) => process.exit(code);
const lost = () => quit(child ? 137 : ${LIFELINE_ABANDONED_EXIT});
process.on('SIGTERM', () => quit(143));
const line = new Socket({ fd: Number(fd), readable: true, writable: true });
line.on('error', lost);
line.on('end', lost);
line.on('close', lost);
line.on('data', (chunk) => {
  if (child || !chunk.includes(${JSON.stringify(GO)})) return;
  child = spawn(file, args, { stdio: 'inherit' });
  child.on('error', (err) => {
    process.stderr.write('sandbox: cannot start ' + file + ' (' + (err.code || err.message) + ')\\n');
    quit(127);
  });
  child.on('exit', (code, signal) => quit(code ?? 128 + (constants.signals[signal] || 0)));
});
line.write(${JSON.stringify(READY)});
`;

/** argv (after the node executable) that runs `command` under the lifeline. */
export function lifelineArgs(command: readonly string[]): string[] {
  // No inspector on SIGUSR1: a same-user process in the sandbox could otherwise attach to it.
  return ['--disable-sigusr1', '-e', LIFELINE_SOURCE, '--', String(LIFELINE_FD), ...command];
}

/**
 * The server's end: answers the lifeline's ready with go, and otherwise keeps the socket open
 * (closing it, or dying, ends the sandbox). Whatever else arrives is read and dropped.
 */
export function answerLifeline(socket: Duplex): void {
  let answered = false;
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    if (answered || !chunk.includes(READY)) return;
    answered = true;
    socket.write(GO);
  });
}

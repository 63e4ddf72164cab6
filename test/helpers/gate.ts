/**
 * A gate a tool call waits at: the tool calls `entered()` and awaits `released`; the test awaits
 * `reached` (a call is at the gate) and calls `release()` to let it through.
 */
export function gate() {
  let release!: () => void;
  let entered!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const reached = new Promise<void>((r) => {
    entered = r;
  });
  return { release, entered, released, reached };
}

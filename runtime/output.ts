// Where a command's output goes: stdout through `say`, which drops text once the reader has gone
// (the output piped into `head`, which exits early: EPIPE). From then on the command goes on
// silently (a training run saves its outputs as if nothing happened; generation, whose output is
// stdout itself, stops: stdoutClosed tells it). Errors and interrupt notes go to stderr.

/** How a command prints: a terminal, plain lines (a file, a pipe), JSON lines, or only errors. */
export type Mode = 'tty' | 'plain' | 'json' | 'quiet';

let closed = false;
const closedListeners = new Set<() => void>();

/** Writes to stdout, unless the reader has gone (EPIPE): then the text is dropped. */
export function say(text: string): void {
  if (!closed) process.stdout.write(text);
}

/** Whether stdout's reader has gone. */
export function stdoutClosed(): boolean { return closed; }

/** Calls `fn` once stdout's reader has gone (at once when it already has); returns the unsubscribe. */
export function onStdoutClosed(fn: () => void): () => void {
  if (closed) { fn(); return () => {}; }
  closedListeners.add(fn);
  return () => closedListeners.delete(fn);
}

function markClosed(): void {
  if (closed) return;
  closed = true;
  for (const fn of closedListeners) fn();
  closedListeners.clear();
}

/** Catches stdout's write errors (once per process): a closed pipe marks stdout closed, silently. */
export function watchStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') process.stderr.write(`stdout: ${e.message}\n`);
    markClosed();
  });
}

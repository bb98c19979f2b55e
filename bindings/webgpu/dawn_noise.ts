// Dawn's noise. dawn.node's native code prints warnings straight to the process's stderr (fd 2,
// with fprintf), where no JavaScript can catch them and no Dawn toggle turns them off: on the
// first requestAdapter() with a Vulkan driver that reports huge limits (Mesa lavapipe),
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
// They say nothing a user can act on. They are printed synchronously inside that call (a probe
// writing to fd 1 and fd 2 of one pipe sees them between "before the call" and "the call
// returned", and never after), so the provider runs just that call with fd 2 pointed at
// /dev/null: libc dup(2) keeps the real stderr, dup2(/dev/null, 2), the call, dup2(saved, 2).
// No JavaScript runs inside a synchronous native call, and Node writes stderr synchronously on
// Linux, so nothing of ours can land in the window; the window is skipped when stderr still has
// text queued. libc is reached through koffi (loaded here on first use); where koffi or libc
// cannot be loaded the call runs as it is and the warnings show (never a failure).
//
// `showDawnWarnings(true)` (the command lines' --verbose) leaves fd 2 alone.
import { closeSync, openSync } from 'node:fs';

let shown = false;

/** Whether Dawn's native warnings reach stderr (default false: hidden). The command lines' --verbose sets it. */
export function showDawnWarnings(on: boolean): void { shown = on; }

/** libc's descriptor calls, as quietNativeStderr needs them. */
export interface Libc {
  dup(fd: number): number;
  dup2(from: number, to: number): number;
  close(fd: number): number;
}

let libcOnce: Promise<Libc | null> | null = null;

/** libc through koffi, or null where either cannot be loaded (then nothing is redirected). */
export function loadLibc(): Promise<Libc | null> {
  libcOnce ??= (async () => {
    try {
      const koffi = (await import('koffi')).default;
      const lib = koffi.load(process.platform === 'darwin' ? 'libc.dylib' : 'libc.so.6');
      const dup = lib.func('int dup(int)'), dup2 = lib.func('int dup2(int, int)'), close = lib.func('int close(int)');
      return { dup: (fd) => dup(fd) as number, dup2: (a, b) => dup2(a, b) as number, close: (fd) => close(fd) as number };
    } catch {
      return null;
    }
  })();
  return libcOnce;
}

/**
 * Runs `fn` (synchronous: the native call that prints) with fd 2 on /dev/null, unless Dawn's
 * warnings are shown, stderr has text still queued, or libc cannot be reached: then `fn` runs as
 * it is. fd 2 is restored before this returns, also when `fn` throws.
 */
export async function quietNativeStderr<T>(fn: () => T, o: { load?: () => Promise<Libc | null> } = {}): Promise<T> {
  if (shown) return fn();
  const libc = await (o.load ?? loadLibc)().catch(() => null);
  if (!libc || process.stderr.writableLength > 0) return fn();
  let devnull = -1, saved = -1;
  try {
    devnull = openSync('/dev/null', 'w');
    saved = libc.dup(2);
  } catch { /* no /dev/null: nothing to redirect to */ }
  if (saved < 0 || devnull < 0 || libc.dup2(devnull, 2) < 0) {
    if (saved >= 0) libc.close(saved);
    if (devnull >= 0) closeSync(devnull);
    return fn();
  }
  try {
    return fn();
  } finally {
    libc.dup2(saved, 2);
    libc.close(saved);
    closeSync(devnull);
  }
}

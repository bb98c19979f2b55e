// Watching a Backend from outside: instrumentBackend returns the same backend behind a Proxy
// that hands every call of the Backend interface (ops, allocation, transfers) to one `around`
// hook, with the call's name and arguments. The backend itself is unchanged and pays nothing
// when it is not instrumented. Two users are built on this seam: the profiler (profiler.ts:
// per-op wall time, GPU timestamps, the trace file) and the benchmark harness (bench/: allocations
// per step, the high-water mark of bytes in use).
//
// Every method the engine calls on the backend is watched, except a few that are neither ops nor
// memory traffic (bytesInUse, destroy, ...), so an op added to the Backend interface is seen with
// no change here. Calls the backend makes to itself (the WASM backend's loraForward calls its own
// matmul) are not seen: an op is reported once, as the engine called it.
import type { Backend } from '../backend.ts';

/** The Backend methods that move or hold memory (read and sync return promises); every other method is an op. */
export const MEMORY_OPS: ReadonlySet<string> = new Set(['alloc', 'allocF16', 'free', 'write', 'writeF16', 'read', 'copy', 'fill', 'sync']);

/** Methods that are neither ops nor memory traffic: called straight through, unwatched. */
const UNWATCHED: ReadonlySet<string> = new Set(['bytesInUse', 'destroy', 'kernelTimes', 'readSync', 'constructor', 'toString', 'valueOf']);

/** A watched method's name: an op of the Backend interface (matmul, attention, ...) or one of MEMORY_OPS. */
export type BackendCall = string;

/**
 * Called instead of each watched method: it must call `run()` exactly once (which performs the
 * call on the real backend) and return what run returned (a promise for read and sync).
 */
export type AroundHook = (name: BackendCall, args: readonly unknown[], run: () => unknown) => unknown;

/**
 * The backend behind a Proxy whose watched methods go through `around`; everything else
 * (name, description, bytesInUse, destroy, a backend's own extras such as kernelTimes) is the
 * backend's own. Methods run with the real backend as `this`.
 */
export function instrumentBackend<B extends Backend>(backend: B, around: AroundHook): B {
  const wrapped = new Map<string | symbol, unknown>();
  return new Proxy(backend, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const method = value as (...a: unknown[]) => unknown;
        fn = typeof prop === 'string' && !UNWATCHED.has(prop)
          ? (...args: unknown[]) => around(prop, args, () => method.apply(target, args))
          : method.bind(target);
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

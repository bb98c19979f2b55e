// The WASM backend's thread pool: one shared WebAssembly.Memory, the same kernels module
// instantiated on the owning thread and in (threads - 1) workers (worker_threads in Node, Web
// Workers in a browser: bindings/host starts them, bindings/wasm/worker_loop.js is their loop). A
// kernel call is synchronous: the owning thread publishes the job on a control block, takes tid 0
// itself, then waits until the workers are done. Atomics.wait is allowed on Node's main thread; in
// a browser it is not, so there the engine runs in a Web Worker (web/engine-worker.ts).
//
// Protocol: a job is one step of the generation counter GEN (arguments, kernel and DONE = 0 are
// stored first, then GEN is incremented, then the workers are notified). A worker runs each
// generation exactly once and then waits until GEN differs from the one it ran: a wake-up by
// itself is not a job, because the notify for generation k can reach a worker that has already
// seen k, run its share and gone back to waiting on k (bindings/wasm/worker.js explains how;
// test/determinism.test.ts injects such wake-ups). Each worker then adds 1 to DONE, and the
// call returns once DONE = threads - 1, so every write of the job is visible after it.
//
// A browser starts a worker only when the thread that created it returns to its event loop, so a
// job published before then would wait forever: `ready` resolves once every worker runs, and
// createWasmBackend awaits it. (Node's workers start by themselves; a worker that starts late
// still sees generation 1, so a pool used at once, as `new WasmBackend()` does, works there.)
//
// Kernel ABI (kernels/as/*.ts): every exported kernel is `name(...args, tid: i32, nthreads: i32)`
// and splits its own work by tid. Pointers are byte offsets into the shared memory.
import { host } from '#host';
import type { KernelWorker } from '../host/host.ts';
import { Waiter } from './worker_loop.js';

// control block (Int32 slots)
const GEN = 0, KERNEL = 1, NTHREADS = 2, DONE = 3, ERROR = 4, ARGC = 5;
const MAX_ARGS = 32;
/**
 * The most polls of the control block before a thread sleeps (worker_loop.js's Waiter: workers
 * waiting for a job, and the pool's thread waiting for DONE): about 0.17 ms here (AMD EPYC),
 * where a futex wake-up costs 30-50 us, more than many kernels. Only when every thread has a core
 * of its own: with more threads than cores a polling thread takes the core from one with work.
 */
const SPIN = 20000;

export class ThreadPool {
  private ctl: Int32Array;
  private argv: Float64Array;
  private workers: KernelWorker[] = [];
  /** resolves once every worker has instantiated the kernels and waits for jobs */
  readonly ready: Promise<void>;
  private ids = new Map<string, number>();
  private fns: ((...a: number[]) => void)[] = [];
  /** polls before sleeping (SPIN, or 0 with more threads than cores) */
  private readonly spin: number;
  /** how this thread waits for DONE (polls, then sleeps) */
  private readonly waiter: Waiter;
  /** whether threads poll for work before sleeping: a job then starts within microseconds */
  get polling(): boolean { return this.spin > 0; }
  /** when set, run() adds each call's wall-clock time here, by kernel name */
  timings: Map<string, { count: number; ms: number }> | null = null;

  constructor(readonly threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory,
    readonly exports: Record<string, unknown>) {
    const names = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
    names.forEach((n, i) => { this.ids.set(n, i); this.fns.push(exports[n] as (...a: number[]) => void); });
    this.spin = threads <= host.cores() ? SPIN : 0;
    this.waiter = new Waiter(this.spin);
    const control = new SharedArrayBuffer(8 * 4);
    const args = new SharedArrayBuffer(MAX_ARGS * 8);
    this.ctl = new Int32Array(control);
    this.argv = new Float64Array(args);
    for (let tid = 1; tid < threads; tid++) {
      this.workers.push(host.startKernelWorker({ module, memory, control, args, names, tid, spin: this.spin }));
    }
    this.ready = Promise.all(this.workers.map((w) => w.ready)).then(() => {});
    this.ready.catch(() => {}); // awaited by createWasmBackend; a synchronous user must not crash on it
  }

  /**
   * Runs kernel `name` with `args` on `parallel ? threads : 1` threads and returns when all are
   * done. Small jobs should pass parallel = false: a wake-up costs tens of microseconds.
   */
  run(name: string, args: number[], parallel = true): void {
    if (this.timings) {
      const t0 = performance.now();
      this.runKernel(name, args, parallel);
      const t = this.timings.get(name) ?? { count: 0, ms: 0 };
      t.count++; t.ms += performance.now() - t0;
      this.timings.set(name, t);
      return;
    }
    this.runKernel(name, args, parallel);
  }

  private runKernel(name: string, args: number[], parallel: boolean): void {
    const id = this.ids.get(name);
    if (id === undefined) throw new Error(`wasm backend: no kernel '${name}' in build/kernels.wasm (rebuild with npm run build)`);
    const n = parallel ? this.threads : 1;
    if (n === 1) { this.fns[id](...args, 0, 1); return; }
    if (args.length > MAX_ARGS) throw new Error(`wasm backend: ${name}: too many arguments`);
    this.argv.set(args);
    const ctl = this.ctl;
    Atomics.store(ctl, ARGC, args.length);
    Atomics.store(ctl, KERNEL, id);
    Atomics.store(ctl, NTHREADS, n);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, ERROR, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    // Even when the main thread's share throws, wait for the workers: the next job resets DONE,
    // and a worker still counting into it would make that job return early.
    let mainError: unknown = null;
    try { this.fns[id](...args, 0, n); } catch (e) { mainError = e; }
    // The workers usually finish within microseconds of this thread: poll, then sleep (Waiter).
    let done = Atomics.load(ctl, DONE);
    while (done < n - 1) done = this.waiter.until(ctl, DONE, done);
    if (mainError) throw mainError;
    if (Atomics.load(ctl, ERROR)) throw new Error(`wasm backend: kernel '${name}' failed in a worker (see stderr)`);
  }

  /**
   * Wakes every worker that is waiting for a job without publishing one: the wake-up a late
   * notify delivers (see the header). Workers must go back to waiting and run nothing; the
   * determinism tests call this to check that they do.
   */
  wakeIdleWorkers(): number {
    return Atomics.notify(this.ctl, GEN);
  }

  async destroy(): Promise<void> {
    Atomics.store(this.ctl, KERNEL, -1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

// The loop of one worker thread of the WASM backend's pool, shared by the Node worker
// (worker.js, worker_threads) and the browser's (worker_web.js, a Web Worker). Plain JS: it must
// start without a build step in Node. It instantiates the kernels module on the shared memory,
// says it is ready, then waits for work on the control block: each job is (kernel index,
// argument count, arguments); the worker calls kernel(...args, tid, nthreads) and counts itself
// done. See bindings/wasm/pool.ts.

/**
 * Runs the worker until the pool destroys it. `init` is bindings/host's KernelWorkerInit;
 * `ready()` is called once the kernels are instantiated, before the first wait.
 */
export function runKernelWorker({ module, memory, control, args, names, tid, spin }, ready) {
  const ctl = new Int32Array(control);
  const argv = new Float64Array(args);
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_m, _f, line, col) => { throw new Error(`wasm kernel abort at ${line}:${col}`); },
      seed: () => 0,
    },
  });
  const fns = names.map((n) => instance.exports[n]);
  ready();

  // Start from generation 0 (the pool publishes no job before creating its workers): a worker
  // that starts late then still sees the first job instead of waiting past it.
  //
  // A job is a new generation, never a wake-up. The pool bumps the generation, then notifies; a
  // worker that was not asleep sees the new generation at once, runs its share and waits again on
  // that same generation, and the notify can land only then (the main thread stalled in between:
  // preempted, or blocked on V8's process-wide futex lock). Taking that wake-up for a job ran the
  // job twice: accumulating outputs (beta = 1 matmuls, LoRA gradients) got this worker's share
  // twice, and its second DONE let the pool return while another worker was still writing.
  //
  // Waiting: a worker first polls GEN `spin` times (the pool's choice: see pool.ts) and only
  // then sleeps in Atomics.wait. A training step sends hundreds of jobs back to back, and waking a
  // sleeping thread costs tens of microseconds (the futex wake and the scheduler), more than a
  // small kernel itself; a polling worker sees the next job within a poll. After its polls
  // without work it sleeps, so an idle pool takes no CPU.
  let gen = 0;
  for (;;) {
    let next = Atomics.load(ctl, 0);
    for (let s = 0; next === gen && s < spin; s++) next = Atomics.load(ctl, 0);
    while (next === gen) { Atomics.wait(ctl, 0, gen); next = Atomics.load(ctl, 0); }
    gen = next;
    const id = Atomics.load(ctl, 1);
    if (id < 0) break;
    const n = Atomics.load(ctl, 2);
    if (tid < n) {
      try {
        const argc = Atomics.load(ctl, 5);
        const a = Array.from(argv.subarray(0, argc));
        fns[id](...a, tid, n);
      } catch (e) {
        Atomics.store(ctl, 4, 1);
        console.error(`wasm worker ${tid}: ${names[id]}: ${e && e.stack || e}`);
      }
      Atomics.add(ctl, 3, 1);
      Atomics.notify(ctl, 3);
    }
  }
}

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
  // Waiting for the next generation: see Waiter.
  const waiter = new Waiter(spin);
  let gen = 0;
  for (;;) {
    const next = waiter.until(ctl, 0, gen);
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

/**
 * Waits until a slot of the control block differs from a value: polls it first, then sleeps in
 * Atomics.wait. A training step sends hundreds of jobs back to back, and waking a sleeping thread
 * costs tens of microseconds (the futex wake and the scheduler), more than many kernels; a polling
 * thread sees the change within a poll. The number of polls adapts: it halves each time polling
 * fails (the thread had to sleep anyway), down to max / 64, and doubles back, up to `max`, each
 * time it succeeds.
 * On a machine busier than its cores the thread being waited for is often not running, polls
 * fail, and the waiter soon polls only briefly, as a polling thread would otherwise take CPU
 * time that the other threads need. max 0: never poll.
 */
export class Waiter {
  /** @param {number} max */
  constructor(max) {
    this.max = max;
    this.budget = max;
    // never below 1/64 of max: from 0 polls (or a few) a waiter would seldom succeed again, and
    // on a quiet machine it would sleep for good
    this.min = max >> 6;
  }

  /**
   * The slot's value once it is not `value`.
   * @param {Int32Array} ctl
   * @param {number} slot
   * @param {number} value
   * @returns {number}
   */
  until(ctl, slot, value) {
    let v = Atomics.load(ctl, slot);
    for (let s = 0; v === value && s < this.budget; s++) v = Atomics.load(ctl, slot);
    if (v !== value) {
      if (this.budget < this.max) this.budget = Math.min(this.max, 2 * this.budget + 1);
      return v;
    }
    this.budget = Math.max(this.budget >> 1, this.min);
    while (v === value) {
      Atomics.wait(ctl, slot, value);
      v = Atomics.load(ctl, slot);
    }
    return v;
  }
}

// Waiting for webgpu.h futures without blocking Node for long. Every asynchronous call is made
// with CallbackMode_WaitAnyOnly; its future goes into one of two lists, which one poller serves:
// - queue-timeline futures (buffer maps, submitted work): with timed waits (the instance was
//   created with InstanceFeatureName_TimedWaitAny), wgpuInstanceWaitAny sleeps in slices of
//   SLICE_NS, so a result is seen as soon as the GPU is done, without spinning, and the event loop
//   runs between slices; without timed waits they are polled like the others.
// - CPU-timeline futures (error scopes, compilation info): polled with a zero timeout (the header
//   forbids mixing them with queue futures in a timed wait); they complete at once in practice.
// Each poll also runs wgpuInstanceProcessEvents, which delivers device loss.
import { FutureWaitInfo, WaitStatus } from './header.ts';
import type { WebGPULibrary } from './library.ts';

const SLICE_NS = 2_000_000n;
/** polls within this time of the first use setImmediate; later ones back off to timers */
const EAGER_MS = 1;

interface Waiter { future: bigint; resolve: () => void; reject: (e: Error) => void; what: string }

export class Poller {
  private queue: Waiter[] = [];
  private cpu: Waiter[] = [];
  private scheduled = false;
  private since = 0;
  private closed = false;

  constructor(private lib: WebGPULibrary, private instance: bigint, readonly timed: boolean) {}

  /** Resolves when the queue-timeline future completes (its callback has run by then). */
  waitQueue(future: bigint, what: string): Promise<void> { return this.add(this.queue, future, what); }
  /** Resolves when the CPU-timeline future completes (its callback has run by then). */
  waitCpu(future: bigint, what: string): Promise<void> { return this.add(this.cpu, future, what); }

  /** Delivers AllowProcessEvents callbacks (device loss) now. */
  processEvents(): void {
    if (!this.closed) this.lib.fn.wgpuInstanceProcessEvents(this.instance);
  }

  get pending(): number { return this.queue.length + this.cpu.length; }

  /** Fails every waiter (the instance is going away). */
  close(reason: string): void {
    this.closed = true;
    for (const w of [...this.queue, ...this.cpu]) w.reject(new Error(`${w.what}: ${reason}`));
    this.queue = [];
    this.cpu = [];
  }

  private add(list: Waiter[], future: bigint, what: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${what}: the WebGPU device was destroyed`));
    return new Promise((resolve, reject) => {
      list.push({ future, resolve, reject, what });
      this.schedule(true);
    });
  }

  private schedule(fresh = false): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    if (fresh) this.since = performance.now();
    const blocking = this.timed && this.queue.length > 0 && this.cpu.length === 0;
    if (blocking || performance.now() - this.since < EAGER_MS) setImmediate(() => this.poll());
    else setTimeout(() => this.poll(), 1);
  }

  private poll(): void {
    this.scheduled = false;
    if (this.closed) return;
    try {
      this.processEvents();
      if (this.cpu.length) this.cpu = this.waitAny(this.cpu, 0n);
      if (this.queue.length) this.queue = this.waitAny(this.queue, this.timed && this.cpu.length === 0 ? SLICE_NS : 0n);
    } catch (e) {
      this.close((e as Error).message);
      return;
    }
    if (this.pending) this.schedule();
  }

  /** One wgpuInstanceWaitAny over `list`; resolves the completed ones and returns the rest. */
  private waitAny(list: Waiter[], timeoutNS: bigint): Waiter[] {
    const stride = FutureWaitInfo.size, done = FutureWaitInfo.at.completed;
    const infos = Buffer.alloc(stride * list.length);
    list.forEach((w, i) => infos.writeBigUInt64LE(w.future, i * stride));
    const status = Number(this.lib.fn.wgpuInstanceWaitAny(this.instance, list.length, infos, timeoutNS));
    if (status === WaitStatus.TimedOut) return list;
    if (status !== WaitStatus.Success) {
      throw new Error(`wgpuInstanceWaitAny failed (status ${status}) waiting for ${[...new Set(list.map((w) => w.what))].join(', ')}`);
    }
    const rest: Waiter[] = [];
    list.forEach((w, i) => {
      if (infos.readUInt32LE(i * stride + done)) w.resolve(); else rest.push(w);
    });
    return rest;
  }
}

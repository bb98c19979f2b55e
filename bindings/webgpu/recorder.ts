// The queue side of the WebGPU backend. Ops are recorded into a command encoder (consecutive
// dispatches share a compute pass; with timing on, each gets its own pass for its timestamps)
// that is submitted on read()/sync(), before a write() (so queue writes stay in program order),
// and every MAX_BATCH dispatches (1024: a training step of the small models is a few submits). Each dispatch's parameters go into its own 256-byte slot of one
// uniform buffer; the slots are uploaded with writeBuffer just before the submit that uses them,
// which the queue orders before that submit's commands.
import type { GpuPort, PortBuffer, PortEncoder, PortKernel, PortPass, PortQuerySet } from './port.ts';

const SLOT = 256; // minUniformBufferOffsetAlignment is at most 256
export const MAX_BATCH = 1024;

/** Parameter word types of a uniform struct: u32, i32, f32. */
type Word = 'u' | 'i' | 'f';

export interface RecorderOptions {
  /** record GPU timestamps per dispatch (when the device has timestamp-query) */
  timing: boolean;
  /** called after every submit (buffers freed meanwhile can be destroyed now) */
  afterSubmit: () => void;
}

/**
 * For a profiler (engine/profile/profiler.ts): `tag` is attached to each dispatch recorded while
 * it is set; with timing on, `onTime` gets every timed dispatch with its tag, its GPU timestamps
 * (ns) and the CPU time (performance.now(), ms) of the submit that carried it.
 */
export interface DispatchHooks {
  tag: unknown;
  onTime: ((label: string, tag: unknown, beginNs: bigint, endNs: bigint, submitMs: number) => void) | null;
}

export class Recorder implements DispatchHooks {
  tag: unknown = null;
  onTime: DispatchHooks['onTime'] = null;
  private batchTags: unknown[] = [];
  private encoder: PortEncoder | null = null;
  private pass: PortPass | null = null;
  private batchLabels: string[] = [];
  /** each dispatch as error messages name it (the backend's op with its sizes), beside the timing labels */
  private batchOps: string[] = [];
  private uniformCpu = new ArrayBuffer(SLOT * MAX_BATCH);
  private uniformView = new DataView(this.uniformCpu);
  private uniformBytes = new Uint8Array(this.uniformCpu);
  private uniform: PortBuffer;
  private querySet: PortQuerySet | null = null;
  private queryResolve: PortBuffer | null = null;
  private pendingTimes: Promise<void>[] = [];
  /** readback buffers kept between reads, by size (bytes, a power of two from 256) */
  private staging = new Map<number, PortBuffer[]>();
  private times = new Map<string, { count: number; ms: number }>();

  constructor(private port: GpuPort, private opts: RecorderOptions) {
    this.uniform = port.createBuffer('uniforms', SLOT * MAX_BATCH, 'uniform');
    if (opts.timing && port.features.includes('timestamp-query')) {
      this.querySet = port.createQuerySet(2 * MAX_BATCH);
      this.queryResolve = port.createBuffer('timestamps', 16 * MAX_BATCH, 'query-resolve');
    }
  }

  /** Whether commands are recorded but not submitted. */
  get recording(): boolean { return this.encoder !== null; }
  get timingEnabled(): boolean { return this.querySet !== null; }

  /** Records one dispatch of `kernel` with its parameter words in a fresh uniform slot. */
  dispatch(label: string, kernel: PortKernel, types: string, words: readonly number[], buffers: readonly PortBuffer[],
    grid: readonly [number, number, number], op = label): void {
    if (this.batchLabels.length >= MAX_BATCH) this.flush();
    const slot = this.batchLabels.length;
    const base = slot * SLOT;
    for (let i = 0; i < words.length; i++) {
      const t = types[i] as Word, o = base + 4 * i;
      if (t === 'f') this.uniformView.setFloat32(o, words[i], true);
      else if (t === 'i') this.uniformView.setInt32(o, words[i], true);
      else this.uniformView.setUint32(o, words[i] >>> 0, true);
    }
    const bindings = [{ buffer: this.uniform, offset: base, size: SLOT }, ...buffers.map((buffer) => ({ buffer }))];
    let pass: PortPass;
    if (this.querySet) {
      // timestamps are per pass: one pass per dispatch
      pass = this.encoderOutsidePass().beginComputePass(label, { querySet: this.querySet, beginIndex: 2 * slot, endIndex: 2 * slot + 1 });
    } else {
      // consecutive dispatches share a pass (WebGPU orders their storage accesses); a copy
      // or a submit ends it
      this.encoder ??= this.port.createEncoder();
      this.pass ??= this.encoder.beginComputePass('ops');
      pass = this.pass;
    }
    // No error scope here (it would double the recording cost): a bad bind group invalidates
    // the encoder, so the scoped submit reports it with this batch's kernel names.
    pass.dispatch(kernel, bindings, grid[0], grid[1], grid[2], label);
    if (this.querySet) pass.end();
    this.batchLabels.push(label);
    this.batchOps.push(op);
    this.batchTags.push(this.tag);
  }

  /** Records a buffer-to-buffer copy (bytes). */
  copy(src: PortBuffer, srcOffset: number, dst: PortBuffer, dstOffset: number, bytes: number): void {
    this.encoderOutsidePass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Uploads now, after submitting what was recorded before it (program order). */
  write(dst: PortBuffer, offset: number, data: ArrayBufferView): void {
    this.flush();
    this.port.writeBuffer(dst, offset, data);
  }

  /** Downloads `bytes` from `src` at byte `offset`, after everything recorded before. */
  async read(src: PortBuffer, offset: number, bytes: number, what = 'read'): Promise<ArrayBuffer> {
    // staging buffers are reused (mapRead unmaps): reads create no buffer once warm
    const size = Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(4, bytes))));
    const staging = this.staging.get(size)?.pop() ?? this.port.createBuffer('read staging', size, 'readback');
    let reusable = false;
    try {
      if (bytes > 0) this.copy(src, offset, staging, 0, bytes);
      this.flush();
      const data = await this.settle(this.port.mapRead(staging, Math.max(4, bytes)), what);
      reusable = true;
      return data.slice(0, bytes);
    } finally {
      // a failed map leaves the buffer in an unknown state: it goes
      if (reusable) {
        const free = this.staging.get(size) ?? [];
        free.push(staging);
        this.staging.set(size, free);
      } else {
        this.port.destroyBuffer(staging);
      }
    }
  }

  async sync(): Promise<void> {
    this.flush();
    await this.settle(this.port.workDone(), 'sync');
  }

  /** Submit what has been recorded (uniform slots first, then the commands). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const enc = this.encoder;
    const labels = this.batchLabels, ops = [...new Set(this.batchOps)], tags = this.batchTags;
    this.encoder = null;
    this.batchLabels = [];
    this.batchOps = [];
    this.batchTags = [];
    let readback: PortBuffer | null = null;
    if (this.querySet && this.queryResolve && labels.length) {
      enc.resolveQuerySet(this.querySet, 0, 2 * labels.length, this.queryResolve, 0);
      readback = this.port.createBuffer('timestamp readback', 16 * labels.length, 'readback');
      enc.copyBufferToBuffer(this.queryResolve, 0, readback, 0, 16 * labels.length);
    }
    const what = ops.length ? `submit of [${ops.length > 12 ? `${ops.slice(0, 12).join(', ')} and ${ops.length - 12} more` : ops.join(', ')}]` : 'submit of copies';
    const submitMs = performance.now();
    this.port.scoped(what, () => {
      if (labels.length) this.port.writeBuffer(this.uniform, 0, this.uniformBytes, labels.length * SLOT);
      this.port.submit(enc.finish());
    });
    this.opts.afterSubmit();
    if (readback) this.pendingTimes.push(this.collectTimes(readback, labels, tags, submitMs));
  }

  /** GPU time per kernel name, summed over dispatches (empty unless timing is on). */
  kernelTimes(): Map<string, { count: number; ms: number }> {
    return new Map([...this.times].map(([k, v]) => [k, { ...v }]));
  }

  /** Submits, waits for the queue and for pending timestamp reads (errors ignored: shutting down). */
  async drain(): Promise<void> {
    this.flush();
    await this.port.workDone();
    await Promise.allSettled(this.pendingTimes);
    this.pendingTimes = [];
  }

  /** Destroys the readback buffers kept for later reads (they are made again when needed). */
  releaseStaging(): void {
    for (const list of this.staging.values()) for (const b of list) this.port.destroyBuffer(b);
    this.staging.clear();
  }

  /** Releases the recorder's own GPU objects (after drain). */
  destroy(): void {
    this.port.destroyBuffer(this.uniform);
    this.releaseStaging();
    if (this.querySet) this.port.destroyQuerySet(this.querySet);
    if (this.queryResolve) this.port.destroyBuffer(this.queryResolve);
    this.querySet = null;
    this.queryResolve = null;
  }

  /** The open command encoder, outside any compute pass (for copies and timed passes). */
  private encoderOutsidePass(): PortEncoder {
    this.endPass();
    this.encoder ??= this.port.createEncoder();
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private async collectTimes(buf: PortBuffer, labels: string[], tags: unknown[], submitMs: number): Promise<void> {
    try {
      const t = new BigUint64Array(await this.port.mapRead(buf, 16 * labels.length));
      for (let i = 0; i < labels.length; i++) {
        const ns = Number(t[2 * i + 1] - t[2 * i]);
        const e = this.times.get(labels[i]) ?? { count: 0, ms: 0 };
        e.count++;
        e.ms += ns > 0 ? ns / 1e6 : 0;
        this.times.set(labels[i], e);
        this.onTime?.(labels[i], tags[i], t[2 * i], t[2 * i + 1], submitMs);
      }
    } finally {
      this.port.destroyBuffer(buf);
    }
  }

  /**
   * Await `p`, then surface what went wrong meanwhile: a scoped error (it names the kernels)
   * first, else an error that escaped the scopes, else device loss.
   */
  private async settle<T>(p: Promise<T>, what: string): Promise<T> {
    let out: T | undefined, failed: unknown = null;
    try { out = await p; } catch (e) { failed = e; }
    const times = this.pendingTimes;
    this.pendingTimes = [];
    await Promise.allSettled(times);
    let scoped: unknown = null;
    try { await this.port.checkScopes(); } catch (e) { scoped = e; }
    const other = this.port.failure();
    // an invalid object (uncaptured at creation) usually makes the scoped submit fail too: one report with both
    if (scoped && other) throw new Error(`${(scoped as Error).message}\ncaused by: ${other.message}`);
    if (scoped) throw scoped;
    // device loss: say what was being waited for
    if (other) throw other === this.port.lostError() ? new Error(`${other.message} (while waiting for ${what})`, { cause: other }) : other;
    if (failed) throw failed;
    return out as T;
  }
}

// The WebGPU backend: hand-written WGSL kernels (kernels/wgsl/<op>.wgsl) over a dawn.node device.
// Ops are recorded into a command encoder (consecutive dispatches share a compute pass; with
// timing on, each gets its own pass for its timestamps) that is submitted on read()/sync(),
// before a write() (so queue writes stay in program order), and every MAX_BATCH dispatches. Each dispatch's parameters go into its own 256-byte slot of one uniform
// buffer; the slots are uploaded with queue.writeBuffer just before the submit that uses them,
// which the queue orders before that submit's commands.
import { existsSync, readFileSync } from 'node:fs';
import type {
  AdamWParams, AttentionDims, Backend, BufferHandle, DType, LoraDims, MatmulParams,
} from '../../engine/backend.ts';
import { f32ToF16Bits } from '../../engine/io/dtype.ts';
import type { WebGPUBackendOptions } from './options.ts';
import { describeAdapter, openDevice, type GPUContext } from './provider.ts';

export type { WebGPUBackendOptions } from './options.ts';

interface GpuBuffer extends BufferHandle {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

/** Parameter word types of a uniform struct: u32, i32, f32. */
type Word = 'u' | 'i' | 'f';

interface Kernel {
  /** kernels/wgsl/<file>.wgsl */
  file: string;
  entry: string;
  /** per storage binding 1..n: 'r' read-only, 'w' read_write */
  access: string;
  overrides?: Record<string, number>;
}

// kernels/wgsl relative to this file, or to dist/ when bundled by esbuild
const KERNEL_DIR = existsSync(new URL('../../kernels/wgsl/matmul.wgsl', import.meta.url)) ? '../../kernels/wgsl/' : '../kernels/wgsl/';
const SLOT = 256; // minUniformBufferOffsetAlignment is at most 256
const MAX_BATCH = 256;
const WG = 256; // invocations per workgroup of the 1D kernels
const MAX_HD = 128; // private arrays in attention.wgsl
const SUM_PARTS = 256; // stage-1 workgroups of sum_squares

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly description: string;
  readonly features: string[];
  private ctx: GPUContext;
  private device: GPUDevice;
  private maxGroups: number;
  /** key/query rows per streamed tile in attention.wgsl: 2 tiles of KT x 128 f32 must fit */
  private attentionTile: number;
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchLabels: string[] = [];
  private uniformCpu = new ArrayBuffer(SLOT * MAX_BATCH);
  private uniformView = new DataView(this.uniformCpu);
  private uniform: GPUBuffer;
  private dummy: GpuBuffer;
  private sumParts: GpuBuffer;
  private scratch = new Map<string, GpuBuffer>();
  private live = new Set<GPUBuffer>();
  private internal = new Set<GPUBuffer>();
  private liveBytes = 0;
  private toDestroy: GPUBuffer[] = [];
  private destroyed = false;
  // timing
  private querySet: GPUQuerySet | null = null;
  private queryResolve: GPUBuffer | null = null;
  private pendingTimes: Promise<void>[] = [];
  private times = new Map<string, { count: number; ms: number }>();

  constructor(ctx: GPUContext, opts: WebGPUBackendOptions) {
    this.ctx = ctx;
    this.device = ctx.device;
    this.features = ctx.features;
    this.maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    this.attentionTile = opts.attentionTile ?? (this.device.limits.maxComputeWorkgroupStorageSize >= 2 * 16 * MAX_HD * 4 + 256 ? 16 : 8);
    this.description = `WebGPU: ${describeAdapter(ctx.info)} [${ctx.features.join(', ') || 'no optional features'}]`;
    this.uniform = this.device.createBuffer({ label: 'uniforms', size: SLOT * MAX_BATCH, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.dummy = this.allocBytes(16, 'dummy', true);
    this.sumParts = this.allocBytes(SUM_PARTS * 4, 'sum_squares partials', true);
    if (opts.timing && ctx.features.includes('timestamp-query')) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_BATCH });
      this.queryResolve = this.device.createBuffer({ size: 16 * MAX_BATCH, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    }
  }

  // ---- memory ------------------------------------------------------------------------------
  /** internal: the backend's own buffers, not counted in bytesInUse */
  private allocBytes(bytes: number, label: string, internal = false): GpuBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    if (size > maxBinding && size <= this.device.limits.maxBufferSize) {
      // it could be created, but no kernel could bind it: fail here, where the cause is clear
      throw new Error(`webgpu backend: alloc(${label}) needs ${size} bytes, above this adapter's maxStorageBufferBindingSize (${maxBinding})`);
    }
    // WebGPU zero-initialises every new buffer, which is the zero fill alloc() promises.
    const buffer = this.ctx.scoped(`alloc(${label}, ${size} bytes)`, () => this.device.createBuffer({
      label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    }));
    if (internal) {
      this.internal.add(buffer);
    } else {
      this.live.add(buffer);
      this.liveBytes += size;
    }
    return { buffer, bytes: size };
  }

  /** Destroy now, or after the next submit when recorded-but-unsubmitted work may use it. */
  private release(b: GPUBuffer): void {
    if (this.encoder) this.toDestroy.push(b); else b.destroy();
  }

  alloc(dtype: DType, size: number): GpuBuffer {
    this.checkAlive();
    return this.allocBytes(size * 4, `${dtype}[${size}]`);
  }

  free(buf: BufferHandle): void {
    const b = (buf as GpuBuffer).buffer;
    if (!this.live.delete(b)) return;
    this.liveBytes -= b.size;
    this.release(b);
  }

  bytesInUse(): number { return this.liveBytes; }

  write(buf: BufferHandle, data: Float32Array | Int32Array, offset = 0): void {
    this.checkAlive();
    const b = buf as GpuBuffer;
    if ((offset + data.length) * 4 > b.bytes) throw new Error(`webgpu backend: write of ${data.length} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    this.flush();
    this.device.queue.writeBuffer(b.buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(buf: BufferHandle, dtype: DType, size: number, offset = 0): Promise<Float32Array | Int32Array> {
    this.checkAlive();
    const b = buf as GpuBuffer;
    if ((offset + size) * 4 > b.bytes) throw new Error(`webgpu backend: read of ${size} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    const bytes = Math.max(4, size * 4);
    const staging = this.device.createBuffer({ label: 'read staging', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (size > 0) this.encoderFor('read').copyBufferToBuffer(b.buffer, offset * 4, staging, 0, size * 4);
    this.flush();
    try {
      await this.settle(staging.mapAsync(GPUMapMode.READ));
      const copy = staging.getMappedRange(0, bytes).slice(0, size * 4);
      staging.unmap();
      return dtype === 'i32' ? new Int32Array(copy) : new Float32Array(copy);
    } finally {
      staging.destroy();
    }
  }

  copy(dst: BufferHandle, src: BufferHandle, n: number, dstOffset = 0, srcOffset = 0): void {
    this.checkAlive();
    const d = dst as GpuBuffer, s = src as GpuBuffer;
    if ((dstOffset + n) * 4 > d.bytes || (srcOffset + n) * 4 > s.bytes) throw new Error('webgpu backend: copy out of bounds');
    if (n === 0) return;
    if (d.buffer === s.buffer) {
      // copyBufferToBuffer forbids a buffer as its own source and destination: bounce via scratch
      const tmp = this.scratchBuffer('copy', n);
      this.encoderFor('copy').copyBufferToBuffer(s.buffer, srcOffset * 4, tmp.buffer, 0, n * 4);
      this.encoderFor('copy').copyBufferToBuffer(tmp.buffer, 0, d.buffer, dstOffset * 4, n * 4);
      return;
    }
    this.encoderFor('copy').copyBufferToBuffer(s.buffer, srcOffset * 4, d.buffer, dstOffset * 4, n * 4);
  }

  fill(buf: BufferHandle, value: number, n: number): void {
    this.elementwise('fill', n, [buf], 'w', [n, value, 0, 0]);
  }

  async sync(): Promise<void> {
    this.checkAlive();
    this.flush();
    await this.settle(this.device.queue.onSubmittedWorkDone());
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      this.flush();
      await this.device.queue.onSubmittedWorkDone();
      await Promise.allSettled(this.pendingTimes);
    } finally {
      this.destroyed = true;
      for (const b of this.live) b.destroy();
      for (const b of this.internal) b.destroy();
      this.internal.clear();
      for (const b of this.toDestroy) b.destroy();
      this.live.clear();
      this.toDestroy = [];
      this.uniform.destroy();
      this.querySet?.destroy();
      this.queryResolve?.destroy();
      this.ctx.destroy();
    }
  }

  /** GPU time per kernel name, summed over dispatches (empty unless created with timing). */
  kernelTimes(): Map<string, { count: number; ms: number }> {
    return new Map([...this.times].map(([k, v]) => [k, { ...v }]));
  }
  get timingEnabled(): boolean { return this.querySet !== null; }

  // ---- ops: kernels/wgsl/<op>.wgsl ----------------------------------------------------------
  matmul(c: BufferHandle, a: BufferHandle, b: BufferHandle, p: MatmulParams): void {
    if (p.M === 0 || p.N === 0) return;
    // vec4 loads need each operand's contiguous dimension to be a multiple of 4
    const aligned = (p.transA ? p.M : p.K) % 4 === 0 && (p.transB ? p.K : p.N) % 4 === 0;
    this.dispatch('matmul', { file: 'matmul', entry: aligned ? 'matmul_vec4' : 'matmul', access: 'wrr', overrides: { TRANS_A: +p.transA, TRANS_B: +p.transB } },
      'uuuff', [p.M, p.N, p.K, p.alpha, p.beta], [c, a, b], [Math.ceil(p.N / 64), Math.ceil(p.M / 64), 1]);
  }

  // ---- WebGPU-only: f16 storage for matmul's B (frozen weights), compute in f32 ------------
  /** Whether the device has shader-f16 (needed by the f16 methods below). */
  get hasF16(): boolean { return this.features.includes('shader-f16'); }

  /** A zero-filled buffer of `size` f16 elements. */
  allocF16(size: number): GpuBuffer {
    this.checkAlive();
    return this.allocBytes(size * 2, `f16[${size}]`);
  }

  /** Upload f32 values rounded to f16 (round to nearest even) into an allocF16 buffer. */
  writeF16(buf: BufferHandle, data: Float32Array): void {
    const b = buf as GpuBuffer;
    if (data.length * 2 > b.bytes) throw new Error(`webgpu backend: writeF16 of ${data.length} halves overflows ${b.bytes} bytes`);
    const half = new Uint16Array(Math.ceil(data.length / 2) * 2); // writeBuffer needs 4-byte multiples
    for (let i = 0; i < data.length; i++) half[i] = f32ToF16Bits(data[i]);
    this.flush();
    this.device.queue.writeBuffer(b.buffer, 0, half.buffer, 0, half.byteLength);
  }

  /** matmul with B an f16 buffer (same layouts and semantics as matmul). */
  matmulF16B(c: BufferHandle, a: BufferHandle, bHalf: BufferHandle, p: MatmulParams): void {
    if (!this.hasF16) throw new Error('webgpu backend: matmulF16B needs the shader-f16 feature, which this adapter lacks');
    if (p.M === 0 || p.N === 0) return;
    this.dispatch('matmul_f16b', { file: 'matmul_f16b', entry: 'matmul', access: 'wrr', overrides: { TRANS_A: +p.transA, TRANS_B: +p.transB } },
      'uuuff', [p.M, p.N, p.K, p.alpha, p.beta], [c, a, bHalf], [Math.ceil(p.N / 64), Math.ceil(p.M / 64), 1]);
  }

  loraForward(y: BufferHandle, u: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void {
    this.flatDispatch('lora_u', { file: 'lora', entry: 'lora_u', access: 'wrrr' }, 'uuuu', [d.T, d.inF, d.r, +!!mask],
      [u, x, a, mask ?? this.dummy], d.T * d.r);
    this.matmul(y, u, b, { M: d.T, N: d.outF, K: d.r, transA: false, transB: true, alpha: d.scale, beta: 1 });
  }

  loraBackward(dx: BufferHandle, dA: BufferHandle | null, dB: BufferHandle | null, du: BufferHandle,
    dy: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle, u: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void {
    this.matmul(du, dy, b, { M: d.T, N: d.r, K: d.outF, transA: false, transB: false, alpha: d.scale, beta: 0 });
    this.flatDispatch('lora_dx', { file: 'lora', entry: 'lora_dx', access: 'wrrr' }, 'uuuu', [d.T, d.inF, d.r, +!!mask],
      [dx, du, a, mask ?? this.dummy], d.T * d.inF);
    if (dB) this.matmul(dB, dy, u, { M: d.outF, N: d.r, K: d.T, transA: true, transB: false, alpha: d.scale, beta: 1 });
    if (dA) {
      this.flatDispatch('lora_da', { file: 'lora', entry: 'lora_da', access: 'wrrr' }, 'uuuu', [d.T, d.inF, d.r, +!!mask],
        [dA, du, x, mask ?? this.dummy], d.r * d.inF);
    }
  }

  dropoutMask(mask: BufferHandle, n: number, p: number, seed: number): void {
    this.flatDispatch('dropout_mask', { file: 'dropout', entry: 'dropout_mask', access: 'w' }, 'ufuf',
      [n, p, seed >>> 0, Math.fround(1 / Math.fround(1 - Math.fround(p)))], [mask], n);
  }

  embedding(out: BufferHandle, table: BufferHandle, ids: BufferHandle, N: number, D: number): void {
    this.flatDispatch('embedding', { file: 'embedding', entry: 'embedding', access: 'wrr' }, 'uuu', [N, D, 0], [out, table, ids], N * D);
  }
  embeddingBackward(dTable: BufferHandle, dOut: BufferHandle, ids: BufferHandle, N: number, D: number, V: number): void {
    this.flatDispatch('embedding_backward', { file: 'embedding', entry: 'embedding_backward', access: 'wrr' }, 'uuu', [N, D, V],
      [dTable, dOut, ids], D);
  }

  rmsnorm(out: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, rows: number, D: number, eps: number): void {
    this.rowDispatch('rmsnorm', { file: 'rmsnorm', entry: 'rmsnorm', access: 'wwrr', overrides: rowWorkgroup(D) }, 'uuf', [rows, D, eps], [out, rstd, x, w], rows);
  }
  rmsnormBackward(dx: BufferHandle, dw: BufferHandle | null, dy: BufferHandle, x: BufferHandle, w: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void {
    this.rowDispatch('rmsnorm_backward', { file: 'rmsnorm', entry: 'rmsnorm_backward', access: 'wrrrr', overrides: rowWorkgroup(D) }, 'uuf', [rows, D, 0],
      [dx, dy, x, w, rstd], rows);
    if (dw) {
      this.flatDispatch('rmsnorm_backward_weight', { file: 'rmsnorm', entry: 'rmsnorm_backward_weight', access: 'wrrrr' }, 'uuf',
        [rows, D, 0], [dw, dy, x, this.dummy, rstd], D);
    }
  }

  rope(x: BufferHandle, cos: BufferHandle, sin: BufferHandle, rows: number, T: number, H: number, hd: number,
    pos0: number, interleaved: boolean, inverse: boolean): void {
    this.flatDispatch('rope', { file: 'rope', entry: 'rope', access: 'wrr' }, 'uuuuuuu',
      [rows, T, H, hd, pos0, +interleaved, +inverse], [x, cos, sin], rows * H * (hd >> 1));
  }

  attention(out: BufferHandle, lse: BufferHandle, q: BufferHandle, k: BufferHandle, v: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.checkHeadDim(d.hd);
    this.dispatch('attention', { file: 'attention', entry: 'attention', access: 'wwrrrr', overrides: { KT: this.attentionTile, HD: d.hd } }, 'uuuuuuuf', attnWords(d),
      [out, lse, q, k, v, keyLen], [Math.ceil(d.Tq / 64), d.Hq, d.B]);
  }
  attentionBackward(dq: BufferHandle, dk: BufferHandle, dv: BufferHandle, dout: BufferHandle,
    q: BufferHandle, k: BufferHandle, v: BufferHandle, out: BufferHandle, lse: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.checkHeadDim(d.hd);
    const rows = d.B * d.Hq * d.Tq;
    const ld = this.scratchBuffer('attention lse+delta', 2 * rows);
    this.copy(ld, lse, rows);
    const kt = { KT: this.attentionTile, HD: d.hd };
    this.flatDispatch('attention_backward_delta', { file: 'attention', entry: 'attention_backward_delta', access: 'wrr', overrides: kt },
      'uuuuuuuf', attnWords(d), [ld, dout, out], rows);
    this.dispatch('attention_backward_dq', { file: 'attention', entry: 'attention_backward_dq', access: 'wrrrrrr', overrides: kt },
      'uuuuuuuf', attnWords(d), [dq, dout, q, k, v, ld, keyLen], [Math.ceil(d.Tq / 64), d.Hq, d.B]);
    this.dispatch('attention_backward_dkv', { file: 'attention', entry: 'attention_backward_dkv', access: 'wwrrrrrr', overrides: kt },
      'uuuuuuuf', attnWords(d), [dk, dv, dout, q, k, v, ld, keyLen], [Math.ceil(d.Tk / 64), d.Hkv, d.B]);
  }

  swiglu(out: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.flatDispatch('swiglu', { file: 'swiglu', entry: 'swiglu', access: 'wrr' }, 'u', [n], [out, gate, up], n);
  }
  swigluBackward(dGate: BufferHandle, dUp: BufferHandle, dOut: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.flatDispatch('swiglu_backward', { file: 'swiglu', entry: 'swiglu_backward', access: 'wwrrr' }, 'u', [n],
      [dGate, dUp, dOut, gate, up], n);
  }

  crossEntropy(loss: BufferHandle, lse: BufferHandle, logits: BufferHandle, labels: BufferHandle, N: number, V: number): void {
    this.rowDispatch('cross_entropy', { file: 'cross_entropy', entry: 'cross_entropy', access: 'wrrw', overrides: rowWorkgroup(V) }, 'uuf', [N, V, 0],
      [loss, logits, labels, lse], N);
  }
  crossEntropyBackward(dLogits: BufferHandle, logits: BufferHandle, lse: BufferHandle, labels: BufferHandle, N: number, V: number, scale: number): void {
    // elementwise from the saved lse: one invocation per logit
    this.flatDispatch('cross_entropy_backward', { file: 'cross_entropy', entry: 'cross_entropy_backward', access: 'wrrr' }, 'uuf',
      [N, V, scale], [dLogits, logits, labels, lse], N * V);
  }

  sumSquares(out: BufferHandle, x: BufferHandle, n: number): void {
    const parts = Math.max(1, Math.min(SUM_PARTS, Math.ceil(n / WG)));
    this.dispatch('sum_squares_partial', { file: 'sum_squares', entry: 'sum_squares_partial', access: 'wr' }, 'uu', [n, parts],
      [this.sumParts, x], [parts, 1, 1]);
    this.dispatch('sum_squares_finish', { file: 'sum_squares', entry: 'sum_squares_finish', access: 'wr' }, 'uu', [n, parts],
      [out, this.sumParts], [1, 1, 1]);
  }

  adamw(p: BufferHandle, g: BufferHandle, m: BufferHandle, v: BufferHandle, o: AdamWParams): void {
    this.flatDispatch('adamw', { file: 'adamw', entry: 'adamw', access: 'wrww' }, 'ufffffffff', adamwWords(o), [p, g, m, v], o.n);
  }

  axpy(y: BufferHandle, x: BufferHandle, alpha: number, n: number): void {
    if (same(y, x)) { this.scale(y, y, 1 + alpha, n); return; }
    this.elementwise('axpy', n, [y, x], 'wr', [n, alpha, 0, 0]);
  }
  scale(out: BufferHandle, x: BufferHandle, alpha: number, n: number): void {
    if (same(out, x)) this.elementwise('scale_inplace', n, [out], 'w', [n, alpha, 0, 0]);
    else this.elementwise('scale', n, [out, x], 'wr', [n, alpha, 0, 0]);
  }
  scaleByInverseNorm(out: BufferHandle, x: BufferHandle, s: BufferHandle, rho: number, eps: number, n: number): void {
    if (same(out, x)) this.elementwise('scale_by_inverse_norm_inplace', n, [out, this.dummy, s], 'wrr', [n, 0, rho, eps]);
    else this.elementwise('scale_by_inverse_norm', n, [out, x, s], 'wrr', [n, 0, rho, eps]);
  }

  // ---- dispatch machinery ------------------------------------------------------------------
  private elementwise(entry: string, n: number, bufs: BufferHandle[], access: string, words: number[]): void {
    this.flatDispatch(entry, { file: 'elementwise', entry, access }, 'ufff', words, bufs, n);
  }

  /** One invocation per item, WG per workgroup, on a 2D grid when one dimension is not enough. */
  private flatDispatch(label: string, k: Kernel, types: string, words: number[], bufs: BufferHandle[], items: number): void {
    if (items <= 0) return;
    this.rowDispatch(label, k, types, words, bufs, Math.ceil(items / WG));
  }

  /** `groups` workgroups, laid out 2D when they exceed maxComputeWorkgroupsPerDimension. */
  private rowDispatch(label: string, k: Kernel, types: string, words: number[], bufs: BufferHandle[], groups: number): void {
    if (groups <= 0) return;
    const x = Math.min(groups, this.maxGroups);
    this.dispatch(label, k, types, words, bufs, [x, Math.ceil(groups / x), 1]);
  }

  private dispatch(label: string, k: Kernel, types: string, words: number[], bufs: BufferHandle[], grid: [number, number, number]): void {
    this.checkAlive();
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    for (const g of grid) if (g > this.maxGroups) throw new Error(`webgpu backend: ${label} needs ${g} workgroups in one dimension (max ${this.maxGroups})`);
    if (bufs.length !== k.access.length) throw new Error(`webgpu backend: ${label} binds ${bufs.length} buffers, kernel has ${k.access.length}`);
    for (let i = 0; i < bufs.length; i++) {
      for (let j = i + 1; j < bufs.length; j++) {
        if (same(bufs[i], bufs[j]) && (k.access[i] === 'w' || k.access[j] === 'w') && bufs[i] !== this.dummy) {
          throw new Error(`webgpu backend: ${label} got the same buffer for bindings ${i + 1} and ${j + 1}, one of them written (aliasing is not supported)`);
        }
      }
    }
    const { pipeline, layout } = this.pipeline(label, k);
    if (this.batchLabels.length >= MAX_BATCH) this.flush();
    const slot = this.batchLabels.length;
    const base = slot * SLOT;
    for (let i = 0; i < words.length; i++) {
      const t = types[i] as Word, o = base + 4 * i;
      if (t === 'f') this.uniformView.setFloat32(o, words[i], true);
      else if (t === 'i') this.uniformView.setInt32(o, words[i], true);
      else this.uniformView.setUint32(o, words[i] >>> 0, true);
    }
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniform, offset: base, size: SLOT } }];
    bufs.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: (b as GpuBuffer).buffer } }));
    // No error scope here (it would double the recording cost): a bad bind group invalidates
    // the encoder, so the scoped submit reports it with this batch's kernel names.
    const bindGroup = this.device.createBindGroup({ label, layout, entries });
    let pass: GPUComputePassEncoder;
    if (this.querySet) {
      // timestamps are per pass: one pass per dispatch
      pass = this.encoderFor(label).beginComputePass({
        label, timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 },
      });
    } else {
      // consecutive dispatches share a pass (WebGPU orders their storage accesses); a copy
      // or a submit ends it
      this.encoder ??= this.device.createCommandEncoder();
      this.pass ??= this.encoder.beginComputePass();
      pass = this.pass;
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    if (this.querySet) pass.end();
    this.batchLabels.push(label);
  }

  /** The open command encoder, outside any compute pass (for copies and timed passes). */
  private encoderFor(_label: string): GPUCommandEncoder {
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submit what has been recorded (uniform slots first, then the commands). */
  private flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const enc = this.encoder;
    const labels = this.batchLabels;
    this.encoder = null;
    this.batchLabels = [];
    let readback: GPUBuffer | null = null;
    if (this.querySet && this.queryResolve && labels.length) {
      enc.resolveQuerySet(this.querySet, 0, 2 * labels.length, this.queryResolve, 0);
      readback = this.device.createBuffer({ size: 16 * labels.length, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(this.queryResolve, 0, readback, 0, 16 * labels.length);
    }
    const what = labels.length ? `submit of [${[...new Set(labels)].join(', ')}]` : 'submit of copies';
    this.ctx.scoped(what, () => {
      if (labels.length) this.device.queue.writeBuffer(this.uniform, 0, this.uniformCpu, 0, labels.length * SLOT);
      this.device.queue.submit([enc.finish()]);
    });
    for (const b of this.toDestroy) b.destroy();
    this.toDestroy = [];
    if (readback) this.pendingTimes.push(this.collectTimes(readback, labels));
  }

  private async collectTimes(buf: GPUBuffer, labels: string[]): Promise<void> {
    try {
      await buf.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(buf.getMappedRange().slice(0));
      buf.unmap();
      for (let i = 0; i < labels.length; i++) {
        const ns = Number(t[2 * i + 1] - t[2 * i]);
        const e = this.times.get(labels[i]) ?? { count: 0, ms: 0 };
        e.count++;
        e.ms += ns > 0 ? ns / 1e6 : 0;
        this.times.set(labels[i], e);
      }
    } finally {
      buf.destroy();
    }
  }

  /**
   * Await `p`, then surface what went wrong meanwhile: a scoped error (it names the kernels)
   * first, else an error that escaped the scopes, else device loss.
   */
  private async settle<T>(p: Promise<T>): Promise<T> {
    let out: T | undefined, failed: unknown = null;
    try { out = await p; } catch (e) { failed = e; }
    const times = this.pendingTimes;
    this.pendingTimes = [];
    await Promise.allSettled(times);
    let scoped: unknown = null;
    try { await this.ctx.checkScopes(); } catch (e) { scoped = e; }
    const other = this.ctx.failure();
    // an invalid object (uncaptured at creation) usually makes the scoped submit fail too: one report with both
    if (scoped && other) throw new Error(`${(scoped as Error).message}\ncaused by: ${other.message}`);
    if (scoped) throw scoped;
    if (other) throw other;
    if (failed) throw failed;
    return out as T;
  }

  private pipeline(label: string, k: Kernel): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = `${k.file}:${k.entry}:${k.access}:${JSON.stringify(k.overrides ?? {})}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(k.file);
    if (!module) {
      const code = kernelSource(k.file);
      module = this.ctx.scoped(`shader ${k.file}.wgsl`, () => this.device.createShaderModule({ label: k.file, code }));
      this.modules.set(k.file, module);
    }
    p = this.ctx.scoped(`pipeline ${k.file}.wgsl:${k.entry} (${label})`, () => {
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }];
      for (let i = 0; i < k.access.length; i++) {
        entries.push({ binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: k.access[i] === 'w' ? 'storage' : 'read-only-storage' } });
      }
      const layout = this.device.createBindGroupLayout({ label: `${k.entry} layout`, entries });
      const pipeline = this.device.createComputePipeline({
        label: `${k.file}:${k.entry}`,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module: module!, entryPoint: k.entry, constants: k.overrides },
      });
      return { pipeline, layout };
    });
    this.pipelines.set(key, p);
    return p;
  }

  /** A backend-owned buffer of at least n f32, reused across calls with the same purpose. */
  private scratchBuffer(purpose: string, n: number): GpuBuffer {
    const have = this.scratch.get(purpose);
    if (have && have.bytes >= n * 4) return have;
    if (have) { this.internal.delete(have.buffer); this.release(have.buffer); }
    const b = this.allocBytes(n * 4, purpose, true);
    this.scratch.set(purpose, b);
    return b;
  }

  private checkHeadDim(hd: number): void {
    if (hd > MAX_HD) throw new Error(`webgpu backend: attention supports head_dim <= ${MAX_HD}, got ${hd}`);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('webgpu backend: used after destroy()');
    const lost = this.ctx.lostError();
    if (lost) throw lost;
  }
}

/** WGSL source of a kernel file; `matmul_f16b` is matmul.wgsl with B stored as f16. */
function kernelSource(file: string): string {
  if (file === 'matmul_f16b') {
    const base = kernelSource('matmul');
    const marked = 'var<storage, read> B: array<f32>; // B element type';
    if (!base.includes(marked)) throw new Error('matmul.wgsl: the B declaration marker is missing');
    return `enable f16;\n${base.replace(marked, 'var<storage, read> B: array<f16>;')}`;
  }
  return readFileSync(new URL(`${KERNEL_DIR}${file}.wgsl`, import.meta.url), 'utf8');
}

function same(a: BufferHandle, b: BufferHandle): boolean {
  return (a as GpuBuffer).buffer === (b as GpuBuffer).buffer;
}

/** Invocations per row of the row-reduction kernels: about 4 elements each, 32..256, a power of two. */
function rowWorkgroup(len: number): { ROW_WG: number } {
  let wg = 32;
  while (wg < 256 && wg * 4 < len) wg *= 2;
  return { ROW_WG: wg };
}

/**
 * adamw.wgsl's Params: the constants formed in f64 here (JS numbers, as torch's Python floats and
 * kernels/as/adamw.ts) and rounded to f32 once when the uniform is written.
 */
function adamwWords(o: AdamWParams): number[] {
  return [o.n, 1 - o.lr * o.weightDecay, o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2,
    o.lr / o.biasCorrection1, Math.sqrt(o.biasCorrection2), o.eps];
}

function attnWords(d: AttentionDims): number[] {
  return [d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.hd, d.qPos0, d.scale];
}

export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const ctx = await openDevice();
  const backend = new WebGPUBackend(ctx, opts);
  if (!opts.quiet) console.log(backend.description);
  return backend;
}

// The WebGPU backend: the op table. Each Backend op maps to hand-written WGSL kernels
// (kernels/wgsl/<op>.wgsl) with its grid and parameter words; everything below the ops is shared
// machinery over a GPU port (port.ts), so the same table runs on every provider:
//   memory.ts    buffers, bytesInUse, deferred destruction
//   recorder.ts  command recording, uniform slots, submission, timestamps, error reporting
//   kernels.ts   WGSL sources and the pipeline cache
// Providers: the WebGPU JavaScript API (api_port.ts: dawn.node under Node, navigator.gpu in a
// browser; `createWebGPUBackend`) and any webgpu.h library over FFI (bindings/native,
// `createNativeBackend`).
import type {
  AdamWParams, AttentionDims, Backend, BufferHandle, DType, LoraDims, MatmulParams,
} from '../../engine/backend.ts';
import { f32ToF16Bits } from '../../engine/io/dtype.ts';
import { host } from '#host';
import { KernelCache, type Kernel } from './kernels.ts';
import { GpuMemory, type GpuBuffer } from './memory.ts';
import { describeAdapter, type GpuPort } from './port.ts';
import type { WebGPUBackendOptions } from './options.ts';
import { Recorder, type DispatchHooks } from './recorder.ts';

export type { GpuBuffer } from './memory.ts';
export type { WebGPUBackendOptions } from './options.ts';

const WG = 256; // invocations per workgroup of the 1D kernels
const MAX_HD = 128; // private arrays in attention.wgsl
const SUM_PARTS = 256; // stage-1 workgroups of sum_squares

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly description: string;
  readonly features: string[];
  /** the GPU port this backend runs on (a provider's device) */
  readonly port: GpuPort;
  private memory: GpuMemory;
  private recorder: Recorder;
  private kernels: KernelCache;
  private maxGroups: number;
  /** key/query rows per streamed tile in attention.wgsl: 2 tiles of KT x 128 f32 must fit */
  private attentionTile: number;
  private dummy: GpuBuffer;
  private sumParts: GpuBuffer;
  private destroyed = false;

  constructor(port: GpuPort, opts: WebGPUBackendOptions = {}) {
    this.port = port;
    this.features = [...port.features];
    this.maxGroups = port.limits.maxComputeWorkgroupsPerDimension;
    this.attentionTile = opts.attentionTile ?? (port.limits.maxComputeWorkgroupStorageSize >= 2 * 16 * MAX_HD * 4 + 256 ? 16 : 8);
    const via = port.provider === 'dawn.node' ? '' : ` via ${port.provider}`;
    this.description = `WebGPU${via}: ${describeAdapter(port.info)} [${this.features.join(', ') || 'no optional features'}]`;
    this.memory = new GpuMemory(port, () => this.recorder.recording);
    this.recorder = new Recorder(port, { timing: !!opts.timing, afterSubmit: () => this.memory.afterSubmit() });
    this.kernels = new KernelCache(port);
    this.dummy = this.memory.alloc(16, 'dummy', true);
    this.sumParts = this.memory.alloc(SUM_PARTS * 4, 'sum_squares partials', true);
  }

  // ---- memory ------------------------------------------------------------------------------
  alloc(dtype: DType, size: number): GpuBuffer {
    this.checkAlive(`alloc(${dtype}[${size}])`);
    return this.memory.alloc(size * 4, `${dtype}[${size}]`);
  }

  free(buf: BufferHandle): void {
    this.memory.free(buf as GpuBuffer);
  }

  bytesInUse(): number { return this.memory.bytesInUse(); }

  write(buf: BufferHandle, data: Float32Array | Int32Array, offset = 0): void {
    this.checkAlive(`write(${data.length} values)`);
    const b = buf as GpuBuffer;
    if ((offset + data.length) * 4 > b.bytes) throw new Error(`webgpu backend: write of ${data.length} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    this.recorder.write(b.buffer, offset * 4, data);
  }

  async read(buf: BufferHandle, dtype: DType, size: number, offset = 0): Promise<Float32Array | Int32Array> {
    this.checkAlive(`read(${size} values)`);
    const b = buf as GpuBuffer;
    if ((offset + size) * 4 > b.bytes) throw new Error(`webgpu backend: read of ${size} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    const copy = await this.recorder.read(b.buffer, offset * 4, size * 4, `read(${size} values)`);
    return dtype === 'i32' ? new Int32Array(copy) : new Float32Array(copy);
  }

  copy(dst: BufferHandle, src: BufferHandle, n: number, dstOffset = 0, srcOffset = 0): void {
    this.checkAlive(`copy(${n} values)`);
    const d = dst as GpuBuffer, s = src as GpuBuffer;
    if ((dstOffset + n) * 4 > d.bytes || (srcOffset + n) * 4 > s.bytes) throw new Error('webgpu backend: copy out of bounds');
    if (n === 0) return;
    if (d.buffer === s.buffer) {
      // copyBufferToBuffer forbids a buffer as its own source and destination: bounce via scratch
      const tmp = this.memory.scratchBuffer('copy', n);
      this.recorder.copy(s.buffer, srcOffset * 4, tmp.buffer, 0, n * 4);
      this.recorder.copy(tmp.buffer, 0, d.buffer, dstOffset * 4, n * 4);
      return;
    }
    this.recorder.copy(s.buffer, srcOffset * 4, d.buffer, dstOffset * 4, n * 4);
  }

  fill(buf: BufferHandle, value: number, n: number): void {
    this.elementwise('fill', n, [buf], 'w', [n, value, 0, 0]);
  }

  async sync(): Promise<void> {
    this.checkAlive('sync');
    await this.recorder.sync();
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.recorder.drain();
    } finally {
      this.destroyed = true;
      this.memory.destroyAll();
      this.recorder.destroy();
      this.port.destroy();
    }
  }

  /** Destroys the readback buffers kept between reads (a later read makes what it needs). */
  releaseStaging(): void { this.recorder.releaseStaging(); }

  /** GPU time per kernel name, summed over dispatches (empty unless created with timing). */
  kernelTimes(): Map<string, { count: number; ms: number }> { return this.recorder.kernelTimes(); }
  get timingEnabled(): boolean { return this.recorder.timingEnabled; }
  /** For a profiler: tag dispatches, and receive each timed dispatch's GPU timestamps. */
  get dispatchHooks(): DispatchHooks { return this.recorder; }

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
    this.checkAlive(`alloc(f16[${size}])`);
    return this.memory.alloc(size * 2, `f16[${size}]`);
  }

  /** Upload f32 values rounded to f16 (round to nearest even) into an allocF16 buffer. */
  writeF16(buf: BufferHandle, data: Float32Array): void {
    const b = buf as GpuBuffer;
    if (data.length * 2 > b.bytes) throw new Error(`webgpu backend: writeF16 of ${data.length} halves overflows ${b.bytes} bytes`);
    const half = new Uint16Array(Math.ceil(data.length / 2) * 2); // writeBuffer needs 4-byte multiples
    for (let i = 0; i < data.length; i++) half[i] = f32ToF16Bits(data[i]);
    this.checkAlive(`writeF16(${data.length} values)`);
    this.recorder.write(b.buffer, 0, half);
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

  dropoutMask(mask: BufferHandle, n: number, p: number, seed: number, rows?: { index: BufferHandle; width: number } | null): void {
    this.flatDispatch('dropout_mask', { file: 'dropout', entry: 'dropout_mask', access: 'wr' }, 'ufufuu',
      [n, p, seed >>> 0, Math.fround(1 / Math.fround(1 - Math.fround(p))), rows ? rows.width : 1, rows ? 1 : 0],
      [mask, rows ? rows.index : this.dummy], n);
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

  layernorm(out: BufferHandle, mean: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, b: BufferHandle,
    rows: number, D: number, eps: number): void {
    this.rowDispatch('layernorm', { file: 'layernorm', entry: 'layernorm', access: 'wwwrrr', overrides: rowWorkgroup(D) }, 'uuf',
      [rows, D, eps], [out, mean, rstd, x, w, b], rows);
  }
  layernormBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, w: BufferHandle, mean: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void {
    this.rowDispatch('layernorm_backward', { file: 'layernorm', entry: 'layernorm_backward', access: 'wrrrrr', overrides: rowWorkgroup(D) },
      'uuf', [rows, D, 0], [dx, dy, x, w, mean, rstd], rows);
  }

  rope(x: BufferHandle, cos: BufferHandle, sin: BufferHandle, rows: number, T: number, H: number, hd: number,
    pos0: number, interleaved: boolean, inverse: boolean): void {
    this.flatDispatch('rope', { file: 'rope', entry: 'rope', access: 'wrr' }, 'uuuuuuu',
      [rows, T, H, hd, pos0, +interleaved, +inverse], [x, cos, sin], rows * H * (hd >> 1));
  }

  attention(out: BufferHandle, lse: BufferHandle, q: BufferHandle, k: BufferHandle, v: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.checkHeadDim(d.hd);
    this.dispatch('attention', { file: 'attention', entry: 'attention', access: 'wwrrrr', overrides: { KT: this.attentionTile, HD: d.hd } }, 'uuuuuuufu', attnWords(d),
      [out, lse, q, k, v, keyLen], [Math.ceil(d.Tq / 64), d.Hq, d.B]);
  }
  attentionBackward(dq: BufferHandle, dk: BufferHandle, dv: BufferHandle, dout: BufferHandle,
    q: BufferHandle, k: BufferHandle, v: BufferHandle, out: BufferHandle, lse: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.checkHeadDim(d.hd);
    const rows = d.B * d.Hq * d.Tq;
    const ld = this.memory.scratchBuffer('attention lse+delta', 2 * rows);
    this.copy(ld, lse, rows);
    const kt = { KT: this.attentionTile, HD: d.hd };
    this.flatDispatch('attention_backward_delta', { file: 'attention', entry: 'attention_backward_delta', access: 'wrr', overrides: kt },
      'uuuuuuufu', attnWords(d), [ld, dout, out], rows);
    this.dispatch('attention_backward_dq', { file: 'attention', entry: 'attention_backward_dq', access: 'wrrrrrr', overrides: kt },
      'uuuuuuufu', attnWords(d), [dq, dout, q, k, v, ld, keyLen], [Math.ceil(d.Tq / 64), d.Hq, d.B]);
    this.dispatch('attention_backward_dkv', { file: 'attention', entry: 'attention_backward_dkv', access: 'wwrrrrrr', overrides: kt },
      'uuuuuuufu', attnWords(d), [dk, dv, dout, q, k, v, ld, keyLen], [Math.ceil(d.Tk / 64), d.Hkv, d.B]);
  }

  swiglu(out: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.flatDispatch('swiglu', { file: 'swiglu', entry: 'swiglu', access: 'wrr' }, 'u', [n], [out, gate, up], n);
  }
  swigluBackward(dGate: BufferHandle, dUp: BufferHandle, dOut: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.flatDispatch('swiglu_backward', { file: 'swiglu', entry: 'swiglu_backward', access: 'wwrrr' }, 'u', [n],
      [dGate, dUp, dOut, gate, up], n);
  }

  relu(out: BufferHandle, x: BufferHandle, n: number): void {
    this.flatDispatch('relu', { file: 'relu', entry: 'relu', access: 'wr' }, 'u', [n], [out, x], n);
  }
  reluBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, n: number): void {
    this.flatDispatch('relu_backward', { file: 'relu', entry: 'relu_backward', access: 'wrr' }, 'u', [n], [dx, dy, x], n);
  }

  biasAdd(y: BufferHandle, b: BufferHandle, rows: number, D: number): void {
    this.flatDispatch('bias_add', { file: 'bias_add', entry: 'bias_add', access: 'wr' }, 'uu', [rows, D], [y, b], rows * D);
  }

  crossEntropy(loss: BufferHandle, lse: BufferHandle, logits: BufferHandle, labels: BufferHandle, N: number, V: number): void {
    this.rowDispatch('cross_entropy', { file: 'cross_entropy', entry: 'cross_entropy', access: 'wrrw', overrides: rowWorkgroup(V) }, 'uuf', [N, V, 0],
      [loss, logits, labels, lse], N);
  }
  crossEntropyBackward(dLogits: BufferHandle, logits: BufferHandle, lse: BufferHandle, labels: BufferHandle, N: number, V: number, scale: number): void {
    // elementwise from the saved lse: one invocation per logit (in place: reading the logit it overwrites)
    const inPlace = same(dLogits, logits);
    const entry = inPlace ? 'cross_entropy_backward_inplace' : 'cross_entropy_backward';
    this.flatDispatch(entry, { file: 'cross_entropy', entry, access: 'wrrr' }, 'uuf',
      [N, V, scale], [dLogits, inPlace ? this.dummy : logits, labels, lse], N * V);
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
    // the op as error messages name it: the kernel and its buffers' sizes in 4-byte elements
    const op = `${label}(${bufs.map((b) => (b as GpuBuffer).bytes / 4).join(', ')})`;
    this.checkAlive(op);
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
    const kernel = this.kernels.get(label, k);
    this.recorder.dispatch(label, kernel, types, words, bufs.map((b) => (b as GpuBuffer).buffer), grid, op);
  }

  private checkHeadDim(hd: number): void {
    if (hd > MAX_HD) throw new Error(`webgpu backend: attention supports head_dim <= ${MAX_HD}, got ${hd}`);
  }

  /** `op`: what the caller asks for (with its sizes), named when the device is gone. */
  private checkAlive(op: string): void {
    if (this.destroyed) throw new Error('webgpu backend: used after destroy()');
    const lost = this.port.lostError();
    if (lost) throw new Error(`${lost.message} (asked for ${op})`, { cause: lost });
  }
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
  return [d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.hd, d.qPos0, d.scale, +!!d.skipPadQueries];
}

/**
 * The WebGPU backend on the host's WebGPU (bindings/host): dawn.node under Node (npm `webgpu`,
 * loaded on first use), navigator.gpu in a browser.
 */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const backend = new WebGPUBackend(await host.openGpu(), opts);
  if (!opts.quiet) console.log(backend.description);
  return backend;
}

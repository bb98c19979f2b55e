// The WebAssembly backend: AssemblyScript SIMD kernels (kernels/as) on a pool of worker
// threads over one shared memory. Buffers are byte offsets into that memory; ops run at once
// (synchronously), so read() and sync() resolve immediately.
//
// Each method below is the dispatch of one op: it names the kernel(s) in kernels/as/<op>.ts and
// passes pointers and sizes. Kernels take (…args, tid, nthreads) and split the work themselves.
import { host } from '#host';
import type {
  AdamWParams, AttentionDims, Backend, BufferHandle, DType, LoraDims, MatmulParams,
} from '../../engine/backend.ts';
import { Allocator } from './allocator.ts';
import { loadKernels, MAX_PAGES } from './loader.ts';
import { ThreadPool } from './pool.ts';

interface WasmBuffer extends BufferHandle {
  readonly ptr: number;
  readonly bytes: number;
}

export interface WasmBackendOptions {
  /** worker threads including the main one; default: the machine's cores (at most 8) */
  threads?: number;
  /**
   * Below this many multiply-adds (or elements) a kernel runs on the main thread alone. Default
   * 2^14 where the pool polls for work (threads <= cores: a job starts in 1-2 us), else 2^18
   * (waking sleeping workers costs tens of microseconds): see PARALLEL_MIN_WORK_*.
   */
  parallelMinWork?: number;
  /** time every kernel call (wall clock, summed per kernel name): see kernelTimes() */
  timing?: boolean;
}

// Work (elements, or M*N*K) from which a kernel runs on every thread. Waking sleeping workers
// costs 30-50 us, so without polling (more threads than cores: pool.ts) only big jobs pay; a
// polling pool starts a job in 1-2 us, and a job of 16K elements (5 us of the cheapest kernel,
// 40 us of swiglu, single-threaded) is then worth splitting.
const PARALLEL_MIN_WORK_POLLING = 1 << 14;
const PARALLEL_MIN_WORK_SLEEPING = 1 << 18;
const MAX_THREADS = 64;

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly description: string;
  private alloc_: Allocator;
  private pool: ThreadPool;
  private memory: WebAssembly.Memory;
  /** f64 partial sums of sumSquares, one per block of the input (grown on demand) */
  private partials = 0;
  private partialsCapacity = 0;
  private readonly sumBlock: number;
  /** kernels' scratch (kernels/as/common/scratch.ts): one slice per thread, for matmul's packed
   * panels and attention's transposed keys */
  private readonly scratch: number;
  /** bytes the backend holds for itself (the scratch above), left out of bytesInUse() */
  private reserved = 0;
  private readonly minWork: number;

  constructor(opts: WasmBackendOptions = {}) {
    const threads = opts.threads ?? Math.min(8, host.cores());
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new Error(`wasm backend: threads must be an integer from 1 to ${MAX_THREADS}, got ${opts.threads}`);
    }
    const { module, memory, instance, fma } = loadKernels();
    const exports = instance.exports as Record<string, unknown>;
    this.memory = memory;
    const heapBase = (exports.heap_base as () => number)();
    this.alloc_ = new Allocator(memory, heapBase, MAX_PAGES * 65536);
    this.pool = new ThreadPool(threads, module, memory, exports);
    this.sumBlock = (exports.sum_squares_block as () => number)();
    this.scratch = this.alloc_.alloc(threads * (exports.scratch_bytes as () => number)(), false);
    this.reserved = this.alloc_.bytesInUse();
    this.minWork = opts.parallelMinWork ?? (this.pool.polling ? PARALLEL_MIN_WORK_POLLING : PARALLEL_MIN_WORK_SLEEPING);
    if (opts.timing) this.pool.timings = new Map();
    this.description = `WebAssembly SIMD${fma ? ' + FMA' : ''}, ${threads} thread${threads > 1 ? 's' : ''}`;
  }

  get threads(): number { return this.pool.threads; }

  /** Wall-clock time per kernel name, summed over calls (empty unless created with timing). */
  kernelTimes(): Map<string, { count: number; ms: number }> { return new Map(this.pool.timings ?? []); }

  // ---- memory ------------------------------------------------------------------------------
  alloc(_dtype: DType, size: number, zero = true): WasmBuffer {
    const bytes = size * 4;
    return { ptr: this.alloc_.alloc(bytes, zero), bytes };
  }
  free(buf: BufferHandle): void { this.alloc_.release((buf as WasmBuffer).ptr); }
  bytesInUse(): number { return this.alloc_.bytesInUse() - this.reserved; }

  write(buf: BufferHandle, data: Float32Array | Int32Array, offset = 0): void {
    const b = buf as WasmBuffer;
    if ((offset + data.length) * 4 > b.bytes) throw new Error(`wasm backend: write of ${data.length} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    const view = data instanceof Int32Array ? new Int32Array(this.memory.buffer, b.ptr + offset * 4, data.length)
      : new Float32Array(this.memory.buffer, b.ptr + offset * 4, data.length);
    view.set(data as never);
  }
  async read(buf: BufferHandle, dtype: DType, size: number, offset = 0): Promise<Float32Array | Int32Array> {
    return this.readSync(buf, dtype, size, offset);
  }
  /** Synchronous read (WASM only): a copy of the buffer's contents. */
  readSync(buf: BufferHandle, dtype: DType, size: number, offset = 0): Float32Array | Int32Array {
    const b = buf as WasmBuffer;
    if ((offset + size) * 4 > b.bytes) throw new Error(`wasm backend: read of ${size} elements at ${offset} overflows a ${b.bytes / 4}-element buffer`);
    const start = b.ptr + offset * 4;
    return dtype === 'i32' ? new Int32Array(this.memory.buffer.slice(start, start + size * 4))
      : new Float32Array(this.memory.buffer.slice(start, start + size * 4));
  }
  copy(dst: BufferHandle, src: BufferHandle, n: number, dstOffset = 0, srcOffset = 0): void {
    const d = dst as WasmBuffer, s = src as WasmBuffer;
    if ((dstOffset + n) * 4 > d.bytes || (srcOffset + n) * 4 > s.bytes) throw new Error('wasm backend: copy out of bounds');
    new Uint8Array(this.memory.buffer).copyWithin(d.ptr + dstOffset * 4, s.ptr + srcOffset * 4, s.ptr + (srcOffset + n) * 4);
  }
  fill(buf: BufferHandle, value: number, n: number): void {
    this.pool.run('fill', [ptr(buf), value, n], n >= this.minWork);
  }
  async sync(): Promise<void> { /* ops are synchronous */ }
  async destroy(): Promise<void> { await this.pool.destroy(); }

  // ---- ops: kernels/as/<op>.ts ---------------------------------------------------------------
  matmul(c: BufferHandle, a: BufferHandle, b: BufferHandle, p: MatmulParams): void {
    this.pool.run('matmul', [ptr(c), ptr(a), ptr(b), p.M, p.N, p.K, +p.transA, +p.transB, p.alpha, p.beta, this.scratch],
      p.M * p.N * p.K >= this.minWork);
  }

  loraForward(y: BufferHandle, u: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void {
    // U = (X ∘ mask) A^T, Y += scale * U B^T in one dispatch (B transposed in the kernels' scratch)
    this.pool.run('lora_forward', [ptr(y), ptr(u), ptr(x), ptr(a), ptr(b), ptrOr0(mask), d.T, d.inF, d.outF, d.r, d.scale,
      this.scratch], d.T * (d.inF + d.outF) * d.r >= this.minWork);
  }

  loraBackward(dx: BufferHandle, dA: BufferHandle | null, dB: BufferHandle | null, du: BufferHandle,
    dy: BufferHandle, x: BufferHandle, a: BufferHandle, b: BufferHandle, u: BufferHandle,
    mask: BufferHandle | null, d: LoraDims): void {
    // dU = scale * dY B, dX += (dU A) ∘ mask: by rows
    this.pool.run('lora_backward_rows', [ptr(dx), ptr(du), ptr(dy), ptr(a), ptr(b), ptrOr0(mask), d.T, d.inF, d.outF, d.r, d.scale],
      d.T * (d.inF + d.outF) * d.r >= this.minWork);
    // dA += dU^T (X ∘ mask), dB += scale * dY^T U: sums over the rows, by columns of dA and rows of dB
    if (dA || dB) {
      this.pool.run('lora_backward_grads', [ptrOr0(dA), ptrOr0(dB), ptr(du), ptr(dy), ptr(x), ptr(u), ptrOr0(mask),
        d.T, d.inF, d.outF, d.r, d.scale], d.T * ((dA ? d.inF : 0) + (dB ? d.outF : 0)) * d.r >= this.minWork);
    }
  }

  dropoutMask(mask: BufferHandle, n: number, p: number, seed: number, rows?: { index: BufferHandle; width: number } | null): void {
    this.pool.run('dropout_mask', [ptr(mask), n, p, seed >>> 0, rows ? ptr(rows.index) : 0, rows ? rows.width : 1], n >= this.minWork);
  }

  embedding(out: BufferHandle, table: BufferHandle, ids: BufferHandle, N: number, D: number): void {
    this.pool.run('embedding', [ptr(out), ptr(table), ptr(ids), N, D], N * D >= this.minWork);
  }
  embeddingBackward(dTable: BufferHandle, dOut: BufferHandle, ids: BufferHandle, N: number, D: number, V: number): void {
    this.pool.run('embedding_backward', [ptr(dTable), ptr(dOut), ptr(ids), N, D, V], N * D >= this.minWork);
  }

  rmsnorm(out: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, rows: number, D: number, eps: number): void {
    this.pool.run('rmsnorm', [ptr(out), ptr(rstd), ptr(x), ptr(w), rows, D, eps], rows * D >= this.minWork);
  }
  rmsnormBackward(dx: BufferHandle, dw: BufferHandle | null, dy: BufferHandle, x: BufferHandle, w: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void {
    const par = rows * D >= this.minWork;
    this.pool.run('rmsnorm_backward', [ptr(dx), ptr(dy), ptr(x), ptr(w), ptr(rstd), rows, D], par);
    if (dw) this.pool.run('rmsnorm_backward_weight', [ptr(dw), ptr(dy), ptr(x), ptr(rstd), rows, D], par);
  }

  layernorm(out: BufferHandle, mean: BufferHandle, rstd: BufferHandle, x: BufferHandle, w: BufferHandle, b: BufferHandle,
    rows: number, D: number, eps: number): void {
    this.pool.run('layernorm', [ptr(out), ptr(mean), ptr(rstd), ptr(x), ptr(w), ptr(b), rows, D, eps], rows * D >= this.minWork);
  }
  layernormBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, w: BufferHandle, mean: BufferHandle,
    rstd: BufferHandle, rows: number, D: number): void {
    this.pool.run('layernorm_backward', [ptr(dx), ptr(dy), ptr(x), ptr(w), ptr(mean), ptr(rstd), rows, D], rows * D >= this.minWork);
  }

  rope(x: BufferHandle, cos: BufferHandle, sin: BufferHandle, rows: number, T: number, H: number, hd: number,
    pos0: number, interleaved: boolean, inverse: boolean): void {
    this.pool.run('rope', [ptr(x), ptr(cos), ptr(sin), rows, T, H, hd, pos0, +interleaved, +inverse],
      rows * H * hd >= this.minWork);
  }

  attention(out: BufferHandle, lse: BufferHandle, q: BufferHandle, k: BufferHandle, v: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.pool.run('attention', [ptr(out), ptr(lse), ptr(q), ptr(k), ptr(v), ptr(keyLen),
      d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.hd, d.qPos0, d.scale, +!!d.skipPadQueries, this.scratch], d.B * d.Hq * d.Tq * d.Tk * d.hd >= this.minWork);
  }
  attentionBackward(dq: BufferHandle, dk: BufferHandle, dv: BufferHandle, dout: BufferHandle,
    q: BufferHandle, k: BufferHandle, v: BufferHandle, out: BufferHandle, lse: BufferHandle,
    keyLen: BufferHandle, d: AttentionDims): void {
    this.pool.run('attention_backward', [ptr(dq), ptr(dk), ptr(dv), ptr(dout), ptr(q), ptr(k), ptr(v), ptr(out),
      ptr(lse), ptr(keyLen), d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.hd, d.qPos0, d.scale, +!!d.skipPadQueries, this.scratch],
      d.B * d.Hq * d.Tq * d.Tk * d.hd >= this.minWork);
  }

  swiglu(out: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.pool.run('swiglu', [ptr(out), ptr(gate), ptr(up), n], n >= this.minWork);
  }
  swigluBackward(dGate: BufferHandle, dUp: BufferHandle, dOut: BufferHandle, gate: BufferHandle, up: BufferHandle, n: number): void {
    this.pool.run('swiglu_backward', [ptr(dGate), ptr(dUp), ptr(dOut), ptr(gate), ptr(up), n], n >= this.minWork);
  }

  relu(out: BufferHandle, x: BufferHandle, n: number): void {
    this.pool.run('relu', [ptr(out), ptr(x), n], n >= this.minWork);
  }
  reluBackward(dx: BufferHandle, dy: BufferHandle, x: BufferHandle, n: number): void {
    this.pool.run('relu_backward', [ptr(dx), ptr(dy), ptr(x), n], n >= this.minWork);
  }

  biasAdd(y: BufferHandle, b: BufferHandle, rows: number, D: number): void {
    this.pool.run('bias_add', [ptr(y), ptr(b), rows, D], rows * D >= this.minWork);
  }

  crossEntropy(loss: BufferHandle, lse: BufferHandle, logits: BufferHandle, labels: BufferHandle, N: number, V: number): void {
    this.pool.run('cross_entropy', [ptr(loss), ptr(lse), ptr(logits), ptr(labels), N, V], N * V >= this.minWork);
  }
  crossEntropyBackward(dLogits: BufferHandle, logits: BufferHandle, lse: BufferHandle, labels: BufferHandle, N: number, V: number, scale: number): void {
    this.pool.run('cross_entropy_backward', [ptr(dLogits), ptr(logits), ptr(lse), ptr(labels), N, V, scale], N * V >= this.minWork);
  }

  sumSquares(out: BufferHandle, x: BufferHandle, n: number): void {
    // One f64 partial per block of sum_squares_block() elements, whichever thread computed it;
    // the main thread adds them in block order, so the result depends neither on timing nor on
    // the thread count.
    const blocks = Math.ceil(n / this.sumBlock);
    if (blocks > this.partialsCapacity) {
      const before = this.alloc_.bytesInUse();
      if (this.partials) this.alloc_.release(this.partials);
      this.partialsCapacity = Math.max(blocks, 2 * this.partialsCapacity, 64);
      this.partials = this.alloc_.alloc(8 * this.partialsCapacity);
      this.reserved += this.alloc_.bytesInUse() - before;
    }
    this.pool.run('sum_squares_partial', [this.partials, ptr(x), n], n >= this.minWork);
    const parts = new Float64Array(this.memory.buffer, this.partials, blocks);
    let s = 0;
    for (let i = 0; i < blocks; i++) s += parts[i];
    const o = new Float32Array(this.memory.buffer, ptr(out), 1);
    o[0] = o[0] + s;
  }

  adamw(p: BufferHandle, g: BufferHandle, m: BufferHandle, v: BufferHandle, o: AdamWParams): void {
    this.pool.run('adamw', [ptr(p), ptr(g), ptr(m), ptr(v), o.n, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay,
      o.biasCorrection1, o.biasCorrection2], o.n >= this.minWork);
  }

  axpy(y: BufferHandle, x: BufferHandle, alpha: number, n: number): void {
    this.pool.run('axpy', [ptr(y), ptr(x), alpha, n], n >= this.minWork);
  }
  scale(out: BufferHandle, x: BufferHandle, alpha: number, n: number): void {
    this.pool.run('scale', [ptr(out), ptr(x), alpha, n], n >= this.minWork);
  }
  scaleByInverseNorm(out: BufferHandle, x: BufferHandle, s: BufferHandle, rho: number, eps: number, n: number): void {
    this.pool.run('scale_by_inverse_norm', [ptr(out), ptr(x), ptr(s), rho, eps, n], n >= this.minWork);
  }

  /** Resolves once every worker thread runs (in a browser, workers start only then: pool.ts). */
  whenReady(): Promise<void> { return this.pool.ready; }
}

function ptr(b: BufferHandle): number { return (b as WasmBuffer).ptr; }
function ptrOr0(b: BufferHandle | null): number { return b ? (b as WasmBuffer).ptr : 0; }

/** The WASM backend, with its kernels loaded through the host and every worker thread started. */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  await host.ready();
  const backend = new WasmBackend(opts);
  try {
    await backend.whenReady();
  } catch (e) {
    await backend.destroy();
    throw e;
  }
  return backend;
}

// A typed tensor: a shape, a dtype and one backend buffer. A tensor made by the constructor,
// zeros() or from() owns its buffer: dispose() returns it, and Backend.bytesInUse() tells what is
// still held (tests check that a training step leaves it unchanged). view() gives the same buffer
// under another shape without owning it: it lets code that keeps activations as [rows, features]
// hand them to the shape-checked ops in engine/ops as, say, [B, T, H, hd].
// A tensor from a pool (engine/arena.ts) owns its buffer only until dispose(), which hands the
// buffer back to the pool instead of the backend; its buffer may be larger than its shape.
import type { Backend, BufferHandle, DType } from './backend.ts';

/** Where a pooled tensor's buffer goes back on dispose() (engine/arena.ts). */
export interface BufferPool {
  give(buf: BufferHandle): void;
}

export class Tensor {
  readonly size: number;
  private _buf: BufferHandle | null;
  /** The tensor that owns the buffer when this one is a view; null when this one owns it. */
  private readonly owner: Tensor | null;
  /** The pool an owning tensor's buffer returns to on dispose(); null: the backend frees it. */
  private readonly pool: BufferPool | null;

  constructor(readonly backend: Backend, readonly shape: readonly number[], readonly dtype: DType, buf?: BufferHandle,
    owner: Tensor | null = null, pool: BufferPool | null = null) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: bad shape [${shape.join(', ')}]`);
    }
    this.size = shape.reduce((a, b) => a * b, 1);
    this.owner = owner;
    this.pool = owner === null ? pool : null;
    this._buf = buf ?? backend.alloc(dtype, Math.max(1, this.size));
  }

  /** The backend buffer; throws after dispose() (of this tensor, or of the one a view shares). */
  get buf(): BufferHandle {
    if (!this._buf || (this.owner !== null && this.owner._buf === null)) throw new Error('Tensor: used after dispose()');
    return this._buf;
  }

  get disposed(): boolean { return this._buf === null || (this.owner !== null && this.owner._buf === null); }

  /** Whether this tensor is a view (it shares, and does not own, its buffer). */
  get isView(): boolean { return this.owner !== null; }

  /**
   * The same elements under another shape (one entry may be -1: inferred), sharing this tensor's
   * buffer. The view owns nothing: disposing it only detaches it, and it is unusable once the
   * owner is disposed.
   */
  view(shape: readonly number[]): Tensor {
    let dims = shape;
    const free = shape.indexOf(-1);
    if (free >= 0) {
      const known = shape.reduce((a, d, i) => (i === free ? a : a * d), 1);
      if (known === 0 || this.size % known !== 0) throw new Error(`Tensor.view: cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
      dims = shape.map((d, i) => (i === free ? this.size / known : d));
    }
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== this.size) throw new Error(`Tensor.view: [${this.shape.join(', ')}] (${this.size}) viewed as [${shape.join(', ')}] (${size})`);
    return new Tensor(this.backend, dims, this.dtype, this.buf, this.owner ?? this);
  }

  static zeros(backend: Backend, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(backend, shape, dtype);
  }

  static from(backend: Backend, shape: readonly number[], data: Float32Array | Int32Array | number[], dtype?: DType): Tensor {
    const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
    const arr = Array.isArray(data) ? (dt === 'i32' ? Int32Array.from(data) : Float32Array.from(data)) : data;
    const t = new Tensor(backend, shape, dt);
    if (arr.length !== t.size) {
      t.dispose();
      throw new Error(`Tensor.from: ${arr.length} values for shape [${shape.join(', ')}] (${t.size})`);
    }
    if (t.size > 0) backend.write(t.buf, arr);
    return t;
  }

  /**
   * f32 values stored as f16 (rounded to nearest even), on a backend with f16 storage (WebGPU
   * with shader-f16). Only matmul's B operand (linear's weight) reads f16 tensors.
   */
  static fromF16(backend: Backend, shape: readonly number[], data: Float32Array): Tensor {
    if (!(backend.hasF16 && backend.allocF16 && backend.writeF16)) {
      throw new Error(`f16 storage needs a backend that has it (WebGPU with shader-f16); ${backend.name} (${backend.description}) has none`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`Tensor.fromF16: ${data.length} values for shape [${shape.join(', ')}] (${n})`);
    const buf = backend.allocF16(Math.max(1, n));
    backend.writeF16(buf, data);
    return new Tensor(backend, shape, 'f16', buf);
  }

  async read(): Promise<Float32Array | Int32Array> {
    return this.backend.read(this.buf, this.dtype, this.size);
  }

  async toFloat32(): Promise<Float32Array> {
    const r = await this.read();
    return r instanceof Float32Array ? r : Float32Array.from(r);
  }

  /**
   * Returns the buffer (an owner: to its pool if it came from one, else to the backend), or
   * detaches the view (a view: the buffer stays with its owner).
   */
  dispose(): void {
    if (!this._buf) return;
    const buf = this._buf;
    this._buf = null;
    if (this.owner === null) {
      if (this.pool) this.pool.give(buf); else this.backend.free(buf);
    }
  }
}

/** Throws unless `t` has exactly `shape` (a -1 entry matches anything). */
export function expectShape(what: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length === shape.length) {
    let ok = true;
    for (let i = 0; i < shape.length; i++) if (shape[i] !== -1 && shape[i] !== t.shape[i]) ok = false;
    if (ok) return;
  }
  throw new Error(`${what}: expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
}

export function expectDType(what: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new Error(`${what}: expected ${dtype}, got ${t.dtype}`);
}

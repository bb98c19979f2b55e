// A typed tensor: a shape, a dtype and one backend buffer. Tensors own their buffer: dispose()
// returns it, and Backend.bytesInUse() tells what is still held (tests check that a training
// step leaves it unchanged).
import type { Backend, BufferHandle, DType } from './backend.ts';

export class Tensor {
  readonly size: number;
  private _buf: BufferHandle | null;

  constructor(readonly backend: Backend, readonly shape: readonly number[], readonly dtype: DType, buf?: BufferHandle) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: bad shape [${shape.join(', ')}]`);
    }
    this.size = shape.reduce((a, b) => a * b, 1);
    this._buf = buf ?? backend.alloc(dtype, Math.max(1, this.size));
  }

  /** The backend buffer; throws after dispose(). */
  get buf(): BufferHandle {
    if (!this._buf) throw new Error('Tensor: used after dispose()');
    return this._buf;
  }

  get disposed(): boolean { return this._buf === null; }

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

  async read(): Promise<Float32Array | Int32Array> {
    return this.backend.read(this.buf, this.dtype, this.size);
  }

  async toFloat32(): Promise<Float32Array> {
    const r = await this.read();
    return r instanceof Float32Array ? r : Float32Array.from(r);
  }

  dispose(): void {
    if (this._buf) {
      this.backend.free(this._buf);
      this._buf = null;
    }
  }
}

/** Throws unless `t` has exactly `shape` (a -1 entry matches anything). */
export function expectShape(what: string, t: Tensor, shape: readonly number[]): void {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) throw new Error(`${what}: expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
}

export function expectDType(what: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new Error(`${what}: expected ${dtype}, got ${t.dtype}`);
}

// Scratch tensors that outlive the step that made them: the activations, their gradients and every
// other per-step buffer of a model come from here, and go back here on dispose(), so that steady
// training allocates nothing from the backend (no per-buffer create/destroy on WebGPU, no
// zero-filling of memory about to be overwritten on WASM). llm.c sizes its activations once per
// (B, T); here every batch has its own T (and, with rows 'loss', its own row count), so:
// - a request with a key (a role: 'L3.h', layer 3's normed input) gets that key's buffer, grown
//   when a batch needs more: one buffer per role, sized for the largest batch seen, the same
//   buffer in every step and in both of Vaccine's passes;
// - a request without a key (or whose key's buffer is still in use) takes the smallest free
//   buffer that holds it (at most twice its size class), else a new one of its size class.
// Sizes are rounded up to classes (8 per octave), so a buffer serves batches up to 12.5% larger
// than the one that made it.
//
// A taken tensor's contents are undefined (whatever its last user left): the code that takes one
// writes it before reading, or asks for zeros(). VACCINE_ARENA_POISON=1 (or Arena.of(b).poison =
// true) fills every taken tensor with NaN, so that a read-before-write shows up in the results.
// One arena per backend (Arena.of): models, Vaccine and the optimizer share its buffers.
import { host } from '#host';
import type { Backend, BufferHandle, DType } from './backend.ts';
import { Tensor, type BufferPool } from './tensor.ts';

interface Slot { buf: BufferHandle; capacity: number }
interface KeyedSlot extends Slot { busy: boolean }

export class Arena implements BufferPool {
  private static arenas = new WeakMap<Backend, Arena>();

  /** The backend's arena (made on first use). */
  static of(backend: Backend): Arena {
    let a = Arena.arenas.get(backend);
    if (!a) { a = new Arena(backend); Arena.arenas.set(backend, a); }
    return a;
  }

  /** free buffers, sorted by capacity (elements) */
  private free: Slot[] = [];
  /** each buffer handed out, by its handle: its capacity and, for a keyed one, its slot */
  private taken = new Map<BufferHandle, { capacity: number; keyed: KeyedSlot | null }>();
  /** one buffer per role */
  private keyed = new Map<string, KeyedSlot>();
  /** fill every taken tensor with NaN (tests: a read before a write becomes visible) */
  poison = host.env('VACCINE_ARENA_POISON') === '1';
  /** buffers this arena asked the backend for, ever */
  allocations = 0;

  private constructor(readonly backend: Backend) {}

  /**
   * A tensor of `shape` with undefined contents; dispose() gives its buffer back. `key` names its
   * role (see the file header): a key's buffer serves one tensor at a time.
   */
  take(shape: readonly number[], dtype: DType = 'f32', key?: string): Tensor {
    if (dtype === 'f16') throw new Error('Arena: f16 tensors are not pooled');
    const size = Math.max(1, shape.reduce((a, b) => a * b, 1));
    const want = sizeClass(size);
    let buf: BufferHandle;
    let capacity: number;
    let keyed: KeyedSlot | null = null;
    const k = key === undefined ? undefined : this.keyed.get(key);
    if (key !== undefined && !k?.busy) {
      keyed = k ?? { buf: null!, capacity: 0, busy: false };
      if (keyed.capacity < size) {
        if (k) this.backend.free(k.buf);
        keyed.buf = this.backend.alloc(dtype, want, false);
        keyed.capacity = want;
        this.allocations++;
        this.keyed.set(key, keyed);
      }
      keyed.busy = true;
      ({ buf, capacity } = keyed);
    } else {
      const i = this.firstFit(size);
      if (i < this.free.length && this.free[i].capacity <= 2 * want) {
        ({ buf, capacity } = this.free[i]);
        this.free.splice(i, 1);
      } else {
        buf = this.backend.alloc(dtype, want, false);
        capacity = want;
        this.allocations++;
      }
    }
    this.taken.set(buf, { capacity, keyed });
    const t = new Tensor(this.backend, shape, dtype, buf, null, this);
    if (this.poison && t.size > 0) this.backend.fill(buf, NaN, t.size);
    return t;
  }

  /** A tensor of zeros. */
  zeros(shape: readonly number[], dtype: DType = 'f32', key?: string): Tensor {
    const t = this.take(shape, dtype, key);
    if (t.size > 0) this.backend.fill(t.buf, 0, t.size);
    return t;
  }

  /** A tensor holding `data` (f32 or i32, from its type). */
  from(shape: readonly number[], data: Float32Array | Int32Array, key?: string): Tensor {
    const t = this.take(shape, data instanceof Int32Array ? 'i32' : 'f32', key);
    if (data.length !== t.size) {
      t.dispose();
      throw new Error(`Arena.from: ${data.length} values for shape [${shape.join(', ')}] (${t.size})`);
    }
    if (t.size > 0) this.backend.write(t.buf, data);
    return t;
  }

  /** Tensor.dispose() of a taken tensor lands here. */
  give(buf: BufferHandle): void {
    const t = this.taken.get(buf);
    if (t === undefined) throw new Error('Arena: a buffer given back that was not taken from here');
    this.taken.delete(buf);
    if (t.keyed) t.keyed.busy = false;
    else this.free.splice(this.firstFit(t.capacity), 0, { buf, capacity: t.capacity });
  }

  /** Returns every free buffer to the backend (taken ones stay with their tensors). */
  trim(): void {
    for (const s of this.free) this.backend.free(s.buf);
    this.free = [];
    for (const [key, s] of this.keyed) {
      if (s.busy) continue;
      this.backend.free(s.buf);
      this.keyed.delete(key);
    }
  }

  /** Bytes of the free buffers held for reuse. */
  get pooledBytes(): number {
    let n = this.free.reduce((s, x) => s + x.buf.bytes, 0);
    for (const s of this.keyed.values()) if (!s.busy) n += s.buf.bytes;
    return n;
  }
  /** Tensors taken and not yet disposed. */
  get inUse(): number { return this.taken.size; }

  /** Index of the first free slot with capacity >= size. */
  private firstFit(size: number): number {
    let lo = 0, hi = this.free.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.free[mid].capacity < size) lo = mid + 1; else hi = mid; }
    return lo;
  }
}

/** `size` rounded up to its class: multiples of 64 elements up to 512, then 8 classes per octave. */
export function sizeClass(size: number): number {
  if (size <= 512) return Math.ceil(size / 64) * 64;
  const step = 2 ** (Math.floor(Math.log2(size)) - 3);
  return Math.ceil(size / step) * step;
}

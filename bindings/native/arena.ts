// Native scratch memory for the descriptors passed to webgpu.h: one block per device, reused by
// every call (a call reads its descriptor before it returns, so each call starts from offset 0).
// Structs are written at the offsets header.ts computes; pointers are absolute addresses.
import type { Layout } from './header.ts';

type Koffi = typeof import('koffi').default;

export class Arena {
  private base = 0n;
  private cap = 0;
  private used = 0;
  private view!: DataView;
  private bytes!: Uint8Array;
  private encoder = new TextEncoder();

  constructor(private koffi: Koffi, initial = 1 << 16) {
    this.grow(initial);
  }

  /** Starts a new descriptor; `need` bytes (beyond the structs) must fit, e.g. a shader's source. */
  reset(need = 0): void {
    if (need + 8192 > this.cap) {
      this.koffi.free(this.base);
      this.grow(Math.max(2 * this.cap, need + 8192));
    }
    this.used = 0;
  }

  /** Zeroed room for `layout` (or `bytes` bytes), `count` times; returns its offset. */
  alloc(layout: Layout | number, count = 1): number {
    const size = (typeof layout === 'number' ? layout : layout.size) * count;
    const align = typeof layout === 'number' ? 8 : layout.align;
    const off = Math.ceil(this.used / align) * align;
    if (off + size > this.cap) throw new Error(`webgpu.h arena: ${off + size} bytes needed, ${this.cap} reserved`);
    this.bytes.fill(0, off, off + size);
    this.used = off + size;
    return off;
  }

  addr(off: number): bigint { return this.base + BigInt(off); }

  u32(off: number, v: number): void { this.view.setUint32(off, v >>> 0, true); }
  u64(off: number, v: number | bigint): void { this.view.setBigUint64(off, BigInt(v), true); }
  f64(off: number, v: number): void { this.view.setFloat64(off, v, true); }
  ptr(off: number, v: bigint | null): void { this.view.setBigUint64(off, v ?? 0n, true); }

  /** A WGPUStringView at `off` for `s` (UTF-8 copied into the arena, no terminator needed). */
  str(off: number, s: string): void {
    const max = s.length * 3;
    const at = this.alloc(max || 1);
    const { written } = this.encoder.encodeInto(s, this.bytes.subarray(at, at + max));
    this.used = at + written;
    this.ptr(off, this.addr(at));
    this.u64(off + 8, written);
  }

  /** Releases the native block (the device is gone). */
  free(): void {
    if (this.base) this.koffi.free(this.base);
    this.base = 0n;
    this.cap = 0;
  }

  private grow(cap: number): void {
    this.base = BigInt(this.koffi.alloc('uint8_t', cap));
    this.cap = cap;
    const ab = this.koffi.view(this.base, cap);
    this.view = new DataView(ab);
    this.bytes = new Uint8Array(ab);
  }
}

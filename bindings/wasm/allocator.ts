// A first-fit free-list allocator over the shared WebAssembly.Memory, run on the main thread
// only (the AssemblyScript runtime is not thread-safe, so kernels never allocate: they get raw
// pointers). Blocks are 64-byte aligned for v128 loads and to keep threads off each other's
// cache lines. Freed neighbours are merged; the memory grows when nothing fits. Blocks are
// zero-filled unless the caller says it will write them first.

const ALIGN = 64;
const PAGE = 65536;

export class Allocator {
  /** free blocks, sorted by start */
  private free: { start: number; size: number }[] = [];
  private live = new Map<number, number>();
  private inUse = 0;
  private end: number;

  constructor(private memory: WebAssembly.Memory, heapBase: number, private maxBytes: number) {
    this.end = align(heapBase);
  }

  bytesInUse(): number { return this.inUse; }

  /** A block of at least `bytes`, zero-filled unless `zero` is false. */
  alloc(bytes: number, zero = true): number {
    const size = align(Math.max(bytes, ALIGN));
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size >= size) {
        const ptr = b.start;
        if (b.size === size) this.free.splice(i, 1);
        else { b.start += size; b.size -= size; }
        return this.take(ptr, size, zero);
      }
    }
    // Nothing fits: take from the end, merging a free block that touches it.
    let ptr = this.end;
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.end) { ptr = last.start; this.free.pop(); }
    const newEnd = ptr + size;
    if (newEnd > this.maxBytes) {
      throw new Error(`wasm backend: out of memory: ${fmt(bytes)} requested, ${fmt(this.inUse)} in use, limit ${fmt(this.maxBytes)}`);
    }
    const have = this.memory.buffer.byteLength;
    if (newEnd > have) this.memory.grow(Math.ceil((newEnd - have) / PAGE));
    this.end = newEnd;
    return this.take(ptr, size, zero);
  }

  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`wasm backend: free of unknown pointer ${ptr}`);
    this.live.delete(ptr);
    this.inUse -= size;
    // insert sorted, then merge with neighbours
    let lo = 0, hi = this.free.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.free[mid].start < ptr) lo = mid + 1; else hi = mid; }
    this.free.splice(lo, 0, { start: ptr, size });
    const next = this.free[lo + 1];
    if (next && ptr + size === next.start) { this.free[lo].size += next.size; this.free.splice(lo + 1, 1); }
    const prev = this.free[lo - 1];
    if (prev && prev.start + prev.size === ptr) { prev.size += this.free[lo].size; this.free.splice(lo, 1); }
  }

  private take(ptr: number, size: number, zero: boolean): number {
    this.live.set(ptr, size);
    this.inUse += size;
    if (zero) new Uint8Array(this.memory.buffer, ptr, size).fill(0);
    return ptr;
  }
}

function align(n: number): number { return Math.ceil(n / ALIGN) * ALIGN; }
function fmt(n: number): string { return `${(n / 2 ** 20).toFixed(1)} MiB`; }

// Memory of the WebGPU backend: the caller's buffers (counted in bytesInUse), the backend's own
// (scratch, constants; not counted), and destruction deferred past the next submit while
// recorded-but-unsubmitted work may still use a buffer.
import type { BufferHandle } from '../../engine/backend.ts';
import type { GpuPort, PortBuffer } from './port.ts';

export interface GpuBuffer extends BufferHandle {
  readonly buffer: PortBuffer;
  readonly bytes: number;
}

export class GpuMemory {
  private live = new Set<PortBuffer>();
  private internal = new Set<PortBuffer>();
  private liveBytes = 0;
  private toDestroy: PortBuffer[] = [];
  private scratch = new Map<string, GpuBuffer>();

  /** `recording()`: whether commands are recorded but not yet submitted */
  constructor(private port: GpuPort, private recording: () => boolean) {}

  /** A zero-filled storage buffer of at least `bytes`; internal: the backend's own, not in bytesInUse. */
  alloc(bytes: number, label: string, internal = false): GpuBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    const { maxStorageBufferBindingSize: maxBinding, maxBufferSize } = this.port.limits;
    if (size > maxBinding && size <= maxBufferSize) {
      // it could be created, but no kernel could bind it: fail here, where the cause is clear
      throw new Error(`webgpu backend: alloc(${label}) needs ${size} bytes, above this adapter's maxStorageBufferBindingSize (${maxBinding})`);
    }
    const buffer = this.port.scoped(`alloc(${label}, ${size} bytes)`, () => this.port.createBuffer(label, size, 'storage'));
    if (internal) {
      this.internal.add(buffer);
    } else {
      this.live.add(buffer);
      this.liveBytes += size;
    }
    return { buffer, bytes: size };
  }

  /** Frees a caller's buffer; a second free, or a buffer not from here, does nothing. */
  free(b: GpuBuffer): void {
    if (!this.live.delete(b.buffer)) return;
    this.liveBytes -= b.buffer.size;
    this.release(b.buffer);
  }

  bytesInUse(): number { return this.liveBytes; }

  /** A backend-owned buffer of at least n f32, reused across calls with the same purpose. */
  scratchBuffer(purpose: string, n: number): GpuBuffer {
    const have = this.scratch.get(purpose);
    if (have && have.bytes >= n * 4) return have;
    if (have) { this.internal.delete(have.buffer); this.release(have.buffer); }
    const b = this.alloc(n * 4, purpose, true);
    this.scratch.set(purpose, b);
    return b;
  }

  /** Destroy now, or after the next submit when recorded-but-unsubmitted work may use it. */
  release(b: PortBuffer): void {
    if (this.recording()) this.toDestroy.push(b); else this.port.destroyBuffer(b);
  }

  /** Called by the recorder after each submit: what waited for it can go now. */
  afterSubmit(): void {
    const list = this.toDestroy;
    this.toDestroy = [];
    for (const b of list) this.port.destroyBuffer(b);
  }

  /** Destroys every buffer, the caller's included (the backend is being destroyed). */
  destroyAll(): void {
    for (const set of [this.live, this.internal]) {
      for (const b of set) this.port.destroyBuffer(b);
      set.clear();
    }
    this.afterSubmit();
    this.scratch.clear();
    this.liveBytes = 0;
  }
}

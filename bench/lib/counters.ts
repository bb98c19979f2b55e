// Allocation and memory counters over a backend, for the harness: backend allocations and frees
// (alloc/free calls: WASM allocator blocks, WebGPU storage buffers), every buffer the WebGPU
// device creates (createBuffer on its port: storage, staging, readback), and the high-water mark
// of bytes held by live buffers (Backend.bytesInUse after each allocation: the WASM allocator's
// in-use high-water mark, or the WebGPU caller buffers').
import type { Backend } from '../../engine/backend.ts';
import { instrumentBackend } from '../../engine/profile/instrument.ts';

export interface Counts { allocs: number; frees: number; deviceBuffers: number }

export class Counters {
  readonly backend: Backend;
  allocs = 0;
  frees = 0;
  deviceBuffers = 0;
  /** highest bytesInUse seen since resetPeak() */
  peakBytes = 0;

  constructor(private real: Backend) {
    this.backend = instrumentBackend(real, (name, _args, run) => {
      const r = run();
      if (name === 'alloc' || name === 'allocF16') {
        this.allocs++;
        this.peakBytes = Math.max(this.peakBytes, real.bytesInUse());
      } else if (name === 'free') this.frees++;
      return r;
    });
    // WebGPU: count the device's createBuffer calls, staging and readback buffers included
    const port = (real as { port?: { createBuffer: (...a: unknown[]) => unknown } }).port;
    if (port && typeof port.createBuffer === 'function') {
      const create = port.createBuffer.bind(port);
      port.createBuffer = (...a: unknown[]) => { this.deviceBuffers++; return create(...a); };
    }
    this.peakBytes = real.bytesInUse();
  }

  /** Whether device buffers are counted (WebGPU). */
  get countsDeviceBuffers(): boolean { return 'port' in this.real; }

  snapshot(): Counts { return { allocs: this.allocs, frees: this.frees, deviceBuffers: this.deviceBuffers }; }

  since(c: Counts): Counts {
    return { allocs: this.allocs - c.allocs, frees: this.frees - c.frees, deviceBuffers: this.deviceBuffers - c.deviceBuffers };
  }

  resetPeak(): void { this.peakBytes = this.real.bytesInUse(); }
}

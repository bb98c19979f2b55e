// Runs one op on a backend from host arrays: allocates and uploads the inputs, runs the op,
// reads back the named outputs and frees everything. The parity tests run the same case on
// WebGPU and on WASM and compare what comes back.
import type { Backend, BufferHandle } from '../../engine/backend.ts';

export type HostArray = Float32Array | Int32Array;
export type Buffers = Record<string, BufferHandle>;

export interface Case {
  /** every buffer the op touches, with its initial contents */
  buffers: Record<string, HostArray>;
  /** buffers to read back afterwards */
  outputs: string[];
  run(be: Backend, b: Buffers): void;
}

export async function runCase(be: Backend, c: Case): Promise<Record<string, HostArray>> {
  const bufs: Buffers = {};
  for (const [name, data] of Object.entries(c.buffers)) {
    bufs[name] = be.alloc(data instanceof Int32Array ? 'i32' : 'f32', data.length);
    be.write(bufs[name], data);
  }
  c.run(be, bufs);
  const out: Record<string, HostArray> = {};
  for (const name of c.outputs) {
    const data = c.buffers[name];
    out[name] = await be.read(bufs[name], data instanceof Int32Array ? 'i32' : 'f32', data.length);
  }
  for (const b of Object.values(bufs)) be.free(b);
  return out;
}

/** Exactly equal as bit patterns (NaN-safe, distinguishes -0). */
export function bitIdentical(a: HostArray, b: HostArray): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

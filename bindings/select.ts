// Backend selection for the CLI and the library: `auto` prefers WebGPU and falls back to the
// WASM backend when no adapter can be opened; `webgpu` and `wasm` insist on one.
import type { Backend } from '../engine/backend.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm';

export interface SelectOptions {
  /** print nothing about the choice */
  quiet?: boolean;
  /** WebGPU: record per-kernel GPU timestamps */
  timing?: boolean;
  /** WASM: worker threads */
  threads?: number;
}

export async function selectBackend(kind: BackendKind, opts: SelectOptions = {}): Promise<Backend> {
  const say = (msg: string): void => { if (!opts.quiet) console.log(msg); };
  if (kind === 'webgpu' || kind === 'auto') {
    try {
      const { createWebGPUBackend } = await import('./webgpu/backend.ts');
      const be = await createWebGPUBackend({ quiet: true, timing: opts.timing });
      say(`backend: ${be.description}`);
      return be;
    } catch (e) {
      if (kind === 'webgpu') throw e;
      say(`backend: WebGPU unavailable (${(e as Error).message}); using WASM`);
    }
  } else if (kind !== 'wasm') {
    throw new Error(`unknown backend '${kind as string}' (expected auto, webgpu or wasm)`);
  }
  const { createWasmBackend } = await import('./wasm/backend.ts');
  const be = await createWasmBackend({ threads: opts.threads });
  say(`backend: ${be.description}`);
  return be;
}

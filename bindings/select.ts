// Backend selection for the CLI and the library: `auto` prefers a hardware WebGPU adapter and
// falls back to the WASM backend when none can be opened, or when the only adapter is a CPU
// software renderer (Mesa lavapipe/llvmpipe, SwiftShader): those run the same WGSL correctly
// but about 10x slower than the WASM kernels on the same cores (bench/align_real.ts: 1098 vs
// 82 ms per SFT step on stories260K). `webgpu` and `wasm` insist on one.
import type { Backend } from '../engine/backend.ts';

export type BackendKind = 'auto' | 'webgpu' | 'wasm';

export interface SelectOptions {
  /** print nothing about the choice */
  quiet?: boolean;
  /** WebGPU: record per-kernel GPU timestamps */
  timing?: boolean;
  /** WASM: worker threads */
  threads?: number;
  /** called with the reason when `auto` falls back to WASM (also when quiet) */
  onFallback?: (reason: string) => void;
}

export async function selectBackend(kind: BackendKind, opts: SelectOptions = {}): Promise<Backend> {
  const say = (msg: string): void => { if (!opts.quiet) console.log(msg); };
  if (kind !== 'auto' && kind !== 'webgpu' && kind !== 'wasm') {
    throw new Error(`unknown backend '${kind as string}' (expected auto, webgpu or wasm)`);
  }
  let fallback = '';
  if (kind === 'webgpu' || kind === 'auto') {
    try {
      const { createWebGPUBackend } = await import('./webgpu/backend.ts');
      const be = await createWebGPUBackend({ quiet: true, timing: opts.timing });
      if (kind === 'webgpu' || !isSoftwareRenderer(be.description)) {
        say(`backend: ${be.description}`);
        return be;
      }
      fallback = `the WebGPU adapter is a CPU software renderer: ${be.description}; --backend webgpu forces it`;
      await be.destroy();
    } catch (e) {
      if (kind === 'webgpu') throw e;
      fallback = `no WebGPU adapter: ${(e as Error).message}`;
    }
  }
  const { createWasmBackend } = await import('./wasm/backend.ts');
  const be = await createWasmBackend({ threads: opts.threads });
  if (fallback) opts.onFallback?.(fallback);
  say(fallback ? `backend: auto chose WASM (${fallback})` : `backend: ${be.description}`);
  return be;
}

/** Whether an adapter description names a CPU software renderer rather than a GPU. */
export function isSoftwareRenderer(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

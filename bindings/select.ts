// Backend selection for the CLI and the library: a kind from the registry (registry.ts), or
// `auto`, which prefers a hardware WebGPU adapter and falls back to the WASM backend when none
// can be opened, or when the only adapter is a CPU software renderer (Mesa lavapipe/llvmpipe,
// SwiftShader): those run the same WGSL correctly but about 10x slower than the WASM kernels on
// the same cores (bench/align_real.ts: 1098 vs 82 ms per SFT step on stories260K).
import type { Backend } from '../engine/backend.ts';
import { backendEntry, BACKEND_KINDS, isBackendKind, type BackendCreateOptions, type BackendKind } from './registry.ts';

export { BACKEND_KINDS, backendHelpLines, type BackendKind } from './registry.ts';

export interface SelectOptions extends BackendCreateOptions {
  /** print nothing about the choice */
  quiet?: boolean;
  /** called with the reason when `auto` falls back to WASM (also when quiet) */
  onFallback?: (reason: string) => void;
}

export async function selectBackend(kind: BackendKind, opts: SelectOptions = {}): Promise<Backend> {
  const say = (msg: string): void => { if (!opts.quiet) console.log(msg); };
  if (!isBackendKind(kind)) throw new Error(`unknown backend '${kind as string}' (expected ${BACKEND_KINDS.join(', ')})`);
  if (kind !== 'auto') {
    const be = await backendEntry(kind).create(opts);
    say(`backend: ${be.description}`);
    return be;
  }
  let fallback: string;
  try {
    const be = await backendEntry('webgpu').create(opts);
    if (!isSoftwareRenderer(be.description)) {
      say(`backend: ${be.description}`);
      return be;
    }
    fallback = `the WebGPU adapter is a CPU software renderer: ${be.description}; --backend webgpu forces it`;
    await be.destroy();
  } catch (e) {
    fallback = `no WebGPU adapter: ${(e as Error).message}`;
  }
  const be = await backendEntry('wasm').create(opts);
  opts.onFallback?.(fallback);
  say(`backend: auto chose WASM (${fallback})`);
  return be;
}

/** Whether an adapter description names a CPU software renderer rather than a GPU. */
export function isSoftwareRenderer(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

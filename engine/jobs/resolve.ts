// Finding the pieces an alignment job needs from paths: the tokenizer (beside the model unless
// named) and the compute backend. Kept apart from the training loop so the loop reads as training only.
import type { Backend } from '../backend.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { isSoftwareRenderer, selectBackend, type BackendKind } from '../../bindings/select.ts';

export type { BackendKind };

/** The tokenizer at `path`, or the one found from the model path (its directory or beside the .bin). */
export function resolveTokenizer(modelPath: string, path?: string): Tokenizer {
  return loadTokenizer(path ?? modelPath);
}

/**
 * The backend for `kind`. `auto` takes a hardware WebGPU adapter, else WASM, and then says why
 * through `log` (the job's onLog), so the command line shows the reason rather than only the result:
 * selectBackend would print to the console itself, which a library caller cannot redirect.
 */
export async function resolveBackend(kind: BackendKind, threads?: number, log?: (message: string) => void): Promise<Backend> {
  if (kind !== 'auto') return selectBackend(kind, { quiet: true, threads });
  let reason: string;
  try {
    const { createWebGPUBackend } = await import('../../bindings/webgpu/backend.ts');
    const gpu = await createWebGPUBackend({ quiet: true });
    if (!isSoftwareRenderer(gpu.description)) return gpu;
    reason = `the WebGPU adapter is a CPU software renderer: ${gpu.description}; --backend webgpu forces it`;
    await gpu.destroy();
  } catch (e) {
    reason = `no WebGPU adapter: ${(e as Error).message}`;
  }
  log?.(`backend: auto chose WASM (${reason})`);
  return selectBackend('wasm', { quiet: true, threads });
}

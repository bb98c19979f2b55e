// Finding the pieces a job's session needs from names: the tokenizer (beside the model unless
// named) and the compute backend. This is the jobs' only way to bindings/: the backend factory
// is imported when a session opens a backend by kind, not when a job module loads, and a
// session can be handed another factory (SessionOptions.openBackend) or a backend object.
import type { Backend } from '../backend.ts';
import { loadTokenizer, openTokenizer } from '../tokenizer/load.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InputError } from './errors.ts';
import type { BackendKind } from './session.ts';

/**
 * The tokenizer the user named (`path`: a tokenizer file, recognised by its content, or a
 * directory holding one; nothing else is looked for), else the model's (in its directory, or
 * beside a llama2.c .bin).
 */
export function resolveTokenizer(modelPath: string, path?: string): Tokenizer {
  return path !== undefined ? openTokenizer(path) : loadTokenizer(modelPath);
}

/**
 * The backend for `kind` (bindings/select.ts). When `auto` falls back to WASM the reason goes to
 * `log` (the job's onLog), so the command line shows it and a library caller can redirect it;
 * so does a note when the WebGPU adapter it got is a CPU software renderer.
 */
export async function resolveBackend(kind: BackendKind, opts: { threads?: number; webgpuLib?: string; timing?: boolean; log: (message: string) => void }): Promise<Backend> {
  const { selectBackend, isSoftwareRenderer } = await import('../../bindings/select.ts');
  let backend: Backend;
  try {
    backend = await selectBackend(kind, {
      quiet: true, threads: opts.threads, webgpuLib: opts.webgpuLib, timing: opts.timing, onFallback: (reason) => opts.log(`backend: auto chose WASM (${reason})`),
    });
  } catch (e) {
    // a backend's own bad-input errors (a missing or unusable webgpu.h library) carry exit code 2
    if ((e as { exitCode?: number }).exitCode === 2) throw new InputError((e as Error).message);
    throw e;
  }
  if (backend.name === 'webgpu' && isSoftwareRenderer(backend.description)) {
    opts.log(`note: the WebGPU adapter is a CPU software renderer (${backend.description}); --backend wasm is usually much faster here`);
  }
  return backend;
}

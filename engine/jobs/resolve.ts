// Finding the pieces an alignment job needs from paths: the tokenizer (beside the model unless
// named) and the compute backend. Kept apart from the training loop so the loop reads as training only.
import type { Backend } from '../backend.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { selectBackend, type BackendKind } from '../../bindings/select.ts';

export type { BackendKind };

/** The tokenizer at `path`, or the one found from the model path (its directory or beside the .bin). */
export function resolveTokenizer(modelPath: string, path?: string): Tokenizer {
  return loadTokenizer(path ?? modelPath);
}

/**
 * The backend for `kind`. When `auto` falls back to WASM the reason goes to `log` (the job's
 * onLog), so the command line shows it and a library caller can redirect it.
 */
export async function resolveBackend(kind: BackendKind, threads?: number, log?: (message: string) => void): Promise<Backend> {
  return selectBackend(kind, { quiet: true, threads, onFallback: (reason) => log?.(`backend: auto chose WASM (${reason})`) });
}

// Finds and compiles build/kernels.wasm (built from kernels/as by `npm install`), and creates
// the shared memory every thread instantiates it on.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file that holds build.mjs and package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'build.mjs'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the vaccine-engine package root');
    dir = up;
  }
}

export const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const INITIAL_PAGES = 256;

export interface LoadedKernels {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  instance: WebAssembly.Instance;
  workerUrl: URL;
}

export function loadKernels(): LoadedKernels {
  const root = packageRoot();
  const file = join(root, 'build', 'kernels.wasm');
  if (!existsSync(file)) throw new Error(`${file} is missing: run 'npm install' (or 'npm run build') first`);
  const module = new WebAssembly.Module(readFileSync(file));
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_m: number, _f: number, line: number, col: number) => { throw new Error(`wasm kernel abort at ${line}:${col}`); },
      seed: () => 0,
    },
  });
  const workerUrl = new URL(`file://${join(root, 'bindings', 'wasm', 'worker.js')}`);
  return { module, memory, instance, workerUrl };
}

// Compiles the kernels (build/kernels.wasm, built from kernels/as by `npm install`; the host
// supplies the bytes: bindings/host) and creates the shared memory every thread instantiates
// them on.

import { host } from '#host';

export const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const INITIAL_PAGES = 256;

export interface LoadedKernels {
  /** whether the fused multiply-add build (relaxed SIMD) is the one loaded */
  fma: boolean;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  instance: WebAssembly.Instance;
}

/**
 * The FMA build (relaxed_madd) where this engine accepts relaxed SIMD, else the plain one.
 * Node 20's V8 gates relaxed SIMD behind a flag that only widens what the validator accepts: the
 * host switches it on before the second check. Browsers that ship relaxed SIMD (Chromium 114+)
 * validate the FMA build as it is; others get the plain build.
 */
function compileKernels(): { module: WebAssembly.Module; fma: boolean } {
  const fused = host.kernelBytes('fma');
  if (fused) {
    if (!WebAssembly.validate(fused)) host.enableRelaxedSimd();
    if (WebAssembly.validate(fused)) return { module: new WebAssembly.Module(fused), fma: true };
  }
  const plain = host.kernelBytes('plain');
  if (!plain) throw new Error('build/kernels.wasm is missing: run \'npm install\' (or \'npm run build\') first');
  return { module: new WebAssembly.Module(plain), fma: false };
}

/** Compiles the kernels and instantiates them on a new shared memory (host.ready() must have resolved). */
export function loadKernels(): LoadedKernels {
  const { module, fma } = compileKernels();
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_m: number, _f: number, line: number, col: number) => { throw new Error(`wasm kernel abort at ${line}:${col}`); },
      seed: () => 0,
    },
  });
  return { fma, module, memory, instance };
}

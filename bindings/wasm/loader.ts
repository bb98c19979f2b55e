// Finds and compiles build/kernels.wasm (built from kernels/as by `npm install`), and creates
// the shared memory every thread instantiates it on.
import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest folder above this file whose package.json names vaccine-engine.
 * The same from the sources (bindings/wasm/), from the bundle (dist/) and from an installed
 * package (node_modules/vaccine-engine/dist/), which ships no build.mjs.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vaccine-engine') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the vaccine-engine package root');
    dir = up;
  }
}

export const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const INITIAL_PAGES = 256;

export interface LoadedKernels {
  /** whether the fused multiply-add build (relaxed SIMD) is the one loaded */
  fma: boolean;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  instance: WebAssembly.Instance;
  workerUrl: URL;
}

/**
 * The FMA build (relaxed_madd) where this engine accepts relaxed SIMD, else the plain one.
 * Node 20's V8 gates relaxed SIMD behind a flag; it only widens what the validator accepts,
 * so it is switched on here, before compiling. VACCINE_WASM_FMA=0 forces the plain build.
 */
function compileKernels(root: string): { module: WebAssembly.Module; fma: boolean } {
  const plain = join(root, 'build', 'kernels.wasm');
  if (!existsSync(plain)) throw new Error(`${plain} is missing: run 'npm install' (or 'npm run build') first`);
  const fused = join(root, 'build', 'kernels-fma.wasm');
  if (process.env.VACCINE_WASM_FMA !== '0' && existsSync(fused)) {
    const bytes = readFileSync(fused);
    if (!WebAssembly.validate(bytes)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    if (WebAssembly.validate(bytes)) return { module: new WebAssembly.Module(bytes), fma: true };
  }
  return { module: new WebAssembly.Module(readFileSync(plain)), fma: false };
}

export function loadKernels(): LoadedKernels {
  const root = packageRoot();
  const { module, fma } = compileKernels(root);
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_m: number, _f: number, line: number, col: number) => { throw new Error(`wasm kernel abort at ${line}:${col}`); },
      seed: () => 0,
    },
  });
  const workerUrl = new URL(`file://${join(root, 'bindings', 'wasm', 'worker.js')}`);
  return { fma, module, memory, instance, workerUrl };
}

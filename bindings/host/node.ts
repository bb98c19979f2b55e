// The engine's host under Node (see host.ts): files from the package folder, worker_threads, and
// WebGPU through dawn.node, which is imported by the first openGpu(), not when this loads.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Host, KernelWorker, KernelWorkerInit } from './host.ts';

/**
 * The package root: the nearest folder above this file whose package.json names vaccine-engine.
 * The same from the sources (bindings/host/), from the bundle (dist/) and from an installed
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

let root: string | null = null;
const rootDir = (): string => (root ??= packageRoot());

function startKernelWorker(init: KernelWorkerInit): KernelWorker {
  const w = new Worker(new URL(`file://${join(rootDir(), 'bindings', 'wasm', 'worker.js')}`), { workerData: init });
  w.unref();
  const ready = new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`wasm worker ${init.tid} exited (code ${code}) before it was ready`)));
  });
  return { ready, terminate: async () => { await w.terminate(); } };
}

export const host: Host = {
  name: 'node',
  ready: async () => {},
  cores: () => availableParallelism(),
  kernelBytes(build) {
    const file = join(rootDir(), 'build', build === 'fma' ? 'kernels-fma.wasm' : 'kernels.wasm');
    if (build === 'fma') return process.env.VACCINE_WASM_FMA !== '0' && existsSync(file) ? new Uint8Array(readFileSync(file)) : null;
    if (!existsSync(file)) throw new Error(`${file} is missing: run 'npm install' (or 'npm run build') first`);
    return new Uint8Array(readFileSync(file));
  },
  enableRelaxedSimd: () => v8.setFlagsFromString('--experimental-wasm-relaxed-simd'),
  startKernelWorker,
  wgslSource: (file) => readFileSync(join(rootDir(), 'kernels', 'wgsl', `${file}.wgsl`), 'utf8'),
  openGpu: async () => (await import('../webgpu/provider.ts')).openDevice(),
  yieldToEventLoop: () => new Promise((r) => setImmediate(r)),
  env: (name) => process.env[name],
};

// The engine's host in a browser (see host.ts), for code running in a dedicated Web Worker (the
// WASM pool's owner blocks in Atomics.wait, which a page's main thread may not). The kernels
// (kernels.wasm, kernels-fma.wasm) and the kernel worker's script (kernel-worker.js) are fetched
// from the folder the bundle was served from (web/bundle.mjs puts them there: the same files as
// build/); the WGSL sources are inlined by the bundler; WebGPU is navigator.gpu.
import { openPort } from '../webgpu/api_port.ts';
import type { GpuPort } from '../webgpu/port.ts';
import type { Host, KernelWorker, KernelWorkerInit } from './host.ts';

/** kernels/wgsl/*.wgsl by file name without .wgsl: web/bundle.mjs defines it when bundling. */
declare const __WGSL_SOURCES__: Record<string, string>;

const assets = new URL('./', import.meta.url);
let kernels: Promise<{ plain: Uint8Array<ArrayBuffer> | null; fma: Uint8Array<ArrayBuffer> | null }> | null = null;
let loaded: { plain: Uint8Array<ArrayBuffer> | null; fma: Uint8Array<ArrayBuffer> | null } | null = null;

async function fetchBytes(name: string): Promise<Uint8Array<ArrayBuffer> | null> {
  const r = await fetch(new URL(name, assets));
  return r.ok ? new Uint8Array(await r.arrayBuffer()) : null;
}

function startKernelWorker(init: KernelWorkerInit): KernelWorker {
  const w = new Worker(new URL('kernel-worker.js', assets), { type: 'module', name: `wasm kernels ${init.tid}` });
  const ready = new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`wasm worker ${init.tid} failed to start: ${e.message || 'error loading kernel-worker.js'}`));
  });
  w.postMessage(init);
  return { ready, terminate: async () => { w.terminate(); } };
}

/** A macrotask turn without timer clamping (nested setTimeout(0) waits at least 4 ms). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => { port1.close(); resolve(); };
    port2.postMessage(null);
  });
}

async function openGpu(): Promise<GpuPort> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new Error('WebGPU is not available in this browser (no navigator.gpu): use a browser with WebGPU (Chrome or Edge 113+; on Linux Chrome needs --enable-unsafe-webgpu or chrome://flags/#enable-unsafe-webgpu), or the WASM backend');
  }
  return openPort(navigator.gpu, 'navigator.gpu', 'WebGPU: the browser offers no adapter (navigator.gpu.requestAdapter() gave none: the GPU may be blocklisted or WebGPU disabled)');
}

export const host: Host = {
  name: 'browser',
  async ready() {
    kernels ??= Promise.all([fetchBytes('kernels.wasm'), fetchBytes('kernels-fma.wasm')]).then(([plain, fma]) => ({ plain, fma }));
    loaded = await kernels;
  },
  cores: () => navigator.hardwareConcurrency || 4,
  kernelBytes(build) {
    if (!loaded) throw new Error('the kernels are not loaded yet (await host.ready() first)');
    const bytes = loaded[build];
    if (!bytes && build === 'plain') throw new Error(`${new URL('kernels.wasm', assets).href} could not be fetched: rebuild with 'npm run web'`);
    return bytes;
  },
  enableRelaxedSimd: () => {},
  startKernelWorker,
  wgslSource(file) {
    const code = __WGSL_SOURCES__[file];
    if (code === undefined) throw new Error(`kernels/wgsl/${file}.wgsl is not in the bundle`);
    return code;
  },
  openGpu,
  yieldToEventLoop,
  env: () => undefined,
};

// What the engine needs from the platform it runs on, and nothing more: the one seam between
// the engine and Node or a browser. Two implementations, picked when the code is bundled (or
// loaded): package.json's "imports" maps `#host` to bindings/host/node.ts, and, under the
// "browser" condition that esbuild's browser build sets, to bindings/host/browser.ts.
//   node.ts     files from the package (node:fs), worker_threads, dawn.node (npm `webgpu`)
//   browser.ts  files fetched beside the bundle, Web Workers, navigator.gpu
// Everything else (the thread pool's protocol, the kernel loader, the WebGPU backend over its
// port, the model, training) is the same code on both.
import type { GpuPort } from '../webgpu/port.ts';

/** What a kernel worker is started with (bindings/wasm/worker_loop.js reads it). */
export interface KernelWorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** the pool's control block and argument slots (SharedArrayBuffers) */
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  /** the kernels' export names, in the pool's id order */
  names: string[];
  tid: number;
  /** the most polls of the control block before the worker sleeps waiting for a job (worker_loop.js Waiter; 0: sleep at once) */
  spin: number;
}

export interface KernelWorker {
  /** resolves once the worker has instantiated the kernels and waits for jobs */
  ready: Promise<void>;
  terminate(): Promise<void>;
}

export interface Host {
  /** 'node' or 'browser', for descriptions */
  readonly name: string;
  /** Loads what the synchronous calls below read (the browser fetches the kernels); idempotent. */
  ready(): Promise<void>;
  /** logical CPU cores */
  cores(): number;
  /**
   * The bytes of build/kernels.wasm ('plain') or build/kernels-fma.wasm ('fma'). The FMA build is
   * null when it is not there or not wanted (Node: VACCINE_WASM_FMA=0); a missing plain build throws.
   */
  kernelBytes(build: 'plain' | 'fma'): Uint8Array<ArrayBuffer> | null;
  /** Lets the engine accept relaxed SIMD where it is behind a flag (Node 20's V8); no-op elsewhere. */
  enableRelaxedSimd(): void;
  /** Starts one worker of the WASM thread pool. */
  startKernelWorker(init: KernelWorkerInit): KernelWorker;
  /** The text of kernels/wgsl/<file>.wgsl. */
  wgslSource(file: string): string;
  /** Opens a WebGPU device (the first high-performance adapter) as a GPU port. */
  openGpu(): Promise<GpuPort>;
  /** Lets pending events (signals, messages, I/O) run: a macrotask turn. */
  yieldToEventLoop(): Promise<void>;
  /** A setting from the environment (Node: process.env; a browser has none: undefined). */
  env(name: string): string | undefined;
}

// The WebGPU backend on a webgpu.h library over FFI (`--backend webgpu-native`): the same op table,
// WGSL kernels, recorder and memory as on dawn.node (bindings/webgpu), over the native provider.
// The library and koffi load here, on first use only.
import { WebGPUBackend, type WebGPUBackendOptions } from '../webgpu/backend.ts';

export interface NativeBackendOptions extends WebGPUBackendOptions {
  /** the webgpu.h shared library (default: $WEBGPU_LIB, else Dawn's from bun-webgpu-linux-x64) */
  library?: string;
  /** 'poll': never use timed waits, as with a library that lacks them (for tests) */
  waits?: 'timed' | 'poll';
}

export async function createNativeBackend(opts: NativeBackendOptions = {}): Promise<WebGPUBackend> {
  const { loadLibrary } = await import('./library.ts');
  const { openNativeDevice } = await import('./provider.ts');
  const lib = await loadLibrary(opts.library);
  const backend = new WebGPUBackend(await openNativeDevice(lib, opts.waits), opts);
  if (!opts.quiet) console.log(backend.description);
  return backend;
}

// The dawn.node provider: the GPU port over npm `webgpu`'s GPU object (api_port.ts holds the port,
// shared with the browser's navigator.gpu). dawn.node (a native addon) is imported by the first
// openDevice(), not when this module loads: importing the engine must not load it for a
// WASM-only user. The adapter request runs with Dawn's native warnings kept off stderr
// (dawn_noise.ts).
import { openPort } from './api_port.ts';
import { quietNativeStderr } from './dawn_noise.ts';
import type { GpuPort } from './port.ts';

export { describeAdapter, type AdapterDescription } from './port.ts';

const DAWN_OPTIONS = [
  // f16 is off on NVIDIA Vulkan by default in dawn
  'enable-dawn-features=vulkan_enable_f16_on_nvidia',
  // kernel timings need full-resolution timestamps
  'disable-dawn-features=timestamp_quantization',
  'enable-dawn-features=allow_unsafe_apis',
];

let gpuSingleton: Promise<GPU> | null = null;

function gpu(): Promise<GPU> {
  gpuSingleton ??= import('webgpu').then(({ create, globals }) => {
    Object.assign(globalThis, globals);
    return create(DAWN_OPTIONS);
  });
  return gpuSingleton;
}

/** Opens the first high-performance adapter through dawn.node, as a GPU port. */
export async function openDevice(): Promise<GpuPort> {
  // Dawn prints its limit warnings inside the adapter request, synchronously: only that call is quietened
  return openPort(await gpu(), 'dawn.node', 'WebGPU: no adapter found (dawn.node could not find a Vulkan/Metal/D3D12 device)', quietNativeStderr);
}

// Child process for device.test.ts: opens a WebGPU backend on the provider named by argv[2],
// runs a kernel, destroys it and then returns from the module. The process must exit by itself
// (neither dawn nor the FFI library may keep the event loop alive).
import { createGpu, type GpuProvider } from '../helpers.ts';

const be = await createGpu((process.argv[2] ?? 'webgpu') as GpuProvider, { timing: true });
const b = be.alloc('f32', 64);
be.fill(b, 1, 64);
const got = await be.read(b, 'f32', 64);
await be.destroy();
console.log(`probe ok ${got[63]}`);

// Child process for device.test.ts: opens a WebGPU backend, runs a kernel, destroys it and
// then returns from the module. The process must exit by itself (dawn must not keep the event loop alive).
import { createWebGPUBackend } from '../../bindings/webgpu/backend.ts';

const be = await createWebGPUBackend({ quiet: true, timing: true });
const b = be.alloc('f32', 64);
be.fill(b, 1, 64);
const got = await be.read(b, 'f32', 64);
await be.destroy();
console.log(`probe ok ${got[63]}`);

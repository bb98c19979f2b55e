// Shared test utilities: backends (created once per process), seeded random data and error
// metrics. Tolerances live in the tests that use them, stated next to the assertion.
import { Arena } from '../engine/arena.ts';
import type { Backend } from '../engine/backend.ts';
import type { WebGPUBackend, WebGPUBackendOptions } from '../bindings/webgpu/backend.ts';
import { finiteDiffAt } from './reference/sampled_grad.ts';

let wasm: Promise<Backend> | null = null;
let webgpu: Promise<WebGPUBackend | null> | null = null;

/**
 * The WASM backend with 2 threads, parallel from 2^15 multiply-adds (elements) on: the op tests
 * size one case per op above that, so every kernel's threaded split is exercised.
 */
export function wasmBackend(): Promise<Backend> {
  wasm ??= import('../bindings/wasm/backend.ts').then((m) => m.createWasmBackend({ threads: 2, parallelMinWork: 1 << 15 }));
  return wasm;
}

/**
 * The WebGPU backend on dawn.node, or null where no adapter exists. Under CI (CI=true) or with
 * REQUIRE_WEBGPU=1 a missing adapter is an error, never a silent skip.
 */
export function webgpuBackend(): Promise<WebGPUBackend | null> {
  webgpu ??= openProvider('webgpu');
  return webgpu;
}

/** The WebGPU providers: dawn.node and the native webgpu.h library over FFI (bindings/native). */
export type GpuProvider = 'webgpu' | 'webgpu-native';
export const GPU_PROVIDERS: readonly GpuProvider[] = ['webgpu', 'webgpu-native'];

/** A fresh WebGPU backend on `provider` (the caller destroys it). */
export async function createGpu(provider: GpuProvider, opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  if (provider === 'webgpu') return (await import('../bindings/webgpu/backend.ts')).createWebGPUBackend({ quiet: true, ...opts });
  return (await import('../bindings/native/index.ts')).createNativeBackend({ quiet: true, ...opts });
}

function openProvider(provider: GpuProvider): Promise<WebGPUBackend | null> {
  return createGpu(provider).catch((e: Error) => {
    if (process.env.CI === 'true' || process.env.REQUIRE_WEBGPU === '1') throw e;
    console.warn(`(${provider}: no WebGPU adapter or library: its tests are not run here: ${e.message})`);
    return null;
  });
}

let native: Promise<WebGPUBackend | null> | null = null;

/**
 * One shared backend per WebGPU provider that opens here, for tests that run on each: dawn.node
 * and the native provider. Both are required under CI (or REQUIRE_WEBGPU=1). WEBGPU_PROVIDERS
 * (comma-separated, e.g. `webgpu-native`) narrows the list while developing.
 */
export async function webgpuProviders(): Promise<{ provider: GpuProvider; backend: WebGPUBackend }[]> {
  const only = process.env.WEBGPU_PROVIDERS?.split(',').map((s) => s.trim()).filter(Boolean);
  const out: { provider: GpuProvider; backend: WebGPUBackend }[] = [];
  for (const provider of GPU_PROVIDERS) {
    if (only && !only.includes(provider)) continue;
    const backend = provider === 'webgpu' ? await webgpuBackend() : await (native ??= openProvider('webgpu-native'));
    if (backend) out.push({ provider, backend });
  }
  return out;
}

/** Deterministic uniform(-scale, scale) floats from a 32-bit seed (mulberry32). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

/** Deterministic integers in [0, hi). */
export function randInt(n: number, seed: number, hi: number): Int32Array {
  const r = rand(n, seed);
  return Int32Array.from(r, (x) => Math.min(hi - 1, Math.floor(((x + 1) / 2) * hi)));
}

/** max_i |a_i - b_i| / max_i |b_i|: the error relative to the reference's scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} and ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/**
 * Central finite differences of a scalar f64 function at x: df/dx_i for every i.
 * h is relative to max(1, |x_i|).
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  return finiteDiffAt(f, x, Array.from({ length: x.length }, (_, i) => i), h);
}

/** sum_i a_i * w_i in f64: turns a tensor output into a scalar loss for gradient checks. */
export function dot(a: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * w[i];
  return s;
}

export const DATA_DIR = process.env.VACCINE_SHARED_DATA ?? new URL('../../shared/data', import.meta.url).pathname;

/**
 * Bytes the backend holds for live tensors: the arena's free buffers (kept for reuse across
 * steps) are returned first, so a tensor taken and never disposed still counts (a leak shows).
 */
export function bytesHeld(be: Backend): number {
  Arena.of(be).trim();
  return be.bytesInUse();
}

// The WebGPU provider: opens a GPUDevice through dawn.node (npm `webgpu`) with the adapter's
// real limits and the optional features the kernels can use, and turns every way a device can
// fail (no adapter, loss, uncaptured errors, validation / out-of-memory in error scopes) into
// plain thrown JS Errors, so nothing hangs or fails silently.
// dawn.node (a native addon) is imported by the first openDevice(), not when this module loads:
// importing the engine must not load it for a WASM-only user.

/** Optional features requested when the adapter has them. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

const DAWN_OPTIONS = [
  // f16 is off on NVIDIA Vulkan by default in dawn
  'enable-dawn-features=vulkan_enable_f16_on_nvidia',
  // kernel timings need full-resolution timestamps
  'disable-dawn-features=timestamp_quantization',
  'enable-dawn-features=allow_unsafe_apis',
];

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface GPUContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterDescription;
  features: string[];
  /** Device loss: every call after it fails with this. */
  lostError(): Error | null;
  /**
   * The error to throw now, if any: device loss, or an error that escaped every error scope
   * (reported once; the device itself is still usable).
   */
  failure(): Error | null;
  /** Await the error scopes collected so far; throws the first error with its label. */
  checkScopes(): Promise<void>;
  /** Run `fn` inside validation + out-of-memory error scopes, recording any error under `label`. */
  scoped<T>(label: string, fn: () => T): T;
  destroy(): void;
}

let gpuSingleton: Promise<GPU> | null = null;

function gpu(): Promise<GPU> {
  gpuSingleton ??= import('webgpu').then(({ create, globals }) => {
    Object.assign(globalThis, globals);
    return create(DAWN_OPTIONS);
  });
  return gpuSingleton;
}

export function describeAdapter(info: AdapterDescription): string {
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

export async function openDevice(): Promise<GPUContext> {
  const adapter = await (await gpu()).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU: no adapter found (dawn.node could not find a Vulkan/Metal/D3D12 device)');

  const requiredLimits: Record<string, number> = {};
  // Copy every limit the adapter reports: the defaults are far below what real GPUs allow
  // (e.g. 128 MiB storage bindings), and the kernels size their work from these numbers.
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredLimits, requiredFeatures: features as unknown as GPUFeatureName[], label: 'vaccine-engine',
  });
  const ai = adapter.info;
  const info: AdapterDescription = {
    vendor: ai?.vendor ?? '', architecture: ai?.architecture ?? '', device: ai?.device ?? '', description: ai?.description ?? '',
  };

  let lost: Error | null = null;
  let uncaptured: Error | null = null;
  let destroyed = false;
  device.lost.then((l) => {
    if (!destroyed) lost = new Error(`WebGPU device lost (${l.reason}): ${l.message}`);
  });
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    uncaptured ??= new Error(`WebGPU uncaptured ${e.constructor?.name ?? 'error'}: ${e.message}`);
  });
  const failure = (): Error | null => {
    if (lost) return lost;
    const u = uncaptured;
    uncaptured = null;
    return u;
  };

  // Scope results resolve to an Error or null (never reject), so an unchecked scope cannot
  // become an unhandled rejection.
  let pending: Promise<Error | null>[] = [];
  const scoped = <T>(label: string, fn: () => T): T => {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let out: T;
    try {
      out = fn();
    } finally {
      const v = device.popErrorScope();
      const m = device.popErrorScope();
      pending.push(Promise.all([v, m]).then(([ve, me]) => {
        if (ve) return new Error(`WebGPU validation error in ${label}: ${ve.message}`);
        if (me) return new Error(`WebGPU out of memory in ${label}: ${me.message}`);
        return null;
      }, (e: Error) => new Error(`WebGPU error scope in ${label}: ${e.message}`)));
    }
    return out;
  };
  const checkScopes = async (): Promise<void> => {
    const ps = pending;
    pending = [];
    const errors = (await Promise.all(ps)).filter((e) => e !== null);
    if (errors.length) throw errors[0];
  };

  return {
    device, adapter, info, features: [...features],
    failure,
    lostError: () => lost,
    checkScopes,
    scoped,
    destroy: () => { destroyed = true; device.destroy(); },
  };
}

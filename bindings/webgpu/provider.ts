// The dawn.node provider: implements the GPU port (port.ts) over a GPUDevice from dawn.node (npm
// `webgpu`), opened with the adapter's real limits and the optional features the kernels can use,
// and turns every way a device can fail (no adapter, loss, uncaptured errors, validation /
// out-of-memory in error scopes) into plain thrown JS Errors, so nothing hangs or fails silently.
// JS objects own the GPU objects here: transient ones (encoders, bind groups) are collected.
// dawn.node (a native addon) is imported by the first openDevice(), not when this module loads:
// importing the engine must not load it for a WASM-only user. The adapter request runs with
// Dawn's native warnings kept off stderr (dawn_noise.ts).
import type {
  AdapterDescription, BindingType, BufferRole, GpuPort, PortBinding, PortBuffer, PortCommands, PortEncoder,
  PortKernel, PortLimits, PortModule, PortPass, PortQuerySet, TimestampWrites,
} from './port.ts';
import { quietNativeStderr } from './dawn_noise.ts';

export { describeAdapter, type AdapterDescription } from './port.ts';

/** Optional features requested when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

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

function usageOf(role: BufferRole): number {
  switch (role) {
    case 'storage': return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    case 'uniform': return GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    case 'readback': return GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    case 'query-resolve': return GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC;
  }
}

interface DawnKernel extends PortKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

class DawnPass implements PortPass {
  constructor(private device: GPUDevice, private pass: GPUComputePassEncoder) {}

  dispatch(kernel: PortKernel, bindings: readonly PortBinding[], x: number, y: number, z: number, label: string): void {
    const k = kernel as DawnKernel;
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => ({
      binding: i, resource: { buffer: b.buffer as GPUBuffer, offset: b.offset, size: b.size },
    }));
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, this.device.createBindGroup({ label, layout: k.layout, entries }));
    this.pass.dispatchWorkgroups(x, y, z);
  }

  end(): void { this.pass.end(); }
}

class DawnEncoder implements PortEncoder {
  private encoder: GPUCommandEncoder;
  constructor(private device: GPUDevice) { this.encoder = device.createCommandEncoder(); }

  beginComputePass(label: string, t?: TimestampWrites): PortPass {
    const timestampWrites = t
      ? { querySet: t.querySet as GPUQuerySet, beginningOfPassWriteIndex: t.beginIndex, endOfPassWriteIndex: t.endIndex }
      : undefined;
    return new DawnPass(this.device, this.encoder.beginComputePass({ label, timestampWrites }));
  }

  copyBufferToBuffer(src: PortBuffer, srcOffset: number, dst: PortBuffer, dstOffset: number, size: number): void {
    this.encoder.copyBufferToBuffer(src as GPUBuffer, srcOffset, dst as GPUBuffer, dstOffset, size);
  }

  resolveQuerySet(q: PortQuerySet, first: number, count: number, dst: PortBuffer, dstOffset: number): void {
    this.encoder.resolveQuerySet(q as GPUQuerySet, first, count, dst as GPUBuffer, dstOffset);
  }

  finish(): PortCommands { return this.encoder.finish() as unknown as PortCommands; }
}

class DawnPort implements GpuPort {
  readonly provider = 'dawn.node';
  private lost: Error | null = null;
  private uncaptured: Error | null = null;
  private destroyed = false;
  // Scope results resolve to an Error or null (never reject), so an unchecked scope cannot
  // become an unhandled rejection.
  private pending: Promise<Error | null>[] = [];

  constructor(readonly device: GPUDevice, readonly info: AdapterDescription, readonly features: readonly string[],
    readonly limits: PortLimits) {
    device.lost.then((l) => {
      if (!this.destroyed) this.lost = new Error(`WebGPU device lost (${l.reason}): ${l.message}`);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured ??= new Error(`WebGPU uncaptured ${e.constructor?.name ?? 'error'}: ${e.message}`);
    });
  }

  createBuffer(label: string, size: number, role: BufferRole): PortBuffer {
    return this.device.createBuffer({ label, size, usage: usageOf(role) });
  }

  destroyBuffer(b: PortBuffer): void { (b as GPUBuffer).destroy(); }

  writeBuffer(b: PortBuffer, offset: number, data: ArrayBufferView, size = data.byteLength): void {
    this.device.queue.writeBuffer(b as GPUBuffer, offset, data.buffer, data.byteOffset, size);
  }

  async mapRead(b: PortBuffer, size: number): Promise<ArrayBuffer> {
    const buf = b as GPUBuffer;
    await buf.mapAsync(GPUMapMode.READ, 0, size);
    const copy = buf.getMappedRange(0, size).slice(0);
    buf.unmap();
    return copy;
  }

  compile(label: string, code: string): PortModule {
    return this.device.createShaderModule({ label, code });
  }

  createKernel(module: PortModule, entry: string, constants: Record<string, number>, bindings: readonly BindingType[], label: string): PortKernel {
    const layout = this.device.createBindGroupLayout({
      label: `${entry} layout`,
      entries: bindings.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
    });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: module as GPUShaderModule, entryPoint: entry, constants },
    });
    const kernel: DawnKernel = { label, pipeline, layout };
    return kernel;
  }

  createQuerySet(count: number): PortQuerySet {
    return this.device.createQuerySet({ type: 'timestamp', count });
  }

  destroyQuerySet(q: PortQuerySet): void { (q as GPUQuerySet).destroy(); }

  createEncoder(): PortEncoder { return new DawnEncoder(this.device); }

  submit(commands: PortCommands): void {
    this.device.queue.submit([commands as unknown as GPUCommandBuffer]);
  }

  workDone(): Promise<void> { return this.device.queue.onSubmittedWorkDone(); }

  scoped<T>(label: string, fn: () => T): T {
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let out: T;
    try {
      out = fn();
    } finally {
      const v = device.popErrorScope();
      const m = device.popErrorScope();
      this.pending.push(Promise.all([v, m]).then(([ve, me]) => {
        if (ve) return new Error(`WebGPU validation error in ${label}: ${ve.message}`);
        if (me) return new Error(`WebGPU out of memory in ${label}: ${me.message}`);
        return null;
      }, (e: Error) => new Error(`WebGPU error scope in ${label}: ${e.message}`)));
    }
    return out;
  }

  async checkScopes(): Promise<void> {
    const ps = this.pending;
    this.pending = [];
    const errors = (await Promise.all(ps)).filter((e) => e !== null);
    if (errors.length) throw errors[0];
  }

  failure(): Error | null {
    if (this.lost) return this.lost;
    const u = this.uncaptured;
    this.uncaptured = null;
    return u;
  }

  lostError(): Error | null { return this.lost; }

  destroy(): void {
    this.destroyed = true;
    this.device.destroy();
  }
}

/** Opens the first high-performance adapter through dawn.node, as a GPU port. */
export async function openDevice(): Promise<GpuPort> {
  const g = await gpu();
  // Dawn prints its limit warnings inside this call, synchronously: only the call is quietened
  const adapter = await quietNativeStderr(() => g.requestAdapter({ powerPreference: 'high-performance' }));
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
  const l = device.limits;
  const limits: PortLimits = {
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
  };
  return new DawnPort(device, info, [...features], limits);
}

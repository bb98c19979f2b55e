// The GPU port (port.ts) over the standard WebGPU JavaScript API: a GPUDevice opened with the
// adapter's real limits and the optional features the kernels can use. Two providers hand it
// their `GPU` object: dawn.node (provider.ts, npm `webgpu`) and a browser's navigator.gpu
// (bindings/host/browser.ts). Every way a device can fail (no adapter, loss, uncaptured errors,
// validation / out-of-memory in error scopes) becomes a plain thrown JS Error, so nothing hangs or
// fails silently. JS objects own the GPU objects here: transient ones (encoders, bind groups) are
// collected.
import type {
  AdapterDescription, BindingType, BufferRole, GpuPort, PortBinding, PortBuffer, PortCommands, PortEncoder,
  PortKernel, PortLimits, PortModule, PortPass, PortQuerySet, TimestampWrites,
} from './port.ts';
import { DeviceFailures, PendingScopes } from './port.ts';

export { describeAdapter, type AdapterDescription } from './port.ts';

/** Optional features requested when the adapter has them. */
export const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

function usageOf(role: BufferRole): number {
  switch (role) {
    case 'storage': return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    case 'uniform': return GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    case 'readback': return GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    case 'query-resolve': return GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC;
  }
}

interface ApiKernel extends PortKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

class ApiPass implements PortPass {
  constructor(private device: GPUDevice, private pass: GPUComputePassEncoder) {}

  dispatch(kernel: PortKernel, bindings: readonly PortBinding[], x: number, y: number, z: number, label: string): void {
    const k = kernel as ApiKernel;
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => ({
      binding: i, resource: { buffer: b.buffer as GPUBuffer, offset: b.offset, size: b.size },
    }));
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, this.device.createBindGroup({ label, layout: k.layout, entries }));
    this.pass.dispatchWorkgroups(x, y, z);
  }

  end(): void { this.pass.end(); }
}

class ApiEncoder implements PortEncoder {
  private encoder: GPUCommandEncoder;
  constructor(private device: GPUDevice) { this.encoder = device.createCommandEncoder(); }

  beginComputePass(label: string, t?: TimestampWrites): PortPass {
    const timestampWrites = t
      ? { querySet: t.querySet as GPUQuerySet, beginningOfPassWriteIndex: t.beginIndex, endOfPassWriteIndex: t.endIndex }
      : undefined;
    return new ApiPass(this.device, this.encoder.beginComputePass({ label, timestampWrites }));
  }

  copyBufferToBuffer(src: PortBuffer, srcOffset: number, dst: PortBuffer, dstOffset: number, size: number): void {
    this.encoder.copyBufferToBuffer(src as GPUBuffer, srcOffset, dst as GPUBuffer, dstOffset, size);
  }

  resolveQuerySet(q: PortQuerySet, first: number, count: number, dst: PortBuffer, dstOffset: number): void {
    this.encoder.resolveQuerySet(q as GPUQuerySet, first, count, dst as GPUBuffer, dstOffset);
  }

  finish(): PortCommands { return this.encoder.finish() as unknown as PortCommands; }
}

class ApiPort implements GpuPort {
  private readonly failures = new DeviceFailures();
  private destroyed = false;
  // Scope results resolve to an Error or null (never reject), so an unchecked scope cannot
  // become an unhandled rejection.
  private readonly pending = new PendingScopes();

  constructor(readonly provider: string, readonly device: GPUDevice, readonly info: AdapterDescription, readonly features: readonly string[],
    readonly limits: PortLimits) {
    device.lost.then((l) => {
      if (!this.destroyed) this.failures.lose(new Error(`WebGPU device lost (${l.reason}): ${l.message}`));
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.failures.uncaptured(new Error(`WebGPU uncaptured ${e.constructor?.name ?? 'error'}: ${e.message}`));
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
    const kernel: ApiKernel = { label, pipeline, layout };
    return kernel;
  }

  createQuerySet(count: number): PortQuerySet {
    return this.device.createQuerySet({ type: 'timestamp', count });
  }

  destroyQuerySet(q: PortQuerySet): void { (q as GPUQuerySet).destroy(); }

  createEncoder(): PortEncoder { return new ApiEncoder(this.device); }

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
      this.pending.add(Promise.all([v, m]).then(([ve, me]) => {
        if (ve) return new Error(`WebGPU validation error in ${label}: ${ve.message}`);
        if (me) return new Error(`WebGPU out of memory in ${label}: ${me.message}`);
        return null;
      }, (e: Error) => new Error(`WebGPU error scope in ${label}: ${e.message}`)));
    }
    return out;
  }

  checkScopes(): Promise<void> { return this.pending.check(); }

  failure(): Error | null { return this.failures.failure(); }

  lostError(): Error | null { return this.failures.lost(); }

  destroy(): void {
    this.destroyed = true;
    this.device.destroy();
  }
}

/**
 * Opens the first high-performance adapter of `gpu` as a GPU port. `provider` names it in
 * descriptions ('dawn.node'); `noAdapter` is the error's message when there is none; `around`
 * runs the (synchronous part of the) adapter request (dawn.node: with its native warnings quiet).
 */
export async function openPort(gpu: GPU, provider: string, noAdapter: string,
  around: <T>(request: () => T) => T | Promise<T> = (request) => request()): Promise<GpuPort> {
  const adapter = await around(() => gpu.requestAdapter({ powerPreference: 'high-performance' }));
  if (!adapter) throw new Error(noAdapter);

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
  return new ApiPort(provider, device, info, [...features], limits);
}

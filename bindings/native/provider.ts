// The native provider: the GPU port (bindings/webgpu/port.ts) over a webgpu.h library through
// koffi. It covers exactly what the engine uses: on top of the device (device.ts: instance,
// adapter, device with limits and features, adapter info, error scopes, the uncaptured-error
// callback, device loss), buffers and queue writes, mapping for reading, WGSL modules with their
// compilation messages, compute pipelines and bind groups, encoders, compute passes, submission
// and timestamp queries.
//
// Ownership: every handle the port creates is counted in `handles` under its kind and released
// exactly once (a second release throws). Transient objects go as soon as their use ends: a bind
// group right after it is set (the encoder keeps what it references), a pass after end(), an
// encoder after finish(), a command buffer after submit. Long-lived ones (modules, pipelines,
// layouts, query sets, buffers, queue, device, adapter, instance) are released by destroy().
import type {
  BindingType, BufferRole, GpuPort, PortBinding, PortBuffer, PortCommands, PortEncoder,
  PortKernel, PortModule, PortPass, PortQuerySet, TimestampWrites,
} from '../webgpu/port.ts';
import { NativeDevice } from './device.ts';
import * as H from './header.ts';
import type { StringViewValue, WebGPULibrary } from './library.ts';

class NativeBuffer implements PortBuffer {
  destroyed = false;
  constructor(readonly ptr: bigint, readonly size: number, readonly label: string) {}
}
interface NativeModule extends PortModule { ptr: bigint }
interface NativeKernel extends PortKernel { pipeline: bigint; pipelineLayout: bigint; bindGroupLayout: bigint }
interface NativeQuerySet extends PortQuerySet { ptr: bigint }
interface NativeCommands extends PortCommands { ptr: bigint; invalid: string | null }

class NativePass implements PortPass {
  constructor(private port: NativePort, private encoder: NativeEncoder, private ptr: bigint) {}
  dispatch(kernel: PortKernel, bindings: readonly PortBinding[], x: number, y: number, z: number, label: string): void {
    const freed = bindings.find((b) => (b.buffer as NativeBuffer).destroyed);
    // a released handle must never reach the library: the command is dropped and the submit
    // fails with a validation error, as WebGPU does with a destroyed buffer
    if (freed) this.encoder.invalid ??= `${label} binds ${(freed.buffer as NativeBuffer).label}, which was freed`;
    else this.port.dispatchIn(this.ptr, kernel as NativeKernel, bindings, x, y, z, label);
  }
  end(): void { this.port.endPass(this.ptr); }
}

class NativeEncoder implements PortEncoder {
  /** why the commands must not be submitted (a freed buffer was used), if so */
  invalid: string | null = null;
  constructor(private port: NativePort, private ptr: bigint) {}
  beginComputePass(label: string, t?: TimestampWrites): PortPass {
    return new NativePass(this.port, this, this.port.beginPass(this.ptr, label, t));
  }
  copyBufferToBuffer(src: PortBuffer, srcOffset: number, dst: PortBuffer, dstOffset: number, size: number): void {
    const s = src as NativeBuffer, d = dst as NativeBuffer;
    if (s.destroyed || d.destroyed) {
      this.invalid ??= `a copy of ${size} bytes from ${s.label} to ${d.label} uses ${s.destroyed ? s.label : d.label}, which was freed`;
      return;
    }
    this.port.lib.fn.wgpuCommandEncoderCopyBufferToBuffer(this.ptr, s.ptr, srcOffset, d.ptr, dstOffset, size);
  }
  resolveQuerySet(q: PortQuerySet, first: number, count: number, dst: PortBuffer, dstOffset: number): void {
    this.port.lib.fn.wgpuCommandEncoderResolveQuerySet(this.ptr, (q as NativeQuerySet).ptr, first, count, (dst as NativeBuffer).ptr, dstOffset);
  }
  finish(): PortCommands { return this.port.finishEncoder(this.ptr, this.invalid); }
}

export class NativePort extends NativeDevice implements GpuPort {
  private modules = new Set<NativeModule>();
  private kernels = new Set<NativeKernel>();
  private querySets = new Set<NativeQuerySet>();
  private buffers = new Set<NativeBuffer>();

  /** (open()) A use of the feature that fails validation when it is not enabled. */
  protected probeFeature(f: H.OptionalFeature): void {
    if (f === 'timestamp-query') this.destroyQuerySet(this.createQuerySet(2));
    else if (f === 'shader-f16') this.compile('feature probe', 'enable f16;\n@compute @workgroup_size(1) fn main() { var x = 1.0h; x += 1.0h; }');
    else this.compile('feature probe', 'enable subgroups;\n@compute @workgroup_size(1) fn main() {}');
  }

  /** (closing the device) Buffers, query sets, pipelines with their layouts, shader modules. */
  protected releaseDeviceObjects(): void {
    for (const b of [...this.buffers]) this.destroyBuffer(b);
    for (const q of [...this.querySets]) this.destroyQuerySet(q);
    for (const k of this.kernels) {
      this.release('computePipeline', k.pipeline);
      this.release('pipelineLayout', k.pipelineLayout);
      this.release('bindGroupLayout', k.bindGroupLayout);
    }
    this.kernels.clear();
    for (const m of this.modules) this.release('shaderModule', m.ptr);
    this.modules.clear();
  }

  createBuffer(label: string, size: number, role: BufferRole): PortBuffer {
    const a = this.arena;
    a.reset();
    const d = a.alloc(H.BufferDescriptor);
    a.str(d + H.BufferDescriptor.at.label, label);
    a.u64(d + H.BufferDescriptor.at.usage, usageOf(role));
    a.u64(d + H.BufferDescriptor.at.size, size);
    const ptr = this.handles.add('buffer', this.lib.fn.wgpuDeviceCreateBuffer(this.device, a.addr(d)) as bigint | null,
      `buffer ${label} (${size} bytes)`);
    const b = new NativeBuffer(ptr, size, label);
    this.buffers.add(b);
    return b;
  }

  destroyBuffer(buf: PortBuffer): void {
    const b = buf as NativeBuffer;
    if (b.destroyed) return;
    b.destroyed = true;
    this.buffers.delete(b);
    this.lib.fn.wgpuBufferDestroy(b.ptr);
    this.release('buffer', b.ptr);
  }

  writeBuffer(buf: PortBuffer, offset: number, data: ArrayBufferView, size = data.byteLength): void {
    const b = buf as NativeBuffer;
    if (b.destroyed) { this.reportError(`a write of ${size} bytes to ${b.label}, which was freed`); return; }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, size);
    this.lib.fn.wgpuQueueWriteBuffer(this.queue, (buf as NativeBuffer).ptr, offset, bytes, size);
  }

  async mapRead(buf: PortBuffer, size: number): Promise<ArrayBuffer> {
    const b = buf as NativeBuffer;
    const [status, message] = await this.request<[number, StringViewValue]>('map', `mapping ${b.label} (${size} bytes)`,
      (info) => this.lib.fn.wgpuBufferMapAsync(b.ptr, H.MapMode.Read, 0, size, info), 'queue');
    if (status !== H.MapAsyncStatus.Success) {
      throw new Error(`WebGPU: mapping ${b.label} (${size} bytes) for reading failed (status ${status}): ${this.lib.text(message)}`);
    }
    try {
      const ptr = this.lib.fn.wgpuBufferGetConstMappedRange(b.ptr, 0, size) as bigint | null;
      if (!ptr) throw new Error(`WebGPU: the mapped range of ${b.label} (${size} bytes) is NULL`);
      return this.lib.koffi.view(ptr, size).slice(0);
    } finally {
      this.lib.fn.wgpuBufferUnmap(b.ptr);
    }
  }

  compile(label: string, code: string): PortModule {
    const a = this.arena;
    a.reset(code.length * 3 + label.length * 3);
    const d = a.alloc(H.ShaderModuleDescriptor), src = a.alloc(H.ShaderSourceWGSL);
    a.ptr(d + H.ShaderModuleDescriptor.at.nextInChain, a.addr(src));
    a.u32(src + H.ShaderSourceWGSL.at.chain + H.ChainedStruct.at.sType, H.SType.ShaderSourceWGSL);
    a.str(d + H.ShaderModuleDescriptor.at.label, label);
    a.str(src + H.ShaderSourceWGSL.at.code, code);
    const ptr = this.handles.add('shaderModule', this.lib.fn.wgpuDeviceCreateShaderModule(this.device, a.addr(d)) as bigint | null,
      `shader module ${label}`);
    const module: NativeModule = { label, ptr };
    this.modules.add(module);
    // the compilation messages join the error report of the scope this runs in
    const notes = this.request<[number, bigint | null]>('compilationInfo', `compilation info of ${label}`,
      (info) => this.lib.fn.wgpuShaderModuleGetCompilationInfo(ptr, info), 'cpu')
      .then(([status, infoPtr]) => (status === H.CompilationInfoRequestStatus.Success ? this.compilationText(label, infoPtr) : ''), () => '');
    this.scope?.notes.push(notes);
    return module;
  }

  /** The error and warning messages of a WGPUCompilationInfo, one per line. */
  private compilationText(label: string, infoPtr: bigint | null): string {
    if (!infoPtr) return '';
    const { koffi } = this.lib;
    const head = new DataView(koffi.view(infoPtr, H.CompilationInfo.size));
    const count = Number(head.getBigUint64(H.CompilationInfo.at.messageCount, true));
    const msgs = head.getBigUint64(H.CompilationInfo.at.messages, true);
    const lines: string[] = [];
    for (let i = 0; i < count && msgs; i++) {
      const base = msgs + BigInt(i * H.CompilationMessage.size);
      const m = new DataView(koffi.view(base, H.CompilationMessage.size));
      const at = H.CompilationMessage.at;
      const text = this.lib.text({ data: m.getBigUint64(at.message, true), length: m.getBigUint64(at.message + 8, true) });
      const type = H.CompilationMessageType[m.getUint32(at.type, true)] ?? 'message';
      lines.push(`${label}.wgsl:${m.getBigUint64(at.lineNum, true)}:${m.getBigUint64(at.linePos, true)} ${type}: ${text}`);
    }
    return lines.join('\n');
  }

  createKernel(module: PortModule, entry: string, constants: Record<string, number>, bindings: readonly BindingType[], label: string): PortKernel {
    const { lib, arena: a } = this;
    // bind group layout: binding i of the given type, visible to compute
    a.reset();
    const bl = a.alloc(H.BindGroupLayoutDescriptor), entries = a.alloc(H.BindGroupLayoutEntry, bindings.length);
    a.str(bl + H.BindGroupLayoutDescriptor.at.label, `${entry} layout`);
    a.u64(bl + H.BindGroupLayoutDescriptor.at.entryCount, bindings.length);
    a.ptr(bl + H.BindGroupLayoutDescriptor.at.entries, a.addr(entries));
    bindings.forEach((type, i) => {
      const e = entries + i * H.BindGroupLayoutEntry.size;
      a.u32(e + H.BindGroupLayoutEntry.at.binding, i);
      a.u64(e + H.BindGroupLayoutEntry.at.visibility, H.ShaderStage.Compute);
      a.u32(e + H.BindGroupLayoutEntry.at.buffer + H.BufferBindingLayout.at.type, bindingType(type));
    });
    const bindGroupLayout = this.handles.add('bindGroupLayout', lib.fn.wgpuDeviceCreateBindGroupLayout(this.device, a.addr(bl)) as bigint | null,
      `the bind group layout of ${label}`);
    // pipeline layout
    a.reset();
    const pl = a.alloc(H.PipelineLayoutDescriptor), list = a.alloc(8);
    a.ptr(list, bindGroupLayout);
    a.u64(pl + H.PipelineLayoutDescriptor.at.bindGroupLayoutCount, 1);
    a.ptr(pl + H.PipelineLayoutDescriptor.at.bindGroupLayouts, a.addr(list));
    const pipelineLayout = this.handles.add('pipelineLayout', lib.fn.wgpuDeviceCreatePipelineLayout(this.device, a.addr(pl)) as bigint | null,
      `the pipeline layout of ${label}`);
    // compute pipeline, with the override constants
    a.reset();
    const keys = Object.keys(constants);
    const cp = a.alloc(H.ComputePipelineDescriptor), consts = a.alloc(H.ConstantEntry, Math.max(1, keys.length));
    const cs = cp + H.ComputePipelineDescriptor.at.compute;
    a.str(cp + H.ComputePipelineDescriptor.at.label, label);
    a.ptr(cp + H.ComputePipelineDescriptor.at.layout, pipelineLayout);
    a.ptr(cs + H.ComputeState.at.module, (module as NativeModule).ptr);
    a.str(cs + H.ComputeState.at.entryPoint, entry);
    keys.forEach((k, i) => {
      const c = consts + i * H.ConstantEntry.size;
      a.str(c + H.ConstantEntry.at.key, k);
      a.f64(c + H.ConstantEntry.at.value, constants[k]);
    });
    a.u64(cs + H.ComputeState.at.constantCount, keys.length);
    a.ptr(cs + H.ComputeState.at.constants, keys.length ? a.addr(consts) : null);
    const pipeline = this.handles.add('computePipeline', lib.fn.wgpuDeviceCreateComputePipeline(this.device, a.addr(cp)) as bigint | null,
      `the compute pipeline ${label}`);
    const kernel: NativeKernel = { label, pipeline, pipelineLayout, bindGroupLayout };
    this.kernels.add(kernel);
    return kernel;
  }

  createQuerySet(count: number): PortQuerySet {
    const a = this.arena;
    a.reset();
    const d = a.alloc(H.QuerySetDescriptor);
    a.u32(d + H.QuerySetDescriptor.at.type, H.QueryType.Timestamp);
    a.u32(d + H.QuerySetDescriptor.at.count, count);
    const ptr = this.handles.add('querySet', this.lib.fn.wgpuDeviceCreateQuerySet(this.device, a.addr(d)) as bigint | null,
      `a timestamp query set (${count} queries)`);
    const q: NativeQuerySet = { count, ptr };
    this.querySets.add(q);
    return q;
  }

  destroyQuerySet(q: PortQuerySet): void {
    const s = q as NativeQuerySet;
    if (!this.querySets.delete(s)) return;
    this.lib.fn.wgpuQuerySetDestroy(s.ptr);
    this.release('querySet', s.ptr);
  }

  createEncoder(): PortEncoder {
    const ptr = this.handles.add('commandEncoder', this.lib.fn.wgpuDeviceCreateCommandEncoder(this.device, null) as bigint | null, 'a command encoder');
    return new NativeEncoder(this, ptr);
  }

  /** (NativeEncoder) */
  beginPass(encoder: bigint, label: string, t?: TimestampWrites): bigint {
    const a = this.arena;
    a.reset();
    const d = a.alloc(H.ComputePassDescriptor);
    a.str(d + H.ComputePassDescriptor.at.label, label);
    if (t) {
      const tw = a.alloc(H.PassTimestampWrites);
      a.ptr(tw + H.PassTimestampWrites.at.querySet, (t.querySet as NativeQuerySet).ptr);
      a.u32(tw + H.PassTimestampWrites.at.beginningOfPassWriteIndex, t.beginIndex);
      a.u32(tw + H.PassTimestampWrites.at.endOfPassWriteIndex, t.endIndex);
      a.ptr(d + H.ComputePassDescriptor.at.timestampWrites, a.addr(tw));
    }
    return this.handles.add('computePass', this.lib.fn.wgpuCommandEncoderBeginComputePass(encoder, a.addr(d)) as bigint | null, `compute pass ${label}`);
  }

  /** (NativePass) One dispatch: a bind group for `bindings`, pipeline, bind group, workgroups. */
  dispatchIn(pass: bigint, k: NativeKernel, bindings: readonly PortBinding[], x: number, y: number, z: number, label: string): void {
    const { lib, arena: a } = this;
    a.reset();
    const d = a.alloc(H.BindGroupDescriptor), entries = a.alloc(H.BindGroupEntry, bindings.length);
    a.str(d + H.BindGroupDescriptor.at.label, label);
    a.ptr(d + H.BindGroupDescriptor.at.layout, k.bindGroupLayout);
    a.u64(d + H.BindGroupDescriptor.at.entryCount, bindings.length);
    a.ptr(d + H.BindGroupDescriptor.at.entries, a.addr(entries));
    bindings.forEach((b, i) => {
      const e = entries + i * H.BindGroupEntry.size;
      a.u32(e + H.BindGroupEntry.at.binding, i);
      a.ptr(e + H.BindGroupEntry.at.buffer, (b.buffer as NativeBuffer).ptr);
      a.u64(e + H.BindGroupEntry.at.offset, b.offset ?? 0);
      a.u64(e + H.BindGroupEntry.at.size, b.size ?? H.WGPU_WHOLE_SIZE);
    });
    const group = this.handles.add('bindGroup', lib.fn.wgpuDeviceCreateBindGroup(this.device, a.addr(d)) as bigint | null, `the bind group of ${label}`);
    lib.fn.wgpuComputePassEncoderSetPipeline(pass, k.pipeline);
    lib.fn.wgpuComputePassEncoderSetBindGroup(pass, 0, group, 0, null);
    this.release('bindGroup', group);
    lib.fn.wgpuComputePassEncoderDispatchWorkgroups(pass, x, y, z);
  }

  /** (NativePass) */
  endPass(pass: bigint): void {
    this.lib.fn.wgpuComputePassEncoderEnd(pass);
    this.release('computePass', pass);
  }

  /** (NativeEncoder) */
  finishEncoder(encoder: bigint, invalid: string | null): PortCommands {
    const cmd = this.lib.fn.wgpuCommandEncoderFinish(encoder, null) as bigint | null;
    this.release('commandEncoder', encoder);
    const commands: NativeCommands = { ptr: this.handles.add('commandBuffer', cmd, 'a command buffer'), invalid };
    return commands;
  }

  submit(commands: PortCommands): void {
    const { ptr, invalid } = commands as NativeCommands;
    if (invalid) {
      this.release('commandBuffer', ptr);
      this.reportError(`${invalid}; the submit was dropped`);
      return;
    }
    const a = this.arena;
    a.reset();
    const list = a.alloc(8);
    a.ptr(list, ptr);
    this.lib.fn.wgpuQueueSubmit(this.queue, 1, a.addr(list));
    this.release('commandBuffer', ptr);
  }

  async workDone(): Promise<void> {
    const [status, message] = await this.request<[number, StringViewValue]>('workDone', 'waiting for submitted work',
      (info) => this.lib.fn.wgpuQueueOnSubmittedWorkDone(this.queue, info), 'queue');
    if (status !== H.QueueWorkDoneStatus.Success) throw new Error(`WebGPU: submitted work failed (status ${status}): ${this.lib.text(message)}`);
  }
}

function usageOf(role: BufferRole): bigint {
  const U = H.BufferUsage;
  switch (role) {
    case 'storage': return U.Storage | U.CopySrc | U.CopyDst;
    case 'uniform': return U.Uniform | U.CopyDst;
    case 'readback': return U.MapRead | U.CopyDst;
    case 'query-resolve': return U.QueryResolve | U.CopySrc;
  }
}

function bindingType(t: BindingType): number {
  return t === 'uniform' ? H.BufferBindingType.Uniform : t === 'storage' ? H.BufferBindingType.Storage : H.BufferBindingType.ReadOnlyStorage;
}

/** Opens an adapter and a device on the library, as a GPU port. */
export async function openNativeDevice(lib: WebGPULibrary, waits: 'timed' | 'poll' = 'timed'): Promise<NativePort> {
  const port = new NativePort(lib, waits);
  try {
    await port.open();
  } catch (e) {
    port.destroy();
    throw e;
  }
  return port;
}

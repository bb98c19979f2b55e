// The native provider: the GPU port (bindings/webgpu/port.ts) over a webgpu.h library through
// koffi. It covers exactly what the engine uses: instance, adapter and device (limits, features,
// adapter info), buffers and queue writes, mapping for reading, WGSL modules with their
// compilation messages, compute pipelines and bind groups, encoders, compute passes, submission,
// timestamp queries, error scopes, the uncaptured-error callback and device loss.
//
// Ownership: every handle the port creates is counted in `handles` under its kind and released
// exactly once (a second release throws). Transient objects go as soon as their use ends: a bind
// group right after it is set (the encoder keeps what it references), a pass after end(), an
// encoder after finish(), a command buffer after submit. Long-lived ones (modules, pipelines,
// layouts, query sets, buffers, queue, device, adapter, instance) are released by destroy().
import type {
  AdapterDescription, BindingType, BufferRole, GpuPort, PortBinding, PortBuffer, PortCommands, PortEncoder,
  PortKernel, PortLimits, PortModule, PortPass, PortQuerySet, TimestampWrites,
} from '../webgpu/port.ts';
import { Arena } from './arena.ts';
import { Poller } from './events.ts';
import * as H from './header.ts';
import { WebGPULibraryError, type FunctionName, type StringViewValue, type WebGPULibrary } from './library.ts';

/** Optional features requested when the adapter has them (as on dawn.node). */
const WANTED_FEATURES: readonly H.OptionalFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];
/** A use of each optional feature that fails with a validation error when it is not enabled. */
const FEATURE_PROBES: Record<H.OptionalFeature, (port: NativePort) => void> = {
  'timestamp-query': (port) => port.destroyQuerySet(port.createQuerySet(2)),
  'shader-f16': (port) => port.compileProbe('enable f16;\n@compute @workgroup_size(1) fn main() { var x = 1.0h; x += 1.0h; }'),
  subgroups: (port) => port.compileProbe('enable subgroups;\n@compute @workgroup_size(1) fn main() {}'),
};
/** Room for a library's WGPULimits beyond the header's members (Dawn appends a few). */
const LIMITS_BYTES = H.Limits.size + 256;

export type HandleKind = 'instance' | 'adapter' | 'device' | 'queue' | 'buffer' | 'shaderModule' | 'bindGroupLayout'
  | 'pipelineLayout' | 'computePipeline' | 'bindGroup' | 'commandEncoder' | 'computePass' | 'commandBuffer' | 'querySet';

/**
 * Live handles by kind: each is added when created and removed exactly once when released.
 * References, not objects, are counted: an implementation may return one object for two
 * identical descriptors (Dawn does for layouts), and each return is one reference to release.
 */
export class HandleTable {
  private live = new Map<HandleKind, Map<bigint, number>>();

  add(kind: HandleKind, h: bigint | null, what: string): bigint {
    if (h === null || h === 0n) throw new Error(`webgpu.h: creating ${what} returned NULL`);
    let refs = this.live.get(kind);
    if (!refs) this.live.set(kind, refs = new Map());
    refs.set(h, (refs.get(h) ?? 0) + 1);
    return h;
  }

  remove(kind: HandleKind, h: bigint): void {
    const refs = this.live.get(kind), n = refs?.get(h) ?? 0;
    if (n === 0) throw new Error(`webgpu.h: ${kind} ${h.toString(16)} released more often than it was created`);
    if (n === 1) refs!.delete(h); else refs!.set(h, n - 1);
  }

  /** Live references by kind (kinds with none left out). */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, refs] of this.live) {
      let n = 0;
      for (const c of refs.values()) n += c;
      if (n) out[k] = n;
    }
    return out;
  }
}

class NativeBuffer implements PortBuffer {
  destroyed = false;
  constructor(readonly ptr: bigint, readonly size: number, readonly label: string) {}
}
interface NativeModule extends PortModule { ptr: bigint }
interface NativeKernel extends PortKernel { pipeline: bigint; pipelineLayout: bigint; bindGroupLayout: bigint }
interface NativeQuerySet extends PortQuerySet { ptr: bigint }
interface NativeCommands extends PortCommands { ptr: bigint; invalid: string | null }

interface ScopeResult { status: number; type: number; message: string }

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

export class NativePort implements GpuPort {
  /** which library, and how its feature values are numbered where that is not the stable header's */
  get provider(): string {
    const n = this.featureNumbering && this.featureNumbering !== 'stable' ? `; feature values ${this.featureNumbering}` : '';
    return `webgpu.h (${this.lib.path}${this.lib.version ? `, ${this.lib.version}` : ''}${n})`;
  }
  readonly handles = new HandleTable();
  info: AdapterDescription = { vendor: '', architecture: '', device: '', description: '' };
  features: string[] = [];
  /** which WGPUFeatureName numbering the library turned out to use (header.ts) */
  featureNumbering = '';
  limits!: PortLimits;
  private arena: Arena;
  private poller: Poller;
  private instance: bigint;
  private adapter = 0n;
  private device = 0n;
  private queue = 0n;
  /** userdata1 of the device-lost and uncaptured-error callbacks */
  private readonly lostId: bigint;
  private readonly errorId: bigint;
  private lost: Error | null = null;
  private uncaptured: Error | null = null;
  private destroyed = false;
  private closing = false;
  private modules = new Set<NativeModule>();
  private kernels = new Set<NativeKernel>();
  private querySets = new Set<NativeQuerySet>();
  private buffers = new Set<NativeBuffer>();
  /** error-scope results: resolve to an Error or null, never reject */
  private pending: Promise<Error | null>[] = [];
  /** what the current scoped() call gathers: compilation messages, errors found on this side */
  private scope: { notes: Promise<string>[]; errors: string[] } | null = null;

  /** waits: 'timed' where the library offers timed waits (default), 'poll' to poll always (tests) */
  constructor(readonly lib: WebGPULibrary, waits: 'timed' | 'poll' = 'timed') {
    this.arena = new Arena(lib.koffi);
    this.lostId = lib.nextId();
    this.errorId = lib.nextId();
    // Timed waits let a read sleep until the GPU is done instead of polling: ask for them, and
    // fall back to polling where the library does not offer them.
    const a = this.arena;
    a.reset();
    const d = a.alloc(H.InstanceDescriptor), f = a.alloc(4);
    a.u32(f, H.InstanceFeatureName.TimedWaitAny);
    a.u64(d + H.InstanceDescriptor.at.requiredFeatureCount, 1);
    a.ptr(d + H.InstanceDescriptor.at.requiredFeatures, a.addr(f));
    let instance = waits === 'timed' ? lib.fn.wgpuCreateInstance(a.addr(d)) as bigint | null : null;
    const timed = !!instance;
    instance ??= lib.fn.wgpuCreateInstance(null) as bigint | null;
    this.instance = this.handles.add('instance', instance, 'the instance (wgpuCreateInstance)');
    this.poller = new Poller(lib, this.instance, timed);
    lib.on(this.lostId, (args) => {
      const [devicePtr, reason, message] = args as [bigint | null, number, StringViewValue];
      // the loss we caused (closing a device) is no failure; nor is the loss of an earlier device
      const device = devicePtr ? BigInt(lib.koffi.decode(devicePtr, 'void *') ?? 0) : 0n;
      if (this.destroyed || this.closing || device !== this.device) return;
      this.lost = new Error(`WebGPU device lost (${H.DeviceLostReason[reason] ?? reason}): ${lib.text(message)}`);
    });
    lib.on(this.errorId, (args) => {
      const [, type, message] = args as [unknown, number, StringViewValue];
      this.uncaptured ??= new Error(`WebGPU uncaptured ${H.ErrorType[type] ?? 'error'}: ${lib.text(message)}`);
    });
  }

  // ---- opening --------------------------------------------------------------------------------
  async open(): Promise<void> {
    const { lib, arena: a } = this;
    // adapter
    a.reset();
    const o = a.alloc(H.RequestAdapterOptions);
    a.u32(o + H.RequestAdapterOptions.at.powerPreference, H.PowerPreference.HighPerformance);
    const ra = await this.request<[number, bigint | null, StringViewValue]>('requestAdapter', 'requesting an adapter',
      (info) => lib.fn.wgpuInstanceRequestAdapter(this.instance, a.addr(o), info), 'cpu');
    if (ra[0] !== H.RequestAdapterStatus.Success || !ra[1]) {
      throw new Error(`WebGPU (${this.provider}): no adapter found (status ${ra[0]}${lib.text(ra[2]) ? `: ${lib.text(ra[2])}` : ''})`);
    }
    this.adapter = this.handles.add('adapter', ra[1], 'the adapter');
    this.info = this.adapterInfo();

    // limits: request everything the adapter has (the library's own struct, copied as is)
    const adapterLimits = Buffer.alloc(LIMITS_BYTES);
    if (Number(lib.fn.wgpuAdapterGetLimits(this.adapter, adapterLimits)) !== 1) throw new Error(`WebGPU (${this.provider}): wgpuAdapterGetLimits failed`);
    this.checkLimits(adapterLimits);
    // the optional features, in the first feature numbering whose features work when used
    const have = this.adapterFeatures();
    for (const numbering of H.FEATURE_NUMBERINGS) {
      const wanted = WANTED_FEATURES.filter((f) => have.has(numbering.values[f]));
      if (!wanted.length) continue;
      await this.createDevice(adapterLimits, wanted.map((f) => numbering.values[f]));
      const failed: string[] = [];
      for (const f of wanted) {
        try {
          this.scoped(`using ${f}`, () => FEATURE_PROBES[f](this));
          await this.checkScopes();
        } catch {
          failed.push(f);
        }
      }
      this.releaseModules();
      if (!failed.length) {
        this.features = [...wanted];
        this.featureNumbering = numbering.name;
        break;
      }
      this.closeDevice();
    }
    // no numbering confirmed (or the adapter has none of the features): none requested
    if (!this.device) await this.createDevice(adapterLimits, []);
    const granted = Buffer.alloc(LIMITS_BYTES);
    if (Number(lib.fn.wgpuDeviceGetLimits(this.device, granted)) !== 1) throw new Error(`WebGPU (${this.provider}): wgpuDeviceGetLimits failed`);
    const u32 = (m: string) => granted.readUInt32LE(H.Limits.at[m]);
    const u64 = (m: string) => Number(granted.readBigUInt64LE(H.Limits.at[m]));
    this.limits = {
      maxComputeWorkgroupsPerDimension: u32('maxComputeWorkgroupsPerDimension'),
      maxComputeWorkgroupStorageSize: u32('maxComputeWorkgroupStorageSize'),
      maxStorageBufferBindingSize: u64('maxStorageBufferBindingSize'),
      maxBufferSize: u64('maxBufferSize'),
    };
  }

  /** Creates the device and its queue with these limits (the adapter's, as it wrote them) and features. */
  private async createDevice(limits: Buffer, features: number[]): Promise<void> {
    const { lib, arena: a } = this;
    a.reset(LIMITS_BYTES);
    const dd = a.alloc(H.DeviceDescriptor), at = H.DeviceDescriptor.at;
    const feats = a.alloc(4 * Math.max(1, features.length));
    features.forEach((f, i) => a.u32(feats + 4 * i, f));
    const lim = a.alloc(LIMITS_BYTES);
    new Uint8Array(lib.koffi.view(a.addr(lim), LIMITS_BYTES)).set(limits);
    a.ptr(lim + H.Limits.at.nextInChain, null);
    a.str(dd + at.label, 'vaccine-engine');
    a.u64(dd + at.requiredFeatureCount, features.length);
    a.ptr(dd + at.requiredFeatures, a.addr(feats));
    a.ptr(dd + at.requiredLimits, a.addr(lim));
    const lostInfo = dd + at.deviceLostCallbackInfo;
    a.u32(lostInfo + H.CallbackInfo.at.mode, H.CallbackMode.AllowProcessEvents);
    a.ptr(lostInfo + H.CallbackInfo.at.callback, lib.callbacks.deviceLost);
    a.ptr(lostInfo + H.CallbackInfo.at.userdata1, this.lostId);
    const errInfo = dd + at.uncapturedErrorCallbackInfo;
    a.ptr(errInfo + H.UncapturedErrorCallbackInfo.at.callback, lib.callbacks.uncapturedError);
    a.ptr(errInfo + H.UncapturedErrorCallbackInfo.at.userdata1, this.errorId);
    const rd = await this.request<[number, bigint | null, StringViewValue]>('requestDevice', 'requesting a device',
      (info) => lib.fn.wgpuAdapterRequestDevice(this.adapter, a.addr(dd), info), 'cpu');
    if (rd[0] !== H.RequestDeviceStatus.Success || !rd[1]) {
      throw new Error(`WebGPU (${this.provider}): the device could not be created (status ${rd[0]}): ${lib.text(rd[2])}`);
    }
    this.device = this.handles.add('device', rd[1], 'the device');
    this.queue = this.handles.add('queue', lib.fn.wgpuDeviceGetQueue(this.device) as bigint, 'the queue');
  }

  /** Releases the device, its queue and its modules (open() may try another device). */
  private closeDevice(): void {
    const { lib } = this;
    this.releaseModules();
    this.release('queue', this.queue);
    this.closing = true;
    lib.fn.wgpuDeviceDestroy(this.device);
    this.poller.processEvents(); // the loss callback (reason: destroyed) runs now, while routed
    this.closing = false;
    this.release('device', this.device);
    this.queue = 0n;
    this.device = 0n;
  }

  /** Compiles `code` (feature probes; open() releases the module once its messages are in). */
  compileProbe(code: string): void {
    this.compile('feature probe', code);
  }

  private releaseModules(): void {
    for (const m of this.modules) { this.lib.fn.wgpuShaderModuleRelease(m.ptr); this.handles.remove('shaderModule', m.ptr); }
    this.modules.clear();
  }

  /** Whether reads sleep in timed waits (else they poll). */
  get timedWaits(): boolean { return this.poller.timed; }

  /** Live handles by kind, for leak checks. */
  liveHandles(): Record<string, number> { return this.handles.counts(); }

  /** The limits a webgpu.h implementation must report at least (WebGPU's defaults); garbage means a layout mismatch. */
  private checkLimits(l: Buffer): void {
    const u32 = (m: string) => l.readUInt32LE(H.Limits.at[m]);
    const u64 = (m: string) => l.readBigUInt64LE(H.Limits.at[m]);
    const bad: string[] = [];
    const within = (name: string, v: number | bigint, lo: number | bigint, hi: number | bigint) => {
      if (v < lo || v > hi) bad.push(`${name} = ${v}`);
    };
    within('maxComputeWorkgroupSizeX', u32('maxComputeWorkgroupSizeX'), 256, 1 << 20);
    within('maxComputeInvocationsPerWorkgroup', u32('maxComputeInvocationsPerWorkgroup'), 256, 1 << 20);
    within('maxComputeWorkgroupsPerDimension', u32('maxComputeWorkgroupsPerDimension'), 65535, 0xffffffff);
    within('maxComputeWorkgroupStorageSize', u32('maxComputeWorkgroupStorageSize'), 16384, 1 << 30);
    within('maxStorageBufferBindingSize', u64('maxStorageBufferBindingSize'), 134217728n, 1n << 60n);
    within('maxBufferSize', u64('maxBufferSize'), 268435456n, 1n << 60n);
    within('minUniformBufferOffsetAlignment', u32('minUniformBufferOffsetAlignment'), 1, 256);
    if (bad.length) {
      throw new WebGPULibraryError(`${this.lib.path} reports adapter limits that cannot be right (${bad.join(', ')}): `
        + 'its WGPULimits does not have the layout of the webgpu.h this engine is written to (the stable header)');
    }
  }

  private adapterInfo(): AdapterDescription {
    const { lib, arena: a } = this;
    a.reset();
    const at = a.alloc(H.AdapterInfo);
    if (Number(lib.fn.wgpuAdapterGetInfo(this.adapter, a.addr(at))) !== 1) throw new Error(`WebGPU (${this.provider}): wgpuAdapterGetInfo failed`);
    const info = lib.koffi.decode(a.addr(at), 'WGPUAdapterInfo') as Record<string, StringViewValue>;
    const out = {
      vendor: lib.text(info.vendor), architecture: lib.text(info.architecture),
      device: lib.text(info.device), description: lib.text(info.description),
    };
    lib.fn.wgpuAdapterInfoFreeMembers(info);
    return out;
  }

  private adapterFeatures(): Set<number> {
    const { lib } = this;
    const sf = Buffer.alloc(H.SupportedFeatures.size);
    lib.fn.wgpuAdapterGetFeatures(this.adapter, sf);
    const count = Number(sf.readBigUInt64LE(H.SupportedFeatures.at.featureCount));
    const ptr = sf.readBigUInt64LE(H.SupportedFeatures.at.features);
    const out = new Set<number>(count && ptr ? new Uint32Array(lib.koffi.view(ptr, 4 * count).slice(0)) : []);
    lib.fn.wgpuSupportedFeaturesFreeMembers({ featureCount: count, features: ptr || null });
    return out;
  }

  // ---- buffers ----------------------------------------------------------------------------------
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

  // ---- kernels ----------------------------------------------------------------------------------
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

  // ---- recording --------------------------------------------------------------------------------
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

  // ---- errors -------------------------------------------------------------------------------------
  scoped<T>(label: string, fn: () => T): T {
    const { lib } = this;
    lib.fn.wgpuDevicePushErrorScope(this.device, H.ErrorFilter.OutOfMemory);
    lib.fn.wgpuDevicePushErrorScope(this.device, H.ErrorFilter.Validation);
    const outer = this.scope;
    const scope = this.scope = { notes: [] as Promise<string>[], errors: [] as string[] };
    let out: T;
    try {
      out = fn();
    } finally {
      this.scope = outer;
      const { notes, errors } = scope;
      const pop = (what: string) => this.request<[number, number, StringViewValue]>('popErrorScope', what,
        (info) => lib.fn.wgpuDevicePopErrorScope(this.device, info), 'cpu',
        ([status, type, message]): ScopeResult => ({ status, type, message: lib.text(message) }));
      const v = pop(`the validation error scope of ${label}`) as unknown as Promise<ScopeResult>;
      const m = pop(`the out-of-memory error scope of ${label}`) as unknown as Promise<ScopeResult>;
      this.pending.push(Promise.all([v, m, Promise.all(notes)]).then(([ve, me, texts]) => {
        const detail = texts.filter((t) => t).map((t) => `\n${t}`).join('');
        if (errors.length) return new Error(`WebGPU validation error in ${label}: ${errors.join('; ')}${detail}`);
        for (const [r, what] of [[ve, 'validation error'], [me, 'out of memory']] as const) {
          if (r.status !== H.PopErrorScopeStatus.Success) return new Error(`WebGPU error scope in ${label}: status ${r.status}: ${r.message}`);
          if (r.type !== H.ErrorTypeNoError) {
            const kind = what === 'out of memory' && r.type === 3 ? 'out of memory' : (H.ErrorType[r.type] ?? what);
            return new Error(`WebGPU ${kind} in ${label}: ${r.message}${detail}`);
          }
        }
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

  /** An error found before reaching the library: in the current scope, else as if uncaptured. */
  private reportError(message: string): void {
    if (this.scope) this.scope.errors.push(message);
    else this.uncaptured ??= new Error(`WebGPU validation error: ${message}`);
  }

  failure(): Error | null {
    this.poller.processEvents();
    if (this.lost) return this.lost;
    const u = this.uncaptured;
    this.uncaptured = null;
    return u;
  }

  lostError(): Error | null { return this.lost; }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const { lib } = this;
    for (const b of [...this.buffers]) this.destroyBuffer(b);
    for (const q of [...this.querySets]) this.destroyQuerySet(q);
    for (const k of this.kernels) {
      lib.fn.wgpuComputePipelineRelease(k.pipeline); this.handles.remove('computePipeline', k.pipeline);
      lib.fn.wgpuPipelineLayoutRelease(k.pipelineLayout); this.handles.remove('pipelineLayout', k.pipelineLayout);
      lib.fn.wgpuBindGroupLayoutRelease(k.bindGroupLayout); this.handles.remove('bindGroupLayout', k.bindGroupLayout);
    }
    this.kernels.clear();
    if (this.device) this.closeDevice();
    if (this.adapter) this.release('adapter', this.adapter);
    this.poller.close('the WebGPU device was destroyed');
    // releasing the instance cancels anything still pending; its callbacks are dropped after off()
    this.release('instance', this.instance);
    lib.off(this.lostId);
    lib.off(this.errorId);
    this.arena.free();
  }

  // ---- plumbing ---------------------------------------------------------------------------------
  private release(kind: HandleKind, h: bigint): void {
    this.handles.remove(kind, h);
    const fn = RELEASE[kind];
    this.lib.fn[fn](h);
  }

  /**
   * One asynchronous call: `call(callbackInfo)` returns a WGPUFuture; the callback's arguments
   * (or `map(arguments)`) come back once the future completes.
   */
  private request<T extends unknown[]>(type: keyof WebGPULibrary['callbacks'], what: string, call: (info: object) => unknown,
    timeline: 'cpu' | 'queue', map?: (args: T) => unknown): Promise<T> {
    const { lib } = this;
    const id = lib.nextId();
    let result: unknown = null;
    let got = false;
    lib.on(id, (args) => { result = map ? map(args as T) : args; got = true; });
    let future: { id: number | bigint };
    try {
      future = call({ nextInChain: null, mode: H.CallbackMode.WaitAnyOnly, callback: lib.callbacks[type], userdata1: id, userdata2: null }) as { id: number | bigint };
    } catch (e) {
      lib.off(id);
      throw e;
    }
    const wait = timeline === 'queue' ? this.poller.waitQueue(BigInt(future.id), what) : this.poller.waitCpu(BigInt(future.id), what);
    return wait.then(() => {
      lib.off(id);
      if (!got) throw new Error(`WebGPU: ${what} completed without its callback`);
      return result as T;
    }, (e) => { lib.off(id); throw e; });
  }
}

const RELEASE: Record<HandleKind, FunctionName> = {
  instance: 'wgpuInstanceRelease', adapter: 'wgpuAdapterRelease', device: 'wgpuDeviceRelease', queue: 'wgpuQueueRelease',
  buffer: 'wgpuBufferRelease', shaderModule: 'wgpuShaderModuleRelease', bindGroupLayout: 'wgpuBindGroupLayoutRelease',
  pipelineLayout: 'wgpuPipelineLayoutRelease', computePipeline: 'wgpuComputePipelineRelease', bindGroup: 'wgpuBindGroupRelease',
  commandEncoder: 'wgpuCommandEncoderRelease', computePass: 'wgpuComputePassEncoderRelease', commandBuffer: 'wgpuCommandBufferRelease',
  querySet: 'wgpuQuerySetRelease',
};

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

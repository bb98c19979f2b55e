// The native device: instance, adapter and device of a webgpu.h library (bindings/native), and
// what every call on them shares: one owner per handle (HandleTable), asynchronous calls through
// futures (request), error scopes, the uncaptured-error callback and device loss. The GPU port's
// operations (buffers, kernels, recording) are in provider.ts, on top of this class.
//
// Opening: the adapter's limits are requested whole (copied as the library wrote them) after a
// sanity check that catches a library whose WGPULimits layout differs from the header's; the
// optional features are requested in the stable header's numbering, confirmed by using each one,
// and requested again in the earlier numbering (header.ts) when they do not work.
import { DeviceFailures, PendingScopes, type AdapterDescription, type PortLimits } from '../webgpu/port.ts';
import { Arena } from './arena.ts';
import { Poller } from './events.ts';
import { HandleTable, releaseFunction, type HandleKind } from './handles.ts';
import * as H from './header.ts';
import { WebGPULibraryError, type StringViewValue, type WebGPULibrary } from './library.ts';

/** Optional features requested when the adapter has them (as on dawn.node). */
const WANTED_FEATURES: readonly H.OptionalFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];
/** Room for a library's WGPULimits beyond the header's members (Dawn appends a few). */
const LIMITS_BYTES = H.Limits.size + 256;

interface ScopeResult { status: number; type: number; message: string }

export abstract class NativeDevice {
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
  protected arena: Arena;
  protected poller: Poller;
  protected instance: bigint;
  protected adapter = 0n;
  protected device = 0n;
  protected queue = 0n;
  /** userdata1 of the device-lost and uncaptured-error callbacks */
  private readonly lostId: bigint;
  private readonly errorId: bigint;
  private readonly failures = new DeviceFailures();
  private destroyed = false;
  private closing = false;
  /** error-scope results: resolve to an Error or null, never reject */
  private readonly pending = new PendingScopes();
  /** what the current scoped() call gathers: compilation messages, errors found on this side */
  protected scope: { notes: Promise<string>[]; errors: string[] } | null = null;

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
      this.failures.lose(new Error(`WebGPU device lost (${H.DeviceLostReason[reason] ?? reason}): ${lib.text(message)}`));
    });
    lib.on(this.errorId, (args) => {
      const [, type, message] = args as [unknown, number, StringViewValue];
      this.failures.uncaptured(new Error(`WebGPU uncaptured ${H.ErrorType[type] ?? 'error'}: ${lib.text(message)}`));
    });
  }

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
      try {
        await this.createDevice(adapterLimits, wanted.map((f) => numbering.values[f]));
      } catch {
        continue; // these values name features the library refuses: try the next numbering
      }
      const failed: string[] = [];
      for (const f of wanted) {
        try {
          this.scoped(`using ${f}`, () => this.probeFeature(f));
          await this.checkScopes();
        } catch {
          failed.push(f);
        }
      }
      this.releaseDeviceObjects();
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
    this.releaseDeviceObjects();
    this.release('queue', this.queue);
    this.closing = true;
    lib.fn.wgpuDeviceDestroy(this.device);
    this.poller.processEvents(); // the loss callback (reason: destroyed) runs now, while routed
    this.closing = false;
    this.release('device', this.device);
    this.queue = 0n;
    this.device = 0n;
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
      this.pending.add(Promise.all([v, m, Promise.all(notes)]).then(([ve, me, texts]) => {
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

  checkScopes(): Promise<void> { return this.pending.check(); }

  /** An error found before reaching the library: in the current scope, else as if uncaptured. */
  protected reportError(message: string): void {
    if (this.scope) this.scope.errors.push(message);
    else this.failures.uncaptured(new Error(`WebGPU validation error: ${message}`));
  }

  failure(): Error | null {
    this.poller.processEvents();
    return this.failures.failure();
  }

  lostError(): Error | null { return this.failures.lost(); }

  /** Releases everything: the device's objects, the device, the adapter, the instance. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const { lib } = this;
    if (this.device) this.closeDevice();
    if (this.adapter) this.release('adapter', this.adapter);
    this.poller.close('the WebGPU device was destroyed');
    // releasing the instance cancels anything still pending; its callbacks are dropped after off()
    this.release('instance', this.instance);
    lib.off(this.lostId);
    lib.off(this.errorId);
    this.arena.free();
  }

  protected release(kind: HandleKind, h: bigint): void {
    this.handles.remove(kind, h);
    this.lib.fn[releaseFunction(kind)](h);
  }

  /**
   * One asynchronous call: `call(callbackInfo)` returns a WGPUFuture; the callback's arguments
   * (or `map(arguments)`) come back once the future completes.
   */
  protected request<T extends unknown[]>(type: keyof WebGPULibrary['callbacks'], what: string, call: (info: object) => unknown,
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

  /** Uses an optional feature in a way that fails validation when it is not enabled. */
  protected abstract probeFeature(feature: H.OptionalFeature): void;
  /** Releases every object made on the device (before it is closed). */
  protected abstract releaseDeviceObjects(): void;
}

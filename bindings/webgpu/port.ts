// The GPU port: the few WebGPU operations the WebGPU backend needs, and nothing more. Memory
// (memory.ts), the recorder (recorder.ts), the kernel cache (kernels.ts) and the op table
// (backend.ts) are written once against it; each provider implements it:
//   bindings/webgpu/api_port.ts   the WebGPU JavaScript API, for dawn.node (provider.ts, npm
//                                 `webgpu`) and a browser's navigator.gpu (bindings/host/browser.ts)
//   bindings/native/provider.ts   any library implementing the standard webgpu.h, over FFI
// Handles are opaque here: a provider keeps its own object (a GPUBuffer, a C pointer) inside.

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export function describeAdapter(info: AdapterDescription): string {
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

/** The device limits the backend sizes its work from (the provider requests all the adapter has). */
export interface PortLimits {
  maxComputeWorkgroupsPerDimension: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * What a buffer is for: 'storage' (kernel data; also copy source and destination), 'uniform'
 * (kernel parameters; copy destination), 'readback' (map for reading; copy destination),
 * 'query-resolve' (timestamps; copy source).
 */
export type BufferRole = 'storage' | 'uniform' | 'readback' | 'query-resolve';

/** Binding types of a kernel's bind group, in binding order. */
export type BindingType = 'uniform' | 'storage' | 'read-only-storage';

export interface PortBuffer {
  readonly size: number;
}
export interface PortModule { readonly label: string }
export interface PortKernel { readonly label: string }
export interface PortQuerySet { readonly count: number }
export interface PortCommands { readonly brand?: 'commands' }

export interface PortBinding {
  buffer: PortBuffer;
  /** bytes; default 0 */
  offset?: number;
  /** bytes; default: the rest of the buffer */
  size?: number;
}

export interface TimestampWrites {
  querySet: PortQuerySet;
  beginIndex: number;
  endIndex: number;
}

export interface PortPass {
  /** Binds `bindings` (binding i = bindings[i]) to the kernel's layout and dispatches x*y*z workgroups. */
  dispatch(kernel: PortKernel, bindings: readonly PortBinding[], x: number, y: number, z: number, label: string): void;
  end(): void;
}

export interface PortEncoder {
  beginComputePass(label: string, timestamps?: TimestampWrites): PortPass;
  copyBufferToBuffer(src: PortBuffer, srcOffset: number, dst: PortBuffer, dstOffset: number, size: number): void;
  resolveQuerySet(q: PortQuerySet, first: number, count: number, dst: PortBuffer, dstOffset: number): void;
  /** Ends recording; the encoder is gone afterwards, the commands are submitted once. */
  finish(): PortCommands;
}

export interface GpuPort {
  /** which provider, for descriptions: 'dawn.node', 'webgpu.h (/path/lib.so)' */
  readonly provider: string;
  readonly info: AdapterDescription;
  /** the optional features the device was created with (of shader-f16, subgroups, timestamp-query) */
  readonly features: readonly string[];
  readonly limits: PortLimits;

  /** A new zero-filled buffer (WebGPU zero-initialises every buffer). */
  createBuffer(label: string, size: number, role: BufferRole): PortBuffer;
  destroyBuffer(b: PortBuffer): void;
  /** queue.writeBuffer: ordered before every later submit. size defaults to data.byteLength. */
  writeBuffer(b: PortBuffer, offset: number, data: ArrayBufferView, size?: number): void;
  /** Maps a 'readback' buffer, copies out its first `size` bytes and unmaps it. */
  mapRead(b: PortBuffer, size: number): Promise<ArrayBuffer>;

  /** A WGSL module; compilation errors go to the current error scope. */
  compile(label: string, code: string): PortModule;
  /** A compute pipeline for `entry` with an explicit bind group layout of `bindings`. */
  createKernel(module: PortModule, entry: string, constants: Record<string, number>, bindings: readonly BindingType[], label: string): PortKernel;
  createQuerySet(count: number): PortQuerySet;
  destroyQuerySet(q: PortQuerySet): void;

  createEncoder(): PortEncoder;
  submit(commands: PortCommands): void;
  /** Resolves when everything submitted so far has run. */
  workDone(): Promise<void>;

  /** Run `fn` inside validation + out-of-memory error scopes, recording any error under `label`. */
  scoped<T>(label: string, fn: () => T): T;
  /** Await the error scopes collected so far; throws the first error with its label. */
  checkScopes(): Promise<void>;
  /**
   * The error to throw now, if any: device loss, or an error that escaped every error scope
   * (reported once; the device itself is still usable).
   */
  failure(): Error | null;
  /** Device loss: every call after it fails with this. */
  lostError(): Error | null;
  /** Releases the device and everything the port still holds. */
  destroy(): void;
}

/**
 * A port's failures as failure() and lostError() report them: the device's loss (kept: every
 * later call fails with it) and the first error that escaped every error scope (reported once).
 */
export class DeviceFailures {
  private lostErr: Error | null = null;
  private uncapturedErr: Error | null = null;

  lose(e: Error): void { this.lostErr = e; }
  /** Keeps the first uncaptured error until failure() hands it out. */
  uncaptured(e: Error): void { this.uncapturedErr ??= e; }
  lost(): Error | null { return this.lostErr; }

  failure(): Error | null {
    if (this.lostErr) return this.lostErr;
    const u = this.uncapturedErr;
    this.uncapturedErr = null;
    return u;
  }
}

/** The results of error scopes not yet looked at (a port's checkScopes): the first error is thrown, all are forgotten. */
export class PendingScopes {
  private list: Promise<Error | null>[] = [];

  add(result: Promise<Error | null>): void { this.list.push(result); }

  async check(): Promise<void> {
    const ps = this.list;
    this.list = [];
    const errors = (await Promise.all(ps)).filter((e) => e !== null);
    if (errors.length) throw errors[0];
  }
}

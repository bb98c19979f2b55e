// Finding, loading and checking a webgpu.h library, and binding the functions the engine calls.
// The library comes from --webgpu-lib PATH (the `library` option), else $WEBGPU_LIB, else Dawn's
// library from the optional npm package bun-webgpu-linux-x64. Before use it must export every
// function below and must not be an implementation of an older header (one that still exports
// functions the current header removed, or wgpu-native older than v29, the first release on the
// stable header). Each way of failing is a WebGPULibraryError (exit code 2 at the command line).
// koffi is imported here only, and this module only from the backend's factory: importing the
// engine loads no FFI.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { LibraryHandle } from 'koffi';

type Koffi = typeof import('koffi').default;

/** A missing, unloadable or unsuitable webgpu.h library: bad input, not a crash. */
export class WebGPULibraryError extends Error {
  readonly exitCode = 2;
  constructor(message: string) { super(message); this.name = 'WebGPULibraryError'; }
}

export const DEFAULT_PACKAGE = 'bun-webgpu-linux-x64';
/** Library files the default package may hold (Dawn's name first). */
const DEFAULT_FILES = ['libwebgpu_dawn.so', 'libwebgpu_wrapper.so'];

export interface LibraryLocation {
  path: string;
  /** where the path came from, for messages */
  from: string;
}

/**
 * Where the library is: `explicit` (--webgpu-lib), else $WEBGPU_LIB, else the default package.
 * `packageDir` finds the package's folder (null when it is not installed); tests replace it.
 */
export function locateLibrary(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env,
  packageDir: () => string | null = defaultPackageDir): LibraryLocation {
  if (explicit) return { path: resolve(explicit), from: '--webgpu-lib' };
  if (env.WEBGPU_LIB) return { path: resolve(env.WEBGPU_LIB), from: 'WEBGPU_LIB' };
  const dir = packageDir();
  if (!dir) {
    throw new WebGPULibraryError(`no webgpu.h library: the optional package ${DEFAULT_PACKAGE} (Dawn's library, Linux x64 only) `
      + 'is not installed; install it (npm install bun-webgpu-linux-x64) or give --webgpu-lib PATH (or WEBGPU_LIB)');
  }
  const file = DEFAULT_FILES.find((f) => existsSync(join(dir, f)));
  if (!file) throw new WebGPULibraryError(`no webgpu.h library in ${dir} (looked for ${DEFAULT_FILES.join(', ')}); give --webgpu-lib PATH`);
  return { path: join(dir, file), from: DEFAULT_PACKAGE };
}

function defaultPackageDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${DEFAULT_PACKAGE}/package.json`));
  } catch {
    return null;
  }
}

// ---- the functions the engine calls (and nothing more) ----------------------------------------
// Handles and struct pointers are void* (BigInt addresses); descriptors are written by the
// provider into native memory laid out as header.ts says. Structs passed by value are declared
// as koffi structs below.
const FUNCTIONS = {
  wgpuCreateInstance: 'void* wgpuCreateInstance(void* descriptor)',
  wgpuInstanceRequestAdapter: 'WGPUFuture wgpuInstanceRequestAdapter(void* instance, void* options, WGPUCallbackInfo callbackInfo)',
  wgpuInstanceWaitAny: 'uint32_t wgpuInstanceWaitAny(void* instance, size_t futureCount, void* futures, uint64_t timeoutNS)',
  wgpuInstanceProcessEvents: 'void wgpuInstanceProcessEvents(void* instance)',
  wgpuInstanceRelease: 'void wgpuInstanceRelease(void* instance)',
  wgpuAdapterGetLimits: 'uint32_t wgpuAdapterGetLimits(void* adapter, void* limits)',
  wgpuAdapterGetFeatures: 'void wgpuAdapterGetFeatures(void* adapter, void* features)',
  wgpuSupportedFeaturesFreeMembers: 'void wgpuSupportedFeaturesFreeMembers(WGPUSupportedFeatures supportedFeatures)',
  wgpuAdapterGetInfo: 'uint32_t wgpuAdapterGetInfo(void* adapter, void* info)',
  wgpuAdapterInfoFreeMembers: 'void wgpuAdapterInfoFreeMembers(WGPUAdapterInfo adapterInfo)',
  wgpuAdapterRequestDevice: 'WGPUFuture wgpuAdapterRequestDevice(void* adapter, void* descriptor, WGPUCallbackInfo callbackInfo)',
  wgpuAdapterRelease: 'void wgpuAdapterRelease(void* adapter)',
  wgpuDeviceGetLimits: 'uint32_t wgpuDeviceGetLimits(void* device, void* limits)',
  wgpuDeviceGetQueue: 'void* wgpuDeviceGetQueue(void* device)',
  wgpuDeviceCreateBuffer: 'void* wgpuDeviceCreateBuffer(void* device, void* descriptor)',
  wgpuDeviceCreateShaderModule: 'void* wgpuDeviceCreateShaderModule(void* device, void* descriptor)',
  wgpuShaderModuleGetCompilationInfo: 'WGPUFuture wgpuShaderModuleGetCompilationInfo(void* shaderModule, WGPUCallbackInfo callbackInfo)',
  wgpuDeviceCreateBindGroupLayout: 'void* wgpuDeviceCreateBindGroupLayout(void* device, void* descriptor)',
  wgpuDeviceCreatePipelineLayout: 'void* wgpuDeviceCreatePipelineLayout(void* device, void* descriptor)',
  wgpuDeviceCreateComputePipeline: 'void* wgpuDeviceCreateComputePipeline(void* device, void* descriptor)',
  wgpuDeviceCreateBindGroup: 'void* wgpuDeviceCreateBindGroup(void* device, void* descriptor)',
  wgpuDeviceCreateCommandEncoder: 'void* wgpuDeviceCreateCommandEncoder(void* device, void* descriptor)',
  wgpuDeviceCreateQuerySet: 'void* wgpuDeviceCreateQuerySet(void* device, void* descriptor)',
  wgpuDevicePushErrorScope: 'void wgpuDevicePushErrorScope(void* device, uint32_t filter)',
  wgpuDevicePopErrorScope: 'WGPUFuture wgpuDevicePopErrorScope(void* device, WGPUCallbackInfo callbackInfo)',
  wgpuDeviceDestroy: 'void wgpuDeviceDestroy(void* device)',
  wgpuDeviceRelease: 'void wgpuDeviceRelease(void* device)',
  wgpuQueueWriteBuffer: 'void wgpuQueueWriteBuffer(void* queue, void* buffer, uint64_t bufferOffset, void* data, size_t size)',
  wgpuQueueSubmit: 'void wgpuQueueSubmit(void* queue, size_t commandCount, void* commands)',
  wgpuQueueOnSubmittedWorkDone: 'WGPUFuture wgpuQueueOnSubmittedWorkDone(void* queue, WGPUCallbackInfo callbackInfo)',
  wgpuQueueRelease: 'void wgpuQueueRelease(void* queue)',
  wgpuBufferMapAsync: 'WGPUFuture wgpuBufferMapAsync(void* buffer, uint64_t mode, size_t offset, size_t size, WGPUCallbackInfo callbackInfo)',
  wgpuBufferGetConstMappedRange: 'void* wgpuBufferGetConstMappedRange(void* buffer, size_t offset, size_t size)',
  wgpuBufferUnmap: 'void wgpuBufferUnmap(void* buffer)',
  wgpuBufferDestroy: 'void wgpuBufferDestroy(void* buffer)',
  wgpuBufferRelease: 'void wgpuBufferRelease(void* buffer)',
  wgpuCommandEncoderBeginComputePass: 'void* wgpuCommandEncoderBeginComputePass(void* commandEncoder, void* descriptor)',
  wgpuCommandEncoderCopyBufferToBuffer: 'void wgpuCommandEncoderCopyBufferToBuffer(void* commandEncoder, void* source, uint64_t sourceOffset, void* destination, uint64_t destinationOffset, uint64_t size)',
  wgpuCommandEncoderResolveQuerySet: 'void wgpuCommandEncoderResolveQuerySet(void* commandEncoder, void* querySet, uint32_t firstQuery, uint32_t queryCount, void* destination, uint64_t destinationOffset)',
  wgpuCommandEncoderFinish: 'void* wgpuCommandEncoderFinish(void* commandEncoder, void* descriptor)',
  wgpuCommandEncoderRelease: 'void wgpuCommandEncoderRelease(void* commandEncoder)',
  wgpuComputePassEncoderSetPipeline: 'void wgpuComputePassEncoderSetPipeline(void* computePassEncoder, void* pipeline)',
  wgpuComputePassEncoderSetBindGroup: 'void wgpuComputePassEncoderSetBindGroup(void* computePassEncoder, uint32_t groupIndex, void* group, size_t dynamicOffsetCount, void* dynamicOffsets)',
  wgpuComputePassEncoderDispatchWorkgroups: 'void wgpuComputePassEncoderDispatchWorkgroups(void* computePassEncoder, uint32_t workgroupCountX, uint32_t workgroupCountY, uint32_t workgroupCountZ)',
  wgpuComputePassEncoderEnd: 'void wgpuComputePassEncoderEnd(void* computePassEncoder)',
  wgpuComputePassEncoderRelease: 'void wgpuComputePassEncoderRelease(void* computePassEncoder)',
  wgpuCommandBufferRelease: 'void wgpuCommandBufferRelease(void* commandBuffer)',
  wgpuBindGroupRelease: 'void wgpuBindGroupRelease(void* bindGroup)',
  wgpuBindGroupLayoutRelease: 'void wgpuBindGroupLayoutRelease(void* bindGroupLayout)',
  wgpuPipelineLayoutRelease: 'void wgpuPipelineLayoutRelease(void* pipelineLayout)',
  wgpuComputePipelineRelease: 'void wgpuComputePipelineRelease(void* computePipeline)',
  wgpuShaderModuleRelease: 'void wgpuShaderModuleRelease(void* shaderModule)',
  wgpuQuerySetDestroy: 'void wgpuQuerySetDestroy(void* querySet)',
  wgpuQuerySetRelease: 'void wgpuQuerySetRelease(void* querySet)',
} as const;

export type FunctionName = keyof typeof FUNCTIONS;
export const REQUIRED_FUNCTIONS = Object.keys(FUNCTIONS) as FunctionName[];

/** Functions of older headers that the current one removed: a library exporting them predates it. */
const REMOVED_FUNCTIONS = ['wgpuAdapterEnumerateFeatures', 'wgpuDeviceEnumerateFeatures', 'wgpuAdapterGetProperties', 'wgpuSurfaceGetPreferredFormat'];
/** wgpu-native reports its version; v29 is its first release on the stable header. */
const WGPU_NATIVE_MIN_MAJOR = 29;

// ---- callbacks ----------------------------------------------------------------------------------
// One registered trampoline per callback type, shared by every device of the library; userdata1
// carries the id of the request (or of the device, for device events), which routes the result.
export interface StringViewValue { data: bigint | null; length: number | bigint }

export type CallbackHandler = (args: unknown[]) => void;

export interface WebGPULibrary {
  readonly path: string;
  readonly from: string;
  /** e.g. 'wgpu-native 29.0.0.0'; '' where the library reports no version (Dawn) */
  readonly version: string;
  readonly koffi: Koffi;
  readonly fn: { [K in FunctionName]: (...args: unknown[]) => unknown };
  /** registered callback pointers, by callback type */
  readonly callbacks: Record<CallbackType, bigint>;
  /** route callbacks with userdata1 === id to `handler` until `off(id)` */
  on(id: bigint, handler: CallbackHandler): void;
  off(id: bigint): void;
  /** a fresh id for userdata1 */
  nextId(): bigint;
  /** a StringView argument as a JS string */
  text(sv: StringViewValue): string;
}

type CallbackType = 'requestAdapter' | 'requestDevice' | 'map' | 'workDone' | 'popErrorScope' | 'compilationInfo' | 'deviceLost' | 'uncapturedError';

const PROTOS: Record<CallbackType, string> = {
  requestAdapter: 'void WGPURequestAdapterCallback(uint32_t status, void* adapter, WGPUStringView message, void* userdata1, void* userdata2)',
  requestDevice: 'void WGPURequestDeviceCallback(uint32_t status, void* device, WGPUStringView message, void* userdata1, void* userdata2)',
  map: 'void WGPUBufferMapCallback(uint32_t status, WGPUStringView message, void* userdata1, void* userdata2)',
  workDone: 'void WGPUQueueWorkDoneCallback(uint32_t status, WGPUStringView message, void* userdata1, void* userdata2)',
  popErrorScope: 'void WGPUPopErrorScopeCallback(uint32_t status, uint32_t type, WGPUStringView message, void* userdata1, void* userdata2)',
  compilationInfo: 'void WGPUCompilationInfoCallback(uint32_t status, void* compilationInfo, void* userdata1, void* userdata2)',
  deviceLost: 'void WGPUDeviceLostCallback(void* device, uint32_t reason, WGPUStringView message, void* userdata1, void* userdata2)',
  uncapturedError: 'void WGPUUncapturedErrorCallback(void* device, uint32_t type, WGPUStringView message, void* userdata1, void* userdata2)',
};
/** position of userdata1 in each callback's arguments */
const USERDATA1: Record<CallbackType, number> = {
  requestAdapter: 3, requestDevice: 3, map: 2, workDone: 2, popErrorScope: 3, compilationInfo: 2, deviceLost: 3, uncapturedError: 3,
};

const loaded = new Map<string, WebGPULibrary>();
let koffiTypesDeclared = false;

/** Loads and checks the library (once per path per process). */
export async function loadLibrary(explicit?: string): Promise<WebGPULibrary> {
  const where = locateLibrary(explicit);
  const have = loaded.get(where.path);
  if (have) return have;
  checkFile(where);
  let koffi: Koffi;
  try {
    koffi = (await import('koffi')).default;
  } catch (e) {
    throw new WebGPULibraryError(`the native WebGPU provider needs the npm package koffi, which did not load: ${(e as Error).message}`);
  }
  declareTypes(koffi);
  let lib: LibraryHandle;
  try {
    lib = koffi.load(where.path);
  } catch (e) {
    throw new WebGPULibraryError(`cannot load ${where.path} (from ${where.from}) as a shared library: ${(e as Error).message}`);
  }
  const has = (name: string): boolean => {
    try { lib.func(`void ${name}(void)`); return true; } catch { return false; }
  };
  const missing = REQUIRED_FUNCTIONS.filter((name) => !has(name));
  if (missing.length) {
    const list = missing.length > 6 ? `${missing.slice(0, 6).join(', ')} and ${missing.length - 6} more` : missing.join(', ');
    throw new WebGPULibraryError(`${where.path} (from ${where.from}) is not a webgpu.h library this engine can use: `
      + `it lacks ${missing.length} of the ${REQUIRED_FUNCTIONS.length} functions needed (${list})`);
  }
  const old = REMOVED_FUNCTIONS.filter(has);
  if (old.length) {
    throw new WebGPULibraryError(`${where.path} (from ${where.from}) implements an older webgpu.h: it exports ${old.join(', ')}, `
      + 'which the current header removed; use a library built on the stable header (Dawn from 2025-09, wgpu-native v29 or later)');
  }
  const version = has('wgpuGetVersion') ? checkWgpuNativeVersion(Number(lib.func('uint32_t wgpuGetVersion(void)')()), where.path) : '';
  const fn = {} as WebGPULibrary['fn'];
  for (const name of REQUIRED_FUNCTIONS) fn[name] = lib.func(FUNCTIONS[name]) as (...args: unknown[]) => unknown;

  const routes = new Map<bigint, CallbackHandler>();
  const callbacks = {} as Record<CallbackType, bigint>;
  for (const type of Object.keys(PROTOS) as CallbackType[]) {
    const proto = koffi.proto(PROTOS[type]);
    const at = USERDATA1[type];
    // Registered for the life of the process (one per callback type and library): a device's
    // requests are routed by userdata1, and an unknown id (a late or cancelled call) is dropped.
    callbacks[type] = koffi.register((...args: unknown[]) => {
      const id = args[at] as bigint | null;
      const handler = id === null ? undefined : routes.get(BigInt(id));
      if (!handler) return;
      try { handler(args); } catch (e) {
        // a throwing callback would make koffi return to C with no sign of it: report it
        process.emitWarning(`webgpu.h ${type} callback failed: ${(e as Error).message}`);
      }
    }, koffi.pointer(proto));
  }
  let counter = 0n;
  const library: WebGPULibrary = {
    path: where.path, from: where.from, version, koffi, fn, callbacks,
    on: (id, handler) => { routes.set(id, handler); },
    off: (id) => { routes.delete(id); },
    nextId: () => ++counter,
    text: (sv) => {
      if (!sv || sv.data === null || sv.data === 0n) return '';
      const len = BigInt(sv.length);
      // WGPU_STRLEN (SIZE_MAX): null-terminated
      return len >= 0xffff_ffff_ffffn ? (koffi.decode(sv.data, 'const char *') as string) : (koffi.decode(sv.data, 'char', Number(len)) as string);
    },
  };
  loaded.set(where.path, library);
  return library;
}

/** wgpu-native's version word (major.minor.patch.build, a byte each) as text; older than v29 is an error. */
export function checkWgpuNativeVersion(v: number, path: string): string {
  const parts = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  const version = `wgpu-native ${parts.join('.')}`;
  if (parts[0] < WGPU_NATIVE_MIN_MAJOR) {
    throw new WebGPULibraryError(`${path} is ${version}, which implements an older webgpu.h; `
      + `this engine needs wgpu-native v${WGPU_NATIVE_MIN_MAJOR} or later (the stable header)`);
  }
  return version;
}

function checkFile(where: LibraryLocation): void {
  if (!existsSync(where.path)) throw new WebGPULibraryError(`webgpu.h library not found: ${where.path} (from ${where.from})`);
  const st = statSync(where.path);
  if (!st.isFile()) throw new WebGPULibraryError(`${where.path} (from ${where.from}) is not a file: give the path of the shared library (.so)`);
}

/** The structs passed by value, declared once per process. */
function declareTypes(koffi: Koffi): void {
  if (koffiTypesDeclared) return;
  koffiTypesDeclared = true;
  koffi.struct('WGPUStringView', { data: 'void*', length: 'size_t' });
  koffi.struct('WGPUFuture', { id: 'uint64_t' });
  koffi.struct('WGPUCallbackInfo', { nextInChain: 'void*', mode: 'uint32_t', callback: 'void*', userdata1: 'void*', userdata2: 'void*' });
  koffi.struct('WGPUSupportedFeatures', { featureCount: 'size_t', features: 'void*' });
  koffi.struct('WGPUAdapterInfo', {
    nextInChain: 'void*', vendor: 'WGPUStringView', architecture: 'WGPUStringView', device: 'WGPUStringView',
    description: 'WGPUStringView', backendType: 'uint32_t', adapterType: 'uint32_t', vendorID: 'uint32_t',
    deviceID: 'uint32_t', subgroupMinSize: 'uint32_t', subgroupMaxSize: 'uint32_t',
  });
}

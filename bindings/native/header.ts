// The part of the standard webgpu.h (webgpu-native/webgpu-headers, the header marked stable in
// September 2025) that the engine uses: enum values, and the memory layout of every struct the
// provider writes or reads, computed from the header's member lists by the C rules of LP64
// platforms (pointers and size_t 8 bytes; each member aligned to its size; a struct aligned to
// its widest member). Nothing here is specific to one implementation (Dawn, wgpu-native).

export const WGPU_STRLEN = 0xffff_ffff_ffff_ffffn; // SIZE_MAX: a null-terminated string

export const SType = { ShaderSourceWGSL: 0x2 } as const;
export const CallbackMode = { WaitAnyOnly: 0x1, AllowProcessEvents: 0x2, AllowSpontaneous: 0x3 } as const;
export const WaitStatus = { Success: 0x1, TimedOut: 0x2, Error: 0x3 } as const;
export const InstanceFeatureName = { TimedWaitAny: 0x1 } as const;
export const PowerPreference = { HighPerformance: 0x2 } as const;
/**
 * WGPUFeatureName values of the features the engine can use. webgpu-headers renumbered them on
 * 2025-06-26 (#551, before the header was marked stable); libraries built on the header before
 * that (Dawn's library in bun-webgpu-linux-x64 is one) use the earlier values. The provider
 * tries the stable values first and confirms each feature by using it (provider.ts).
 */
export const FEATURE_NUMBERINGS = [
  { name: 'stable', values: { 'timestamp-query': 0x9, 'shader-f16': 0xb, subgroups: 0x12 } },
  { name: 'before webgpu-headers #551 (2025-06)', values: { 'timestamp-query': 0x3, 'shader-f16': 0xa, subgroups: 0x11 } },
] as const;
export type OptionalFeature = keyof (typeof FEATURE_NUMBERINGS)[number]['values'];
export const RequestAdapterStatus = { Success: 0x1 } as const;
export const RequestDeviceStatus = { Success: 0x1 } as const;
export const MapAsyncStatus = { Success: 0x1 } as const;
export const QueueWorkDoneStatus = { Success: 0x1 } as const;
export const PopErrorScopeStatus = { Success: 0x1 } as const;
export const CompilationInfoRequestStatus = { Success: 0x1 } as const;
export const CompilationMessageType: Record<number, string> = { 1: 'error', 2: 'warning', 3: 'info' };
export const ErrorFilter = { Validation: 0x1, OutOfMemory: 0x2 } as const;
export const ErrorType: Record<number, string> = { 1: 'no error', 2: 'validation error', 3: 'out of memory', 4: 'internal error', 5: 'unknown error' };
export const ErrorTypeNoError = 0x1;
export const DeviceLostReason: Record<number, string> = { 1: 'unknown', 2: 'destroyed', 3: 'callback cancelled', 4: 'failed creation' };
export const BufferBindingType = { Uniform: 0x2, Storage: 0x3, ReadOnlyStorage: 0x4 } as const;
export const QueryType = { Timestamp: 0x2 } as const;
export const BufferUsage = {
  MapRead: 0x1n, CopySrc: 0x4n, CopyDst: 0x8n, Uniform: 0x40n, Storage: 0x80n, QueryResolve: 0x200n,
} as const;
export const MapMode = { Read: 0x1n } as const;
export const ShaderStage = { Compute: 0x4n } as const;

// ---- layouts ------------------------------------------------------------------------------------

type Scalar = 'ptr' | 'size' | 'u32' | 'u64' | 'f64';
export interface Layout {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  /** byte offset of each member */
  readonly at: Record<string, number>;
}

const SCALAR_SIZE: Record<Scalar, number> = { ptr: 8, size: 8, u32: 4, u64: 8, f64: 8 };

/** A struct's layout from its members in declaration order (scalars or nested structs). */
export function struct(name: string, members: [string, Scalar | Layout][]): Layout {
  let offset = 0, align = 1;
  const at: Record<string, number> = {};
  for (const [member, type] of members) {
    const size = typeof type === 'string' ? SCALAR_SIZE[type] : type.size;
    const a = typeof type === 'string' ? size : type.align;
    offset = Math.ceil(offset / a) * a;
    at[member] = offset;
    offset += size;
    align = Math.max(align, a);
  }
  return { name, size: Math.ceil(offset / align) * align, align, at };
}

export const StringView = struct('WGPUStringView', [['data', 'ptr'], ['length', 'size']]);
export const ChainedStruct = struct('WGPUChainedStruct', [['next', 'ptr'], ['sType', 'u32']]);
export const FutureWaitInfo = struct('WGPUFutureWaitInfo', [['future', 'u64'], ['completed', 'u32']]);

export const InstanceDescriptor = struct('WGPUInstanceDescriptor', [
  ['nextInChain', 'ptr'], ['requiredFeatureCount', 'size'], ['requiredFeatures', 'ptr'], ['requiredLimits', 'ptr'],
]);
export const RequestAdapterOptions = struct('WGPURequestAdapterOptions', [
  ['nextInChain', 'ptr'], ['featureLevel', 'u32'], ['powerPreference', 'u32'], ['forceFallbackAdapter', 'u32'],
  ['backendType', 'u32'], ['compatibleSurface', 'ptr'],
]);
export const Limits = struct('WGPULimits', [
  ['nextInChain', 'ptr'], ['maxTextureDimension1D', 'u32'], ['maxTextureDimension2D', 'u32'], ['maxTextureDimension3D', 'u32'],
  ['maxTextureArrayLayers', 'u32'], ['maxBindGroups', 'u32'], ['maxBindGroupsPlusVertexBuffers', 'u32'],
  ['maxBindingsPerBindGroup', 'u32'], ['maxDynamicUniformBuffersPerPipelineLayout', 'u32'],
  ['maxDynamicStorageBuffersPerPipelineLayout', 'u32'], ['maxSampledTexturesPerShaderStage', 'u32'],
  ['maxSamplersPerShaderStage', 'u32'], ['maxStorageBuffersPerShaderStage', 'u32'], ['maxStorageTexturesPerShaderStage', 'u32'],
  ['maxUniformBuffersPerShaderStage', 'u32'], ['maxUniformBufferBindingSize', 'u64'], ['maxStorageBufferBindingSize', 'u64'],
  ['minUniformBufferOffsetAlignment', 'u32'], ['minStorageBufferOffsetAlignment', 'u32'], ['maxVertexBuffers', 'u32'],
  ['maxBufferSize', 'u64'], ['maxVertexAttributes', 'u32'], ['maxVertexBufferArrayStride', 'u32'],
  ['maxInterStageShaderVariables', 'u32'], ['maxColorAttachments', 'u32'], ['maxColorAttachmentBytesPerSample', 'u32'],
  ['maxComputeWorkgroupStorageSize', 'u32'], ['maxComputeInvocationsPerWorkgroup', 'u32'], ['maxComputeWorkgroupSizeX', 'u32'],
  ['maxComputeWorkgroupSizeY', 'u32'], ['maxComputeWorkgroupSizeZ', 'u32'], ['maxComputeWorkgroupsPerDimension', 'u32'],
  ['maxImmediateSize', 'u32'],
]);
export const SupportedFeatures = struct('WGPUSupportedFeatures', [['featureCount', 'size'], ['features', 'ptr']]);
export const AdapterInfo = struct('WGPUAdapterInfo', [
  ['nextInChain', 'ptr'], ['vendor', StringView], ['architecture', StringView], ['device', StringView], ['description', StringView],
  ['backendType', 'u32'], ['adapterType', 'u32'], ['vendorID', 'u32'], ['deviceID', 'u32'], ['subgroupMinSize', 'u32'],
  ['subgroupMaxSize', 'u32'],
]);
/** Every *CallbackInfo struct that has a mode (all but the uncaptured-error one) has this layout. */
export const CallbackInfo = struct('WGPUCallbackInfo', [
  ['nextInChain', 'ptr'], ['mode', 'u32'], ['callback', 'ptr'], ['userdata1', 'ptr'], ['userdata2', 'ptr'],
]);
export const UncapturedErrorCallbackInfo = struct('WGPUUncapturedErrorCallbackInfo', [
  ['nextInChain', 'ptr'], ['callback', 'ptr'], ['userdata1', 'ptr'], ['userdata2', 'ptr'],
]);
export const QueueDescriptor = struct('WGPUQueueDescriptor', [['nextInChain', 'ptr'], ['label', StringView]]);
export const DeviceDescriptor = struct('WGPUDeviceDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['requiredFeatureCount', 'size'], ['requiredFeatures', 'ptr'],
  ['requiredLimits', 'ptr'], ['defaultQueue', QueueDescriptor], ['deviceLostCallbackInfo', CallbackInfo],
  ['uncapturedErrorCallbackInfo', UncapturedErrorCallbackInfo],
]);
export const BufferDescriptor = struct('WGPUBufferDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['usage', 'u64'], ['size', 'u64'], ['mappedAtCreation', 'u32'],
]);
export const ShaderModuleDescriptor = struct('WGPUShaderModuleDescriptor', [['nextInChain', 'ptr'], ['label', StringView]]);
export const ShaderSourceWGSL = struct('WGPUShaderSourceWGSL', [['chain', ChainedStruct], ['code', StringView]]);
export const CompilationInfo = struct('WGPUCompilationInfo', [['nextInChain', 'ptr'], ['messageCount', 'size'], ['messages', 'ptr']]);
export const CompilationMessage = struct('WGPUCompilationMessage', [
  ['nextInChain', 'ptr'], ['message', StringView], ['type', 'u32'], ['lineNum', 'u64'], ['linePos', 'u64'],
  ['offset', 'u64'], ['length', 'u64'],
]);
export const BufferBindingLayout = struct('WGPUBufferBindingLayout', [
  ['nextInChain', 'ptr'], ['type', 'u32'], ['hasDynamicOffset', 'u32'], ['minBindingSize', 'u64'],
]);
export const SamplerBindingLayout = struct('WGPUSamplerBindingLayout', [['nextInChain', 'ptr'], ['type', 'u32']]);
export const TextureBindingLayout = struct('WGPUTextureBindingLayout', [
  ['nextInChain', 'ptr'], ['sampleType', 'u32'], ['viewDimension', 'u32'], ['multisampled', 'u32'],
]);
export const StorageTextureBindingLayout = struct('WGPUStorageTextureBindingLayout', [
  ['nextInChain', 'ptr'], ['access', 'u32'], ['format', 'u32'], ['viewDimension', 'u32'],
]);
/** The sampler/texture members stay zero: BindingNotUsed. */
export const BindGroupLayoutEntry = struct('WGPUBindGroupLayoutEntry', [
  ['nextInChain', 'ptr'], ['binding', 'u32'], ['visibility', 'u64'], ['bindingArraySize', 'u32'],
  ['buffer', BufferBindingLayout], ['sampler', SamplerBindingLayout], ['texture', TextureBindingLayout],
  ['storageTexture', StorageTextureBindingLayout],
]);
export const BindGroupLayoutDescriptor = struct('WGPUBindGroupLayoutDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['entryCount', 'size'], ['entries', 'ptr'],
]);
export const PipelineLayoutDescriptor = struct('WGPUPipelineLayoutDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['bindGroupLayoutCount', 'size'], ['bindGroupLayouts', 'ptr'],
  ['immediateSize', 'u32'],
]);
export const ConstantEntry = struct('WGPUConstantEntry', [['nextInChain', 'ptr'], ['key', StringView], ['value', 'f64']]);
export const ComputeState = struct('WGPUComputeState', [
  ['nextInChain', 'ptr'], ['module', 'ptr'], ['entryPoint', StringView], ['constantCount', 'size'], ['constants', 'ptr'],
]);
export const ComputePipelineDescriptor = struct('WGPUComputePipelineDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['layout', 'ptr'], ['compute', ComputeState],
]);
export const BindGroupEntry = struct('WGPUBindGroupEntry', [
  ['nextInChain', 'ptr'], ['binding', 'u32'], ['buffer', 'ptr'], ['offset', 'u64'], ['size', 'u64'], ['sampler', 'ptr'],
  ['textureView', 'ptr'],
]);
export const BindGroupDescriptor = struct('WGPUBindGroupDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['layout', 'ptr'], ['entryCount', 'size'], ['entries', 'ptr'],
]);
export const PassTimestampWrites = struct('WGPUPassTimestampWrites', [
  ['nextInChain', 'ptr'], ['querySet', 'ptr'], ['beginningOfPassWriteIndex', 'u32'], ['endOfPassWriteIndex', 'u32'],
]);
export const ComputePassDescriptor = struct('WGPUComputePassDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['timestampWrites', 'ptr'],
]);
export const QuerySetDescriptor = struct('WGPUQuerySetDescriptor', [
  ['nextInChain', 'ptr'], ['label', StringView], ['type', 'u32'], ['count', 'u32'],
]);
export const WGPU_WHOLE_SIZE = 0xffff_ffff_ffff_ffffn;

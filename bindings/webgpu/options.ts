// The WebGPU backend's options, apart from backend.ts so that the library's public types
// (engine/index.ts's .d.ts) name no WebGPU type: a consumer type-checks without @webgpu/types.
export interface WebGPUBackendOptions {
  /** do not print the adapter */
  quiet?: boolean;
  /** record GPU timestamps per dispatch (needs timestamp-query); see kernelTimes() */
  timing?: boolean;
  /** attention.wgsl tile rows (16 or 8); default: 16 where workgroup memory allows. For tests. */
  attentionTile?: 8 | 16;
}

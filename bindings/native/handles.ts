// One owner per webgpu.h handle: every handle the native provider creates is counted here under
// its kind when it is created and removed when it is released, which must happen exactly once.
import type { FunctionName } from './library.ts';

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

const RELEASE: Record<HandleKind, FunctionName> = {
  instance: 'wgpuInstanceRelease', adapter: 'wgpuAdapterRelease', device: 'wgpuDeviceRelease', queue: 'wgpuQueueRelease',
  buffer: 'wgpuBufferRelease', shaderModule: 'wgpuShaderModuleRelease', bindGroupLayout: 'wgpuBindGroupLayoutRelease',
  pipelineLayout: 'wgpuPipelineLayoutRelease', computePipeline: 'wgpuComputePipelineRelease', bindGroup: 'wgpuBindGroupRelease',
  commandEncoder: 'wgpuCommandEncoderRelease', computePass: 'wgpuComputePassEncoderRelease', commandBuffer: 'wgpuCommandBufferRelease',
  querySet: 'wgpuQuerySetRelease',
};

/** The wgpu*Release function of a kind of handle. */
export function releaseFunction(kind: HandleKind): FunctionName {
  return RELEASE[kind];
}

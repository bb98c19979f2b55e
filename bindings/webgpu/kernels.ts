// The kernel cache: WGSL sources from kernels/wgsl/<file>.wgsl (read through the host,
// bindings/host; one shader module per file, compiled once), and one compute pipeline per (file,
// entry point, binding access, override constants). Binding 0 of every kernel is its uniform
// parameter block; bindings 1..n are the storage buffers, read-only ('r') or read-write ('w').
import { host } from '#host';
import type { BindingType, GpuPort, PortKernel, PortModule } from './port.ts';

export interface Kernel {
  /** kernels/wgsl/<file>.wgsl; `matmul_f16b` is matmul.wgsl with B stored as f16 (see kernelSource) */
  file: string;
  entry: string;
  /** per storage binding 1..n: 'r' read-only, 'w' read_write */
  access: string;
  overrides?: Record<string, number>;
}

/** WGSL source of a kernel file; `matmul_f16b` is matmul.wgsl with B stored as f16. */
export function kernelSource(file: string): string {
  if (file === 'matmul_f16b') {
    const base = kernelSource('matmul');
    const marked = 'var<storage, read> B: array<f32>; // B element type';
    if (!base.includes(marked)) throw new Error('matmul.wgsl: the B declaration marker is missing');
    return `enable f16;\n${base.replace(marked, 'var<storage, read> B: array<f16>;')}`;
  }
  return host.wgslSource(file);
}

export class KernelCache {
  private modules = new Map<string, PortModule>();
  private kernels = new Map<string, PortKernel>();

  constructor(private port: GpuPort) {}

  /** The pipeline for `k`, compiled on first use; `label` names the op in error messages. */
  get(label: string, k: Kernel): PortKernel {
    const key = `${k.file}:${k.entry}:${k.access}:${JSON.stringify(k.overrides ?? {})}`;
    let kernel = this.kernels.get(key);
    if (kernel) return kernel;
    let module = this.modules.get(k.file);
    if (!module) {
      const code = kernelSource(k.file);
      module = this.port.scoped(`shader ${k.file}.wgsl`, () => this.port.compile(k.file, code));
      this.modules.set(k.file, module);
    }
    const bindings: BindingType[] = ['uniform', ...Array.from(k.access, (a) => (a === 'w' ? 'storage' : 'read-only-storage') as BindingType)];
    kernel = this.port.scoped(`pipeline ${k.file}.wgsl:${k.entry} (${label})`,
      () => this.port.createKernel(module!, k.entry, k.overrides ?? {}, bindings, `${k.file}:${k.entry}`));
    this.kernels.set(key, kernel);
    return kernel;
  }

  get size(): number { return this.kernels.size; }
}

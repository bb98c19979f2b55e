// The backends the engine can run on, by kind: how to create each, and the line --help shows for
// it. The command line, the alignment job and selectBackend (select.ts) read this table; adding a
// backend is adding an entry. Every factory imports its backend on first use, so importing the
// engine loads neither dawn.node nor koffi.
import type { Backend } from '../engine/backend.ts';

export interface BackendCreateOptions {
  /** WebGPU: record per-kernel GPU timestamps */
  timing?: boolean;
  /** WASM: worker threads */
  threads?: number;
  /** webgpu-native: the webgpu.h library (default: $WEBGPU_LIB, else Dawn's from bun-webgpu-linux-x64) */
  webgpuLib?: string;
}

export interface BackendEntry {
  /** what --help says about it (one line) */
  readonly help: string;
  create(opts: BackendCreateOptions): Promise<Backend>;
}

const REGISTRY = {
  webgpu: {
    help: 'the WGSL kernels through dawn.node (npm webgpu)',
    create: async (o) => (await import('./webgpu/backend.ts')).createWebGPUBackend({ quiet: true, timing: o.timing }),
  },
  'webgpu-native': {
    help: 'the same WGSL kernels through a webgpu.h library (--webgpu-lib)',
    create: async (o) => (await import('./native/index.ts')).createNativeBackend({ quiet: true, timing: o.timing, library: o.webgpuLib }),
  },
  wasm: {
    help: 'AssemblyScript SIMD kernels on worker threads (--threads)',
    create: async (o) => (await import('./wasm/backend.ts')).createWasmBackend({ threads: o.threads }),
  },
} satisfies Record<string, BackendEntry>;

/** `auto`, or a registered backend. */
export type BackendKind = 'auto' | keyof typeof REGISTRY;

/** What `auto` does (select.ts). */
export const AUTO_HELP = 'webgpu on a hardware adapter, else wasm (it says why)';

/** Every kind a user may name, `auto` first. */
export const BACKEND_KINDS: readonly BackendKind[] = ['auto', ...Object.keys(REGISTRY) as (keyof typeof REGISTRY)[]];

export function backendEntry(kind: Exclude<BackendKind, 'auto'>): BackendEntry {
  return REGISTRY[kind];
}

export function isBackendKind(s: string): s is BackendKind {
  return (BACKEND_KINDS as readonly string[]).includes(s);
}

/** One line per kind, `kind: help` (for --help texts). */
export function backendHelpLines(): string[] {
  return [`auto: ${AUTO_HELP}`, ...Object.entries(REGISTRY).map(([k, e]) => `${k}: ${e.help}`)];
}

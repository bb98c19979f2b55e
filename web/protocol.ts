// The messages between the page (web/app.ts, the main thread) and the engine worker
// (web/engine-worker.ts, where the engine runs: the WASM pool's owner blocks in Atomics.wait,
// which a page's main thread may not). Every request carries an id; the worker answers it once
// with `done` or `failed`, and may send events (log lines, training steps) before that.
import type { StepMetrics } from '../engine/jobs/trainer.ts';

export type BackendChoice = 'auto' | 'webgpu' | 'wasm';
/** A dropped file with its path inside what was dropped ('stories/model.bin'). */
export interface DroppedFile { path: string; file: File }
export type ModelChoice = { kind: 'demo' } | { kind: 'files'; files: DroppedFile[] };
export type DataChoice = { kind: 'demo' } | { kind: 'jsonl'; name: string; text: string };

export interface AlignSettings {
  method: 'sft' | 'vaccine';
  rho: number;
  /** optimizer steps; null: one epoch */
  steps: number | null;
  lr: number;
  batchSize: number;
  /** null: align's default (200, or the model's context when shorter) */
  maxLength: number | null;
  seed: number;
  loraR: number;
  loraAlpha: number;
}

export type Request =
  | { op: 'probe' }
  | { op: 'open'; backend: BackendChoice; threads: number | null; model: ModelChoice }
  | { op: 'align'; settings: AlignSettings; data: DataChoice }
  | { op: 'stop' }
  | { op: 'generate'; prompt: string; template: boolean; maxNewTokens: number }
  | { op: 'adapter' }
  | { op: 'logits'; text: string; adapter: boolean };

/** What the worker found about the browser. */
export interface Probe {
  crossOriginIsolated: boolean;
  sharedMemory: boolean;
  /** null: navigator.gpu missing */
  webgpu: null | { adapter: string | null; software: boolean; error: string | null };
  cores: number;
}

export interface Opened {
  backend: string;
  /** the backend kind that runs: 'wasm' or 'webgpu' */
  kind: 'wasm' | 'webgpu';
  /** why auto chose WASM, when it did */
  fallback: string | null;
  model: string;
  params: number;
  tokenizer: string;
  maxPositions: number;
}

export interface Aligned { losses: number[]; metrics: StepMetrics[]; totalSteps: number; stopped: boolean }
export interface Generated { base: string; adapted: string | null; tokens: number; seconds: number }

export type Reply =
  | { id: number; type: 'done'; value: unknown }
  | { id: number; type: 'failed'; message: string }
  | { id: number; type: 'log'; message: string }
  | { id: number; type: 'step'; metrics: StepMetrics; totalSteps: number };

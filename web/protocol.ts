// The messages between the page (web/app.ts, the main thread) and the engine worker
// (web/engine-worker.ts, where the engine runs: the WASM pool's owner blocks in Atomics.wait,
// which a page's main thread may not). Every request carries an id; the worker answers it once
// with `done` or `failed`, and may send events (log lines, training steps) before that.
import type { EvaluateItem, EvaluateSummary } from '../engine/jobs/evaluate.ts';
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

/** A file's text and name. */
export interface NamedText { name: string; text: string }

/**
 * The attack's data: the built-in demo's (engine/demo.ts demoAttackFiles: a sentiment task (scored as sst2) and
 * harmful rows from templates), or the user's four files.
 */
export type AttackData = { kind: 'demo' } | {
  kind: 'files'; task: 'sst2' | 'agnews' | 'gsm8k';
  /** the fine-tune's task rows, its harmful rows (BeaverTails or Alpaca; none when floor(p*n) = 0) */
  benign: NamedText; harmful: NamedText | null;
  /** the harmful prompts HS is measured on, the task's evaluation rows FA is measured on */
  harmfulPrompts: NamedText; taskEval: NamedText;
};

export interface AttackSettings {
  n: number; p: number;
  /** optimizer steps; null: finetune's 20 epochs */
  steps: number | null;
  lr: number; batchSize: number; seed: number;
  /** null: finetune's default (200, or the model's context when shorter) */
  maxLength: number | null;
  /** rows of each evaluation file scored (evaluate's --limit) */
  evalRows: number;
  /** null: the reference's (128 for prompts, 200 for the task) */
  maxNewTokens: number | null;
}

export interface Attacked {
  /** whether the alignment adapter was merged under the attack (false: the bare model was attacked) */
  aligned: boolean;
  harmfulRows: number; benignRows: number;
  losses: number[]; totalSteps: number; stopped: boolean;
  /** evaluate's summary of the model before the fine-tune (the aligned model, or the bare one); null when the fine-tune was stopped */
  before: EvaluateSummary | null;
  /** evaluate's summary and items after it (null when the fine-tune was stopped) */
  summary: EvaluateSummary | null;
  items: EvaluateItem[];
}

export type Request =
  | { op: 'probe' }
  | { op: 'open'; backend: BackendChoice; threads: number | null; model: ModelChoice }
  | { op: 'align'; settings: AlignSettings; data: DataChoice }
  | { op: 'stop' }
  | { op: 'attack'; settings: AttackSettings; data: AttackData }
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
  | { id: number; type: 'step'; metrics: StepMetrics; totalSteps: number }
  | { id: number; type: 'answers'; stage: 'before' | 'after'; set: 'harmful' | 'task'; done: number; total: number };

// The library's one entry point: `import { ... } from 'vaccine-engine'`.
//
//   const backend = await selectBackend('auto');
//   const { model, tokenizer } = await loadPretrained('path/to/model', { backend });
//   const tape = model.forward(batch);                     // loss, logits, attention outputs
//   const { attnOutGrads } = model.backward(tape, { attnOutGrads: true });  // LoRA grads + Vaccine's hook
//   await align({ model: '...', data: '...', out: '...' }); // the whole alignment job
//   const { completions } = await generate({ model: '...', adapter: ['...'], prompt: ['...'] });  // text
import type { WebGPUBackendOptions } from '../bindings/webgpu/options.ts';
import type { Backend } from './backend.ts';
import type { CausalLM } from './model/causal_lm.ts';
import { loadModel } from './model/load.ts';
import { buildModel } from './model/registry.ts';
import { loadTokenizer, openTokenizer } from './tokenizer/load.ts';
import type { Tokenizer } from './tokenizer/tokenizer.ts';

export { Tensor } from './tensor.ts';
export { Arena } from './arena.ts';
export type { Backend, BufferHandle, DType } from './backend.ts';
export { createWasmBackend } from '../bindings/wasm/backend.ts';
export type { WebGPUBackendOptions } from '../bindings/webgpu/options.ts';
export { selectBackend } from '../bindings/select.ts';
export { showDawnWarnings } from '../bindings/webgpu/dawn_noise.ts';
export type { Batch, BackwardOptions, CausalLM, ForwardOptions, ModelOptions, Tape } from './model/causal_lm.ts';
export { buildModel, familyOf, FAMILIES } from './model/registry.ts';
export { LlamaModel } from './model/llama/model.ts';
export { generate as generateTokens, type GenerateOptions as GenerateTokensOptions, type NewToken } from './model/generate.ts';
export { TextStream } from './tokenizer/stream.ts';
export { KVCache, makeChunk, type DecodeChunk } from './model/kv_cache.ts';
export { planRows, type RowPlan, type RowsMode } from './model/rows.ts';
export { ropeTables, ropeTableValues } from './ops/rope.ts';
export type { ModelConfig, ModelFamily, HostTensor, HostWeights } from './model/family.ts';
export type { LlamaConfig } from './model/llama/config.ts';
export { loadModel } from './model/load.ts';
export { loadTokenizer } from './tokenizer/load.ts';
export type { Tokenizer } from './tokenizer/tokenizer.ts';
export { Lora, loraTargetNames, parseTargets, type LoraModule, type LoraOptions, type LoraTarget } from './lora.ts';
export { readSafetensors, writeSafetensors } from './io/safetensors.ts';
export { sftStep, vaccineStep, randomVaccineStep } from './vaccine.ts';
export { align, type AlignOptions, type AlignCallbacks, type AlignResult } from './jobs/align.ts';
export { AlignInputError, ALIGN_DEFAULTS, alignOn, type AlignStartInfo, type StepMetrics } from './jobs/align.ts';
export { finetune, finetuneOn, FINETUNE_DEFAULTS, type FinetuneOptions, type FinetuneCallbacks, type FinetuneResult, type FinetuneStartInfo, type Truncation } from './jobs/finetune.ts';
export { evaluate, evaluateOn, EVAL_TASKS, type EvaluateOptions, type EvaluateCallbacks, type EvaluateResult, type EvaluateReport, type EvaluateSummary, type EvaluateItem, type EvaluateProgress, type EvaluateStartInfo } from './jobs/evaluate.ts';
export { experiment, EXPERIMENT_OPTIONS, GRID_METHODS, VOLATILE_META_KEYS, type ExperimentOptions, type ExperimentCallbacks, type ExperimentResult, type ExperimentStartInfo, type UnitProgress, type UnitDone } from './jobs/experiment.ts';
export { ModelJudge, readJudgeCheckpoint, JudgeModelError } from './eval/judge-model.ts';
export { generate, generateOn, GENERATE_DEFAULTS, type GenerateJobOptions, type GenerateCallbacks, type GenerateResult, type GenerateProgress, type GenerateStartInfo, type Completion, type PromptInput, type PromptItem, type StopReason } from './jobs/generate.ts';
export { Session, withSession, type SessionOptions, type HostModel, type BackendKind } from './jobs/session.ts';
export { InputError } from './jobs/errors.ts';
export { saveAdapter, loadAdapter, mergeAdapters, AdapterError } from './adapter.ts';
export { formatPrompt, parseRows, readRows, encodeExample, collate, DataError } from './data.ts';
export { AdamW, SGD, lrLambda, warmupSteps } from './optim.ts';
export { ByteTokenizer } from './tokenizer/bytes.ts';
export { parseRecords, rowFromRecord, recordAt, type DataRecord, type TextRow } from './data.ts';
export { TASK_NAMES, parseTask, taskRow, parseTaskRows, readTaskRows, SST2_INSTRUCTION, SST2_LABELS, AGNEWS_INSTRUCTION, AGNEWS_CATEGORIES, GSM8K_QUESTION_SUFFIX, GSM8K_ANSWER_PROMPT, type TaskName } from './tasks/tasks.ts';
export { parseHarmfulRows, readHarmfulRows, parsePromptRows, readPromptRows, type HarmfulRow, type PromptRow } from './tasks/harmful.ts';
export { buildMix, planMix, mixedRows, mixCounts, writeMixRecord, MIX_RULE, type MixOptions, type MixRecord, type MixSource, type MixedRow, type MixPlan } from './tasks/mix.ts';
export { evalPrompt, responseFromDecoded, responseFromContinuation, pyStrip, RESPONSE_MARKER } from './eval/answer.ts';
export { KeywordJudge, GCG_REFUSAL_PHRASES, findRefusal, parseJudgeSpec, moderationText, isIncoherent, longestRepeat, harmfulScores, overRefusal, type Judge, type JudgeItem, type JudgeVerdict, type JudgeSpec, type HarmfulSummary } from './eval/judge.ts';
export { extractGsm8kNumber, isCorrect, checkGold, finetuneAccuracy, type ScoredTask } from './eval/accuracy.ts';
export { embeddingDrift, type HiddenBatch } from './eval/drift.ts';
export { aggregateBefore, aggregateCells, meanSd, type BeforeSummary, type GroupSummary, type Stat } from './eval/aggregate.ts';
export { validateResults, METRIC_KEYS, type ExperimentResults, type CellResult, type AlignmentRun, type BeforeAttackResult, type LossPoint, type MetricKey, type Metrics } from './eval/results.ts';
export { renderReport, type ReportOptions } from './eval/report/html.ts';
export { reportCharts, chartToSvg, type ChartSpec } from './eval/report/charts.ts';

/**
 * Loads a model (a Hugging Face directory or a llama2.c .bin) onto `backend`, and its tokenizer
 * (by default the one found beside the model).
 */
export async function loadPretrained(path: string, opts: { backend: Backend; tokenizer?: string }): Promise<{ model: CausalLM; tokenizer: Tokenizer }> {
  const tokenizer = opts.tokenizer !== undefined ? openTokenizer(opts.tokenizer) : loadTokenizer(path);
  const { config, weights } = loadModel(path);
  return { model: buildModel(opts.backend, config, weights), tokenizer };
}

/**
 * Opens a WebGPU device through dawn.node and returns the WebGPU backend on it. The backend (and
 * with it the native addon) is imported here, on first use: importing the engine loads neither.
 * Typed as the Backend interface, so the public types name no WebGPU type.
 */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<Backend> {
  const { createWebGPUBackend: create } = await import('../bindings/webgpu/backend.ts');
  return create(opts);
}

/**
 * Opens a WebGPU device through a library implementing the standard webgpu.h (`library`, else
 * $WEBGPU_LIB, else Dawn's library from the optional package bun-webgpu-linux-x64), over FFI,
 * and returns the same WebGPU backend on it. koffi and the library load here, on first use.
 */
export async function createNativeBackend(opts: WebGPUBackendOptions & { library?: string } = {}): Promise<Backend> {
  const { createNativeBackend: create } = await import('../bindings/native/index.ts');
  return create(opts);
}

// A model family: the one place that knows an architecture's config fields, its weights (names
// and shapes), where LoRA attaches (target names, projection shapes, PEFT module names) and how
// to build the model. Everything else (LoRA, adapters, Vaccine, jobs, generation) asks the family
// of a config (registry.ts) and works with the CausalLM it builds (causal_lm.ts). A new family
// is a folder beside llama/ with a ModelFamily, added to registry.ts.
import type { Backend } from '../backend.ts';
import type { ByteSource } from '../io/source.ts';
import type { CausalLM, ModelOptions } from './causal_lm.ts';

/** The hyper-parameters every family has; a family's config extends this. */
export interface ModelConfig {
  /** the family's name in the registry ('llama'): selects the code that runs this config */
  family: string;
  vocabSize: number;
  /** width of the residual stream (hidden_size): the attention-block output is [rows, dim] */
  dim: number;
  nLayers: number;
  /** positions the checkpoint was trained for (max_position_embeddings) */
  maxSeqLen: number;
  bosId: number;
  eosId: number;
  /** what was loaded, for base_model_name_or_path */
  namePath: string;
}

/** Host-side weights as loaded (HF names, f32). */
export interface HostTensor { shape: number[]; data: Float32Array }
export type HostWeights = Map<string, HostTensor>;

/** A projection LoRA can attach to, as PEFT names it. */
export interface LoraTargetSpec<C extends ModelConfig> {
  /** PEFT's target_modules name: 'q_proj' */
  name: string;
  /** the module inside a layer: 'self_attn.q_proj' */
  module: string;
  /** [in, out] features of the projection (LoRA's A is [r, in], B is [out, r]) */
  shape(config: C): [number, number];
}

/** A checkpoint format other than a Hugging Face directory (e.g. llama2.c's .bin). */
export interface CheckpointFormat<C extends ModelConfig> {
  /** for error messages: 'llama2.c .bin checkpoint' */
  describe: string;
  /** whether a file is in this format, from its name (or path) */
  matches(name: string): boolean;
  load(src: ByteSource): { config: C; weights: HostWeights };
}

export interface ModelFamily<C extends ModelConfig = ModelConfig> {
  /** ModelConfig.family of its configs */
  readonly name: string;
  /** Hugging Face `architectures` entries this family runs (config.json) */
  readonly architectures: readonly string[];
  /** Hugging Face `model_type` values, for a config.json without `architectures` */
  readonly modelTypes: readonly string[];
  /**
   * The config from a parsed config.json; throws naming the file and the field for anything it
   * cannot run. `path` is the model directory (becomes namePath).
   */
  configFromHF(json: Record<string, unknown>, path: string): C;
  /**
   * Reconciles a config with the weights a checkpoint actually holds (e.g. no lm_head means tied
   * embeddings) and drops weights the model does not use. Optional.
   */
  fitToWeights?(config: C, weights: HostWeights): void;
  /** Every weight the model needs, by Hugging Face name, with its shape. */
  weightShapes(config: C): Map<string, number[]>;
  /** Checkpoint files this family reads besides Hugging Face directories. */
  readonly checkpointFormats: readonly CheckpointFormat<C>[];

  /** Where LoRA can attach, in the family's canonical order (the order of adapter_config.json). */
  readonly loraTargets: readonly LoraTargetSpec<C>[];
  /** Module path of layer i, as in the checkpoint's weight names: 'model.layers.3'. */
  layerModule(layer: number): string;
  /**
   * A LoRA B [out, r] in the engine's row order -> the adapter file's (inverse: fromFile). Needed
   * where the checkpoint stores a projection's rows in another order than Hugging Face does
   * (llama2.c's interleaved q/k); null for targets (or checkpoints) with the same order.
   */
  loraRowOrder(config: C, target: string): { toFile(b: Float32Array, r: number): Float32Array; fromFile(b: Float32Array, r: number): Float32Array } | null;

  /** Uploads the weights (checked against weightShapes) and returns the model. */
  build(backend: Backend, config: C, weights: HostWeights, opts?: ModelOptions): CausalLM;
}

/** PEFT's prefix for a causal LM's modules: the adapter names `base_model.model.` + module path. */
export const PEFT_PREFIX = 'base_model.model.';

/** Throws naming the first missing or misshaped weight; `where` names the checkpoint. */
export function checkWeights(shapes: Map<string, number[]>, weights: HostWeights, where: string): void {
  for (const [name, shape] of shapes) {
    const t = weights.get(name);
    if (!t) throw new Error(`${where}: missing weight '${name}' (expected shape [${shape}])`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${where}: weight '${name}' has shape [${t.shape}], expected [${shape}]`);
    }
  }
}

/** The config.json a model directory's errors name (`path` may already be the file). */
export function configFile(path: string): string {
  return path.endsWith('.json') ? path : `${path.replace(/\/+$/, '')}/config.json`;
}

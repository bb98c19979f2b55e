// LoRA adapters on disk in PEFT's format: adapter_model.safetensors (f32; A [r, in], B [out, r]
// under base_model.model.<module>.lora_{A|B}.weight, the module path given by the model's family,
// e.g. model.layers.{i}.self_attn.q_proj for Llama) and adapter_config.json (a LoraConfig). Where a
// checkpoint keeps a projection's rows in another order than Hugging Face (llama2.c's q/k), the
// family maps B to HF's order on save and back on load, so the same file works on the HF model.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './io/atomic.ts';

export { writeFileAtomic };
import { join } from 'node:path';
import type { Backend } from './backend.ts';
import { encodeSafetensors, readSafetensors, writeSafetensors } from './io/safetensors.ts';
import { Lora, loraTargetNames, projectionShape, peftModuleName, type LoraTarget } from './lora.ts';
import type { CausalLM } from './model/causal_lm.ts';
import type { HostTensor, ModelConfig } from './model/family.ts';
import { familyOf } from './model/registry.ts';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

/** An adapter that cannot be used with this model: the CLI exits with code 2 on it. */
export class AdapterError extends Error {
  constructor(message: string) { super(message); this.name = 'AdapterError'; }
}

export interface AdapterConfigJson {
  r: number; lora_alpha: number; lora_dropout: number; target_modules: string[];
  peft_type: 'LORA'; task_type: 'CAUSAL_LM'; base_model_name_or_path: string;
  bias: 'none'; fan_in_fan_out: false; inference_mode: true;
  [extra: string]: unknown;
}

/** The adapter's tensors in file layout (HF row order), by PEFT name. */
export async function adapterTensors(lora: Lora, config: ModelConfig): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  const family = familyOf(config);
  for (const m of lora.modules) {
    const a = await m.A.toFloat32();
    let b = await m.B.toFloat32();
    const order = family.loraRowOrder(config, m.target);
    if (order) b = order.toFile(b, lora.options.r);
    out.set(`${m.peftName}.lora_A.weight`, { shape: [lora.options.r, m.inF], data: a });
    out.set(`${m.peftName}.lora_B.weight`, { shape: [m.outF, lora.options.r], data: b });
  }
  return out;
}

export function adapterConfigJson(lora: Lora, config: ModelConfig): AdapterConfigJson {
  return {
    r: lora.options.r,
    lora_alpha: lora.options.alpha,
    lora_dropout: lora.options.dropout,
    target_modules: lora.orderedTargets(),
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: config.namePath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
  };
}


/** Saves the adapter into `dir` (created if needed): the weights, then the config. */
export async function saveAdapter(dir: string, lora: Lora, config: ModelConfig): Promise<void> {
  const tensors = await adapterTensors(lora, config);
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, ADAPTER_METADATA);
  writeFileAtomic(join(dir, ADAPTER_CONFIG), adapterConfigText(lora, config));
}

const ADAPTER_METADATA = { format: 'pt' };

function adapterConfigText(lora: Lora, config: ModelConfig): string {
  return JSON.stringify(adapterConfigJson(lora, config), null, 2) + '\n';
}

/**
 * The adapter's two files as bytes, by name (adapter_model.safetensors, adapter_config.json):
 * what saveAdapter writes, for a caller without a file system (the web page's download).
 */
export async function adapterFiles(lora: Lora, config: ModelConfig): Promise<Map<string, Uint8Array>> {
  const chunks = encodeSafetensors(await adapterTensors(lora, config), ADAPTER_METADATA, {}, ADAPTER_WEIGHTS);
  const weights = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { weights.set(c, at); at += c.length; }
  return new Map([[ADAPTER_WEIGHTS, weights], [ADAPTER_CONFIG, new TextEncoder().encode(adapterConfigText(lora, config))]]);
}

export interface LoadedAdapterConfig { r: number; alpha: number; dropout: number; targets: LoraTarget[] }

/** The adapter_config.json of `dir`; target names are checked against `config`'s family. */
export function readAdapterConfig(dir: string, config: ModelConfig): LoadedAdapterConfig {
  const file = join(dir, ADAPTER_CONFIG);
  if (!existsSync(file)) throw new AdapterError(`adapter config not found: ${file}`);
  let json: Record<string, unknown>;
  try { json = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    throw new AdapterError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = json.r, alpha = json.lora_alpha;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new AdapterError(`${file}: "r" must be a positive integer`);
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new AdapterError(`${file}: "lora_alpha" must be a positive number`);
  if (json.peft_type !== undefined && json.peft_type !== 'LORA') throw new AdapterError(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not LORA`);
  let tm = json.target_modules;
  if (typeof tm === 'string') tm = [tm];
  if (!Array.isArray(tm) || tm.length === 0) throw new AdapterError(`${file}: "target_modules" must be a non-empty list`);
  const known = loraTargetNames(config);
  const targets: LoraTarget[] = [];
  for (const t of tm) {
    if (!known.includes(String(t))) {
      throw new AdapterError(`${file}: unknown target module '${t}' for ${config.family} models (known: ${known.join(', ')})`);
    }
    targets.push(String(t));
  }
  const dropout = typeof json.lora_dropout === 'number' ? json.lora_dropout : 0;
  return { r, alpha, dropout, targets };
}

/**
 * Loads an adapter for `config`, checking every tensor's presence and shape. `dropout` is the
 * dropout to train with (the file's value is only a record); `seed` is unused by loading but kept
 * in the options so a resumed run reports it.
 */
export function loadAdapter(backend: Backend, config: ModelConfig, dir: string, opts: { dropout?: number; seed?: number } = {}): Lora {
  const cfg = readAdapterConfig(dir, config);
  const family = familyOf(config);
  const file = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(file)) throw new AdapterError(`adapter weights not found: ${file}`);
  let tensors: Map<string, HostTensor>;
  try { tensors = readSafetensors(file).tensors; } catch (e) {
    throw new AdapterError((e as Error).message);
  }
  const used = new Set<string>();
  const get = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new AdapterError(`${file}: tensor ${name} is missing (adapter does not fit this model)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AdapterError(`${file}: tensor ${name} has shape [${t.shape.join(', ')}] but this model needs [${shape.join(', ')}] (adapter does not fit this model)`);
    }
    used.add(name);
    return t.data;
  };
  // Every tensor is checked before anything is uploaded, so a bad adapter leaves no device memory behind.
  const host = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const target of cfg.targets) {
      const [inF, outF] = projectionShape(config, target);
      const name = peftModuleName(config, layer, target);
      const A = get(`${name}.lora_A.weight`, [cfg.r, inF]);
      let B = get(`${name}.lora_B.weight`, [outF, cfg.r]);
      const order = family.loraRowOrder(config, target);
      if (order) B = order.fromFile(B, cfg.r);
      host.set(`${layer}.${target}`, { A, B });
    }
  }
  const extra = [...tensors.keys()].filter((n) => !used.has(n));
  if (extra.length > 0) {
    throw new AdapterError(`${file}: ${extra.length} tensor(s) do not fit this model (${config.nLayers} layers, targets ${cfg.targets.join(',')}), e.g. ${extra[0]}`);
  }
  const lora = Lora.fromWeights(backend, config,
    { r: cfg.r, alpha: cfg.alpha, dropout: opts.dropout ?? cfg.dropout, targets: cfg.targets, seed: opts.seed ?? 0 },
    (layer, target) => host.get(`${layer}.${target}`)!);
  return lora;
}

/**
 * Merges PEFT adapters into a model's base weights, in the order given (W += alpha/r B A each: the
 * paper's Double-LoRA, and what `--adapter` / `--merge-adapter` do). The model keeps the result;
 * an attached adapter (model.lora) stays attached. An adapter that does not fit the model is an
 * AdapterError, raised before that adapter changes anything (earlier ones stay merged). To attach
 * one adapter instead, unmerged (trainable, removable): `model.lora = loadAdapter(model.backend,
 * model.config, dir)`.
 */
export function mergeAdapters(model: CausalLM, dirs: readonly string[]): void {
  for (const dir of dirs) {
    const lora = loadAdapter(model.backend, model.config, dir, { dropout: 0 });
    try { model.mergeLora(lora); } finally { lora.dispose(); }
  }
}

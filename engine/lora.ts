// LoRA adapters as PEFT defines them: y = W x + (alpha / r) · B (A · dropout(x)), with A [r, in]
// (Kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))) and B [out, r] (zeros). Only these
// tensors train; the base weights stay frozen. Which projections exist, their shapes and their
// PEFT names come from the model's family (engine/model/family.ts).
import type { Backend } from './backend.ts';
import { PEFT_PREFIX, type ModelConfig, type ModelFamily } from './model/family.ts';
import { FAMILIES, familyOf } from './model/registry.ts';
import { fill } from './ops/elementwise.ts';
import { Rng } from './random.ts';
import { Tensor } from './tensor.ts';

/** A target module's PEFT name ('q_proj'); which exist depends on the family. */
export type LoraTarget = string;

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
  seed: number;
}

export interface LoraModule {
  layer: number;
  target: LoraTarget;
  inF: number;
  outF: number;
  A: Tensor;
  B: Tensor;
  dA: Tensor;
  dB: Tensor;
  /** e.g. base_model.model.model.layers.3.self_attn.q_proj (append .lora_A.weight) */
  peftName: string;
}

/** [in, out] features of a target projection of `config`'s family; throws for a target it lacks. */
export function projectionShape(config: ModelConfig, target: LoraTarget): [number, number] {
  return targetSpec(familyOf(config), target).shape(config);
}

/** The PEFT module name of `target` in `layer` (append .lora_A.weight / .lora_B.weight). */
export function peftModuleName(config: ModelConfig, layer: number, target: LoraTarget): string {
  const family = familyOf(config);
  return `${PEFT_PREFIX}${family.layerModule(layer)}.${targetSpec(family, target).module}`;
}

/** The target names of `config`'s family, in its canonical order. */
export function loraTargetNames(config: ModelConfig): LoraTarget[] {
  return familyOf(config).loraTargets.map((t) => t.name);
}

function targetSpec(family: ModelFamily, target: LoraTarget) {
  const spec = family.loraTargets.find((t) => t.name === target);
  if (!spec) throw new Error(`unknown LoRA target module '${target}' for ${family.name} models (known: ${family.loraTargets.map((t) => t.name).join(', ')})`);
  return spec;
}

/** `'all'`: every target of `config`'s family, in its order; a list is returned as given (Lora.create checks it). */
export function resolveLoraTargets(targets: readonly LoraTarget[] | 'all', config: ModelConfig): LoraTarget[] {
  return targets === 'all' ? loraTargetNames(config) : [...targets];
}

/**
 * Parses a comma-separated target list; throws on a name no family knows. Whether the model at
 * hand has each target is checked when the adapter is made for it (Lora.create / fromWeights).
 */
export function parseTargets(list: string): LoraTarget[] {
  const known = [...new Set(FAMILIES.flatMap((f) => f.loraTargets.map((t) => t.name)))];
  const out: LoraTarget[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!known.includes(raw)) throw new Error(`unknown LoRA target module '${raw}' (known: ${known.join(', ')})`);
    if (!out.includes(raw)) out.push(raw);
  }
  if (out.length === 0) throw new Error('no LoRA target modules given');
  return out;
}

export class Lora {
  readonly modules: LoraModule[] = [];
  private byKey = new Map<string, LoraModule>();

  private constructor(readonly backend: Backend, readonly config: ModelConfig, readonly options: LoraOptions) {
    const family = familyOf(config);
    for (const t of options.targets) targetSpec(family, t);
  }

  /** alpha / r */
  get scale(): number { return this.options.alpha / this.options.r; }

  /** A new adapter with PEFT's initialisation. */
  static create(backend: Backend, config: ModelConfig, opts: LoraOptions): Lora {
    if (!Number.isInteger(opts.r) || opts.r <= 0) throw new Error(`LoRA rank must be a positive integer, got ${opts.r}`);
    if (!(opts.dropout >= 0 && opts.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${opts.dropout}`);
    const lora = new Lora(backend, config, opts);
    const rng = new Rng(opts.seed);
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const target of lora.orderedTargets()) {
        const [inF, outF] = projectionShape(config, target);
        const bound = 1 / Math.sqrt(inF);
        const a = new Float32Array(opts.r * inF);
        for (let i = 0; i < a.length; i++) a[i] = rng.uniform(-bound, bound);
        lora.add(layer, target, a, new Float32Array(outF * opts.r));
      }
    }
    return lora;
  }

  /** An adapter with given weights (A [r,in], B [out,r] per module), e.g. loaded from disk. */
  static fromWeights(backend: Backend, config: ModelConfig, opts: LoraOptions,
    weights: (layer: number, target: LoraTarget) => { A: Float32Array; B: Float32Array }): Lora {
    const lora = new Lora(backend, config, opts);
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const target of lora.orderedTargets()) {
        const { A, B } = weights(layer, target);
        lora.add(layer, target, A, B);
      }
    }
    return lora;
  }

  /** The chosen targets in the family's order (which fixes the modules' order and the init draws). */
  orderedTargets(): LoraTarget[] {
    return loraTargetNames(this.config).filter((t) => this.options.targets.includes(t));
  }

  private add(layer: number, target: LoraTarget, a: Float32Array, b: Float32Array): void {
    const [inF, outF] = projectionShape(this.config, target);
    const r = this.options.r;
    const peftName = peftModuleName(this.config, layer, target);
    if (a.length !== r * inF || b.length !== outF * r) {
      throw new Error(`LoRA ${peftName}: expected A [${r}, ${inF}] and B [${outF}, ${r}]`);
    }
    const m: LoraModule = {
      layer, target, inF, outF,
      A: Tensor.from(this.backend, [r, inF], a),
      B: Tensor.from(this.backend, [outF, r], b),
      dA: Tensor.zeros(this.backend, [r, inF]),
      dB: Tensor.zeros(this.backend, [outF, r]),
      peftName,
    };
    this.modules.push(m);
    this.byKey.set(`${layer}.${target}`, m);
  }

  get(layer: number, target: LoraTarget): LoraModule | undefined {
    return this.byKey.get(`${layer}.${target}`);
  }

  /** Throws unless this adapter was made for a model with `config`'s family and shapes. */
  assertFits(config: ModelConfig): void {
    const what = `LoRA adapter (${this.config.family}, ${this.config.nLayers} layers)`;
    if (config.family !== this.config.family) throw new Error(`${what} does not fit a ${config.family} model`);
    for (const m of this.modules) {
      const [inF, outF] = m.layer < config.nLayers ? projectionShape(config, m.target) : [-1, -1];
      if (inF !== m.inF || outF !== m.outF) throw new Error(`${what}: ${m.peftName} [${m.inF} -> ${m.outF}] does not fit this model`);
    }
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    return this.modules.reduce((s, m) => s + m.A.size + m.B.size, 0);
  }

  zeroGrad(): void {
    for (const m of this.modules) { fill(m.dA, 0); fill(m.dB, 0); }
  }

  dispose(): void {
    for (const m of this.modules) { m.A.dispose(); m.B.dispose(); m.dA.dispose(); m.dB.dispose(); }
    this.modules.length = 0;
    this.byKey.clear();
  }
}

// LoRA adapters as PEFT defines them: y = W x + (alpha / r) · B (A · dropout(x)), with A [r, in]
// (Kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))) and B [out, r] (zeros). Only these
// tensors train; the base weights stay frozen.
import type { Backend } from './backend.ts';
import type { LlamaConfig } from './model/config.ts';
import { fill } from './ops/elementwise.ts';
import { Rng } from './random.ts';
import { Tensor } from './tensor.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = typeof LORA_TARGETS[number];

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

/** [in, out] features of a target projection in a Llama layer. */
export function projectionShape(config: LlamaConfig, target: LoraTarget): [number, number] {
  const q = config.nHeads * config.headDim, kv = config.nKvHeads * config.headDim;
  switch (target) {
    case 'q_proj': return [config.dim, q];
    case 'k_proj': return [config.dim, kv];
    case 'v_proj': return [config.dim, kv];
    case 'o_proj': return [q, config.dim];
    case 'gate_proj': return [config.dim, config.hiddenDim];
    case 'up_proj': return [config.dim, config.hiddenDim];
    case 'down_proj': return [config.hiddenDim, config.dim];
  }
}

export function peftModuleName(layer: number, target: LoraTarget): string {
  const block = ['gate_proj', 'up_proj', 'down_proj'].includes(target) ? 'mlp' : 'self_attn';
  return `base_model.model.model.layers.${layer}.${block}.${target}`;
}

/** Parses a comma-separated target list; throws on an unknown name. */
export function parseTargets(list: string): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(LORA_TARGETS as readonly string[]).includes(raw)) {
      throw new Error(`unknown LoRA target module '${raw}' (known: ${LORA_TARGETS.join(', ')})`);
    }
    if (!out.includes(raw as LoraTarget)) out.push(raw as LoraTarget);
  }
  if (out.length === 0) throw new Error('no LoRA target modules given');
  return out;
}

export class Lora {
  readonly modules: LoraModule[] = [];
  private byKey = new Map<string, LoraModule>();

  private constructor(readonly backend: Backend, readonly config: LlamaConfig, readonly options: LoraOptions) {}

  /** alpha / r */
  get scale(): number { return this.options.alpha / this.options.r; }

  /** A new adapter with PEFT's initialisation. */
  static create(backend: Backend, config: LlamaConfig, opts: LoraOptions): Lora {
    if (!Number.isInteger(opts.r) || opts.r <= 0) throw new Error(`LoRA rank must be a positive integer, got ${opts.r}`);
    if (!(opts.dropout >= 0 && opts.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${opts.dropout}`);
    const lora = new Lora(backend, config, opts);
    const rng = new Rng(opts.seed);
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const target of LORA_TARGETS) {
        if (!opts.targets.includes(target)) continue;
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
  static fromWeights(backend: Backend, config: LlamaConfig, opts: LoraOptions,
    weights: (layer: number, target: LoraTarget) => { A: Float32Array; B: Float32Array }): Lora {
    const lora = new Lora(backend, config, opts);
    for (let layer = 0; layer < config.nLayers; layer++) {
      for (const target of LORA_TARGETS) {
        if (!opts.targets.includes(target)) continue;
        const { A, B } = weights(layer, target);
        lora.add(layer, target, A, B);
      }
    }
    return lora;
  }

  private add(layer: number, target: LoraTarget, a: Float32Array, b: Float32Array): void {
    const [inF, outF] = projectionShape(this.config, target);
    const r = this.options.r;
    if (a.length !== r * inF || b.length !== outF * r) {
      throw new Error(`LoRA ${peftModuleName(layer, target)}: expected A [${r}, ${inF}] and B [${outF}, ${r}]`);
    }
    const m: LoraModule = {
      layer, target, inF, outF,
      A: Tensor.from(this.backend, [r, inF], a),
      B: Tensor.from(this.backend, [outF, r], b),
      dA: Tensor.zeros(this.backend, [r, inF]),
      dB: Tensor.zeros(this.backend, [outF, r]),
      peftName: peftModuleName(layer, target),
    };
    this.modules.push(m);
    this.byKey.set(`${layer}.${target}`, m);
  }

  get(layer: number, target: LoraTarget): LoraModule | undefined {
    return this.byKey.get(`${layer}.${target}`);
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

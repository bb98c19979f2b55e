// The Llama family's model (Llama-2, TinyLlama, SmolLM, Qwen2-style q/k/v bias; llama2.c
// checkpoints) with LoRA on any of the seven projections, as a CausalLM (../causal_lm.ts). The
// decoder itself (tape, attention block, head rows, backward, decoding) is ../decoder.ts; this file
// holds what Llama does its own way: RMSNorm, RoPE, the SwiGLU MLP and a bias-free head.
//
// One layer, with N = B*T rows (the residual stream x is [N, dim]):
//   h   = rmsnorm(x)                 q,k,v = h Wq^T, h Wk^T, h Wv^T (+ LoRA, + bias)
//   rope(q), rope(k)                 att   = attention(q, k, v)
//   o   = att Wo^T (+ LoRA)          <- the attention-block output: Vaccine perturbs it (o += e_l)
//   x'  = x + o                      h2    = rmsnorm(x')
//   g,u = h2 Wg^T, h2 Wu^T (+ LoRA)  a = silu(g) * u      d = a Wd^T (+ LoRA)
//   x'' = x' + d
// RoPE reads its cos/sin rows gathered at each token's position (training: t; decoding: where
// each sequence has got to), so one rope call serves sequences at different positions.
import type { Backend } from '../../backend.ts';
import type { LoraTarget } from '../../lora.ts';
import { embedding } from '../../ops/embedding.ts';
import { linear, linearBackward } from '../../ops/matmul.ts';
import { rmsnorm, rmsnormBackward } from '../../ops/rmsnorm.ts';
import { gatherRopeTables, rope, ropeTables, type RopeTables } from '../../ops/rope.ts';
import { swiglu, swigluBackward } from '../../ops/swiglu.ts';
import type { Tensor } from '../../tensor.ts';
import type { Batch, ModelOptions } from '../causal_lm.ts';
import type { AttentionTape, AttentionWeights, Mk, Proj, ProjBack } from '../blocks.ts';
import { DecoderModel } from '../decoder.ts';
import type { HostWeights } from '../family.ts';
import type { DecodeChunk } from '../kv_cache.ts';
import type { DeviceRows } from '../rows.ts';
import { LLAMA_LORA_TARGETS, llamaWeightShapes, type LlamaConfig } from './config.ts';

interface LayerWeights extends AttentionWeights {
  attnNorm: Tensor;
  ffnNorm: Tensor;
  gate: Tensor; up: Tensor; down: Tensor;
}

interface LayerTape extends AttentionTape {
  h: Tensor; rstd1: Tensor;          // rmsnorm(x), q/k/v's input
  h2: Tensor; rstd2: Tensor;         // rmsnorm(x')
  g: Tensor; up: Tensor; a: Tensor;
}

/** The head's final norm: its output (the head's input) and rstd. */
interface Head { h: Tensor; rstd: Tensor }

/** The MLP's backward scratch. */
interface MlpScratch { da: Tensor; dg: Tensor; dup: Tensor }

/** Each target's index in the family's list: it seeds the target's dropout masks. */
const TARGET_INDEX: Record<LoraTarget, number> = Object.fromEntries(LLAMA_LORA_TARGETS.map((t, i) => [t.name, i]));
const MAX_ROPE_POSITIONS = 16384;

/** Llama on the shared decoder; its pass state is the RoPE tables' rows at each row's position. */
export class LlamaModel extends DecoderModel<LlamaConfig, LayerWeights, LayerTape, Head, RopeTables, MlpScratch> {
  protected readonly targetIndex = TARGET_INDEX;
  protected readonly outTarget = 'o_proj';
  private embed!: Tensor;
  private finalNorm!: Tensor;
  private lmHead!: Tensor;
  private rope: RopeTables;

  private constructor(backend: Backend, config: LlamaConfig, weights: HostWeights, opts: ModelOptions) {
    // Tables up to the model's context, capped: some configs declare 128k positions.
    super(backend, config, opts, Math.min(config.maxSeqLen, MAX_ROPE_POSITIONS), config.nKvHeads);
    const c = config;
    // One definition of the weights and their shapes (config.ts), checked once, used for upload.
    this.upload(llamaWeightShapes(c), weights, (get, getMatrix) => {
      this.embed = get('model.embed_tokens.weight');
      this.finalNorm = get('model.norm.weight');
      this.lmHead = c.tiedEmbeddings ? this.embed : getMatrix('lm_head.weight');
      for (let l = 0; l < c.nLayers; l++) {
        const p = `model.layers.${l}.`;
        this.layers.push({
          attnNorm: get(p + 'input_layernorm.weight'),
          ffnNorm: get(p + 'post_attention_layernorm.weight'),
          q: getMatrix(p + 'self_attn.q_proj.weight'),
          k: getMatrix(p + 'self_attn.k_proj.weight'),
          v: getMatrix(p + 'self_attn.v_proj.weight'),
          o: getMatrix(p + 'self_attn.o_proj.weight'),
          qBias: c.attentionBias ? get(p + 'self_attn.q_proj.bias') : null,
          kBias: c.attentionBias ? get(p + 'self_attn.k_proj.bias') : null,
          vBias: c.attentionBias ? get(p + 'self_attn.v_proj.bias') : null,
          oBias: null,
          gate: getMatrix(p + 'mlp.gate_proj.weight'),
          up: getMatrix(p + 'mlp.up_proj.weight'),
          down: getMatrix(p + 'mlp.down_proj.weight'),
        });
      }
    });
    this.rope = ropeTables(backend, this.maxPositions, c.headDim, c.ropeTheta);
  }

  /** Uploads host weights (HF names, f32) to the backend. The base weights stay frozen. */
  static fromHost(backend: Backend, config: LlamaConfig, weights: HostWeights, opts: ModelOptions = {}): LlamaModel {
    return new LlamaModel(backend, config, weights, opts);
  }

  protected projectionWeight(l: number, target: LoraTarget): Tensor {
    const w = this.layers[l];
    switch (target) {
      case 'q_proj': return w.q; case 'k_proj': return w.k; case 'v_proj': return w.v; case 'o_proj': return w.o;
      case 'gate_proj': return w.gate; case 'up_proj': return w.up; case 'down_proj': return w.down;
    }
    throw new Error(`llama: no projection '${target}'`);
  }

  protected weightTensors(): Tensor[] {
    const all = [this.embed, this.finalNorm, this.rope.cos, this.rope.sin];
    if (this.lmHead !== this.embed) all.push(this.lmHead);
    for (const w of this.layers) {
      all.push(w.attnNorm, w.ffnNorm, w.q, w.k, w.v, w.o, w.gate, w.up, w.down);
      for (const b of [w.qBias, w.kBias, w.vBias]) if (b) all.push(b);
    }
    return all;
  }

  // ---- embedding and positions ---------------------------------------------------------------

  protected embedRows(x: Tensor, dev: DeviceRows, _batch: Batch, keep: (t: Tensor) => Tensor): RopeTables {
    const tables = gatherRopeTables(this.rope, dev.positions, 'rope.');
    keep(tables.cos); keep(tables.sin);
    embedding(x, this.embed, dev.ids);
    return tables;
  }

  protected embedChunk(x: Tensor, chunk: DecodeChunk, keep: (t: Tensor) => Tensor): RopeTables {
    const tables = gatherRopeTables(this.rope, chunk.positions, 'dec.rope.');
    keep(tables.cos); keep(tables.sin);
    embedding(x, this.embed, chunk.ids);
    return tables;
  }

  protected passTensors(tables: RopeTables | null): (Tensor | null)[] {
    return [tables?.cos ?? null, tables?.sin ?? null];
  }

  /** RoPE in place on q, k ([N, H*hd] rows), each row rotated by its own position (tables gathered per row). */
  protected rotate(q: Tensor, k: Tensor, tables: RopeTables, inverse: boolean): void {
    const c = this.config;
    for (const [t, H] of [[q, c.nHeads], [k, c.nKvHeads]] as const) {
      rope(t.view([1, t.shape[0], H, c.headDim]), tables, { pos0: 0, interleaved: c.ropeInterleaved, inverse });
    }
  }

  // ---- a layer ---------------------------------------------------------------------------------

  protected layerBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean, mk: Mk, keys: string): LayerTape {
    const c = this.config;
    const m = (shape: number[], name: string) => mk(shape, keys + name);
    return {
      ...this.attentionBuffers(x, B, T, N, keepO, scatter, m),
      h: m([N, c.dim], 'h'), rstd1: m([N], 'rstd1'),
      h2: m([N, c.dim], 'h2'), rstd2: m([N], 'rstd2'),
      g: m([N, c.hiddenDim], 'g'), up: m([N, c.hiddenDim], 'up'), a: m([N, c.hiddenDim], 'a'),
    };
  }

  protected layerTensors(lt: LayerTape): Tensor[] {
    return [lt.h, lt.rstd1, lt.h2, lt.rstd2, lt.g, lt.up, lt.a];
  }

  protected attnNorm(w: LayerWeights, lt: LayerTape): Tensor {
    rmsnorm(lt.h, lt.rstd1, lt.x, w.attnNorm, this.config.normEps);
    return lt.h;
  }

  protected attnNormOut(lt: LayerTape): Tensor { return lt.h; }

  protected attnNormBackward(dIn: Tensor, dOut: Tensor, w: LayerWeights, lt: LayerTape): void {
    rmsnormBackward(dIn, null, dOut, lt.x, w.attnNorm, lt.rstd1);
  }

  protected mlpForward(w: LayerWeights, lt: LayerTape, out: Tensor, proj: Proj): void {
    rmsnorm(lt.h2, lt.rstd2, lt.xMid, w.ffnNorm, this.config.normEps);
    proj('gate_proj', lt.g, lt.h2, w.gate, null);
    proj('up_proj', lt.up, lt.h2, w.up, null);
    swiglu(lt.a, lt.g, lt.up);
    proj('down_proj', out, lt.a, w.down, null);
  }

  protected mlpScratch(N: number, tmp: (shape: number[], key: string) => Tensor): MlpScratch {
    const H = this.config.hiddenDim;
    return { da: tmp([N, H], 'da'), dg: tmp([N, H], 'dg'), dup: tmp([N, H], 'dup') };
  }

  /** x'' = x' + down(silu(g) * u), with g, u from rmsnorm(x') */
  protected mlpBackward(w: LayerWeights, lt: LayerTape, dOut: Tensor, dn: Tensor, dNormIn: Tensor, s: MlpScratch, projBack: ProjBack): void {
    projBack('down_proj', s.da, dOut, lt.a, w.down, false);
    swigluBackward(s.dg, s.dup, s.da, lt.g, lt.up);
    projBack('gate_proj', dn, s.dg, lt.h2, w.gate, false);
    projBack('up_proj', dn, s.dup, lt.h2, w.up, true);
    rmsnormBackward(dNormIn, null, dn, lt.xMid, w.ffnNorm, lt.rstd2);
  }

  // ---- the head: rmsnorm, lm_head --------------------------------------------------------------

  protected headForward(logits: Tensor, x: Tensor, mk: Mk): Head {
    const M = x.shape[0], c = this.config;
    const head = { h: mk([M, c.dim], 'head.h'), rstd: mk([M], 'head.rstd') };
    rmsnorm(head.h, head.rstd, x, this.finalNorm, c.normEps);
    linear(logits, head.h, this.lmHead);
    return head;
  }

  protected hidden(head: Head): Tensor { return head.h; }

  protected headTensors(head: Head | null): (Tensor | null)[] {
    return [head?.h ?? null, head?.rstd ?? null];
  }

  protected headBackward(dLogits: Tensor, head: Head, take: (shape: number[], key: string) => Tensor): Tensor {
    const dh = take([dLogits.shape[0], this.config.dim], 'bwd.dh');
    linearBackward(dh, null, dLogits, head.h, this.lmHead);
    return dh;
  }

  protected finalNormBackward(dx: Tensor, dNorm: Tensor, x: Tensor, head: Head): void {
    rmsnormBackward(dx, null, dNorm, x, this.finalNorm, head.rstd);
  }
}

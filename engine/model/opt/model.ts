// The OPT family's model (Hugging Face OPTForCausalLM, pre-LayerNorm) with LoRA on any of its six
// projections, as a CausalLM (../causal_lm.ts). The decoder itself (tape, attention block, head
// rows, backward, decoding) is ../decoder.ts, as for Llama; this file holds what OPT does its own
// way: LayerNorm, learned positions, biases everywhere, the ReLU MLP, project_in/out.
//
// With N = B*T rows:
//   e   = embed_tokens[ids]  (project_in: e W_in^T)   x = e + embed_positions[pos + 2]
// one layer (the residual stream x is [N, dim]):
//   h   = layernorm(x)                   q,k,v = h Wq^T + bq, ... (+ LoRA)
//   att = attention(q, k, v)             o = att Wo^T + bo (+ LoRA)   <- the attention-block output: Vaccine perturbs it
//   x'  = x + o                          h2 = layernorm(x')
//   f   = h2 W1^T + b1 (+ LoRA)          a = relu(f)      d = a W2^T + b2 (+ LoRA)
//   x'' = x' + d
// then layernorm, project_out (when there is one), and the head tied to embed_tokens.
// Positions follow Hugging Face's rule (cumsum of the attention mask, minus 1): token t of a row
// sits at position t, and a padding token at -1 (table row 1).
import { Arena } from '../../arena.ts';
import type { Backend } from '../../backend.ts';
import type { LoraTarget } from '../../lora.ts';
import { axpy } from '../../ops/elementwise.ts';
import { embedding } from '../../ops/embedding.ts';
import { layernorm, layernormBackward } from '../../ops/layernorm.ts';
import { linear, linearBackward } from '../../ops/matmul.ts';
import { relu, reluBackward } from '../../ops/relu.ts';
import type { Tensor } from '../../tensor.ts';
import type { Batch, ModelOptions } from '../causal_lm.ts';
import type { AttentionTape, AttentionWeights, Mk, Proj, ProjBack } from '../blocks.ts';
import { DecoderModel } from '../decoder.ts';
import type { HostWeights } from '../family.ts';
import type { DecodeChunk } from '../kv_cache.ts';
import type { DeviceRows } from '../rows.ts';
import { OPT_DECODER, OPT_LORA_TARGETS, OPT_POSITION_OFFSET, optWeightShapes, type OPTConfig } from './config.ts';

interface Norm { w: Tensor; b: Tensor }

interface LayerWeights extends AttentionWeights {
  attnNorm: Norm; ffnNorm: Norm;
  fc1: Tensor; fc2: Tensor;
  fc1Bias: Tensor; fc2Bias: Tensor;
}

/** A LayerNorm's output and the statistics its backward reads. */
interface NormOut { y: Tensor; mean: Tensor; rstd: Tensor }

interface LayerTape extends AttentionTape {
  n1: NormOut;        // layernorm(x), q/k/v's input
  n2: NormOut;        // layernorm(x')
  f: Tensor;          // fc1 output, before the ReLU
  a: Tensor;          // relu(f)
}

/** The head's final norm, and project_out's output (the head's input; nFinal.y without project_out). */
interface Head { n: NormOut; h: Tensor }

/** The MLP's backward scratch. */
interface MlpScratch { da: Tensor; df: Tensor }

const TARGET_INDEX: Record<LoraTarget, number> = Object.fromEntries(OPT_LORA_TARGETS.map((t, i) => [t.name, i]));

/** OPT on the shared decoder; its positions are embedded, so a pass keeps no state. */
export class OPTModel extends DecoderModel<OPTConfig, LayerWeights, LayerTape, Head, null, MlpScratch> {
  protected readonly targetIndex = TARGET_INDEX;
  protected readonly outTarget = 'out_proj';
  private embedTokens!: Tensor;
  private embedPositions!: Tensor;
  private projectIn!: Tensor | null;
  private projectOut!: Tensor | null;
  private finalNorm!: Norm;
  private lmHead!: Tensor;

  private constructor(backend: Backend, config: OPTConfig, weights: HostWeights, opts: ModelOptions) {
    super(backend, config, opts, config.maxSeqLen, config.nHeads);
    const c = config;
    const d = `${OPT_DECODER}.`;
    this.upload(optWeightShapes(c), weights, (get, getMatrix) => {
      const norm = (name: string): Norm => ({ w: get(`${name}.weight`), b: get(`${name}.bias`) });
      this.embedTokens = get(`${d}embed_tokens.weight`);
      this.embedPositions = get(`${d}embed_positions.weight`);
      const projected = c.wordEmbedDim !== c.dim;
      this.projectIn = projected ? getMatrix(`${d}project_in.weight`) : null;
      this.projectOut = projected ? getMatrix(`${d}project_out.weight`) : null;
      this.finalNorm = norm(`${d}final_layer_norm`);
      this.lmHead = c.tiedEmbeddings ? this.embedTokens : getMatrix('lm_head.weight');
      for (let l = 0; l < c.nLayers; l++) {
        const p = `${d}layers.${l}.`;
        this.layers.push({
          attnNorm: norm(`${p}self_attn_layer_norm`), ffnNorm: norm(`${p}final_layer_norm`),
          q: getMatrix(`${p}self_attn.q_proj.weight`), k: getMatrix(`${p}self_attn.k_proj.weight`),
          v: getMatrix(`${p}self_attn.v_proj.weight`), o: getMatrix(`${p}self_attn.out_proj.weight`),
          fc1: getMatrix(`${p}fc1.weight`), fc2: getMatrix(`${p}fc2.weight`),
          qBias: get(`${p}self_attn.q_proj.bias`), kBias: get(`${p}self_attn.k_proj.bias`),
          vBias: get(`${p}self_attn.v_proj.bias`), oBias: get(`${p}self_attn.out_proj.bias`),
          fc1Bias: get(`${p}fc1.bias`), fc2Bias: get(`${p}fc2.bias`),
        });
      }
    });
  }

  /** Uploads host weights (Hugging Face names, f32) to the backend. The base weights stay frozen. */
  static fromHost(backend: Backend, config: OPTConfig, weights: HostWeights, opts: ModelOptions = {}): OPTModel {
    return new OPTModel(backend, config, weights, opts);
  }

  protected projectionWeight(l: number, target: LoraTarget): Tensor {
    const w = this.layers[l];
    switch (target) {
      case 'q_proj': return w.q; case 'k_proj': return w.k; case 'v_proj': return w.v; case 'out_proj': return w.o;
      case 'fc1': return w.fc1; case 'fc2': return w.fc2;
    }
    throw new Error(`opt: no projection '${target}'`);
  }

  protected weightTensors(): Tensor[] {
    const all = [this.embedTokens, this.embedPositions, this.finalNorm.w, this.finalNorm.b];
    if (this.projectIn) all.push(this.projectIn);
    if (this.projectOut) all.push(this.projectOut);
    if (this.lmHead !== this.embedTokens) all.push(this.lmHead);
    for (const w of this.layers) {
      all.push(w.attnNorm.w, w.attnNorm.b, w.ffnNorm.w, w.ffnNorm.b, w.q, w.k, w.v, w.o, w.fc1, w.fc2,
        w.qBias!, w.kBias!, w.vBias!, w.oBias!, w.fc1Bias, w.fc2Bias);
    }
    return all;
  }

  // ---- embedding and positions ---------------------------------------------------------------

  /** x [N, dim] = (project_in of) embed_tokens[ids] + embed_positions[posIds] (posIds already offset). */
  private embed(x: Tensor, ids: Tensor, posIds: Int32Array, keys: string): void {
    const c = this.config, N = ids.shape[0], arena = Arena.of(this.backend);
    const pos = arena.from([N], posIds, keys + 'posIds');
    const p = arena.take([N, c.dim], 'f32', keys + 'pos');
    try {
      if (this.projectIn) {
        const e = arena.take([N, c.wordEmbedDim], 'f32', keys + 'emb');
        try {
          embedding(e, this.embedTokens, ids);
          linear(x, e, this.projectIn);
        } finally { e.dispose(); }
      } else {
        embedding(x, this.embedTokens, ids);
      }
      embedding(p, this.embedPositions, pos);
      axpy(x, p, 1);
    } finally { p.dispose(); pos.dispose(); }
  }

  protected embedRows(x: Tensor, dev: DeviceRows, batch: Batch): null {
    const plan = dev.plan;
    // Hugging Face's positions: cumsum(mask) * mask - 1, plus the offset; right padding sits at -1.
    const posIds = Int32Array.from(plan.positions, (t, i) => {
      const b = Math.floor((plan.index ? plan.index[i] : i) / batch.T);
      return (t < batch.lengths[b] ? t : -1) + OPT_POSITION_OFFSET;
    });
    this.embed(x, dev.ids, posIds, 'rows.');
    return null;
  }

  protected embedChunk(x: Tensor, chunk: DecodeChunk): null {
    this.embed(x, chunk.ids, Int32Array.from(chunk.hostPositions, (p) => p + OPT_POSITION_OFFSET), 'dec.');
    return null;
  }

  // ---- a layer ---------------------------------------------------------------------------------

  private norm(out: NormOut, x: Tensor, n: Norm): void {
    layernorm(out.y, out.mean, out.rstd, x, n.w, n.b, this.config.normEps);
  }

  private normBuffers(rows: number, mk: Mk, key: string): NormOut {
    return { y: mk([rows, this.config.dim], key + '.y'), mean: mk([rows], key + '.mean'), rstd: mk([rows], key + '.rstd') };
  }

  protected layerBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean, mk: Mk, keys: string): LayerTape {
    const c = this.config;
    const m = (shape: number[], name: string) => mk(shape, keys + name);
    return {
      ...this.attentionBuffers(x, B, T, N, keepO, scatter, m),
      n1: this.normBuffers(N, mk, keys + 'n1'), n2: this.normBuffers(N, mk, keys + 'n2'),
      f: m([N, c.ffnDim], 'f'), a: m([N, c.ffnDim], 'a'),
    };
  }

  protected layerTensors(lt: LayerTape): Tensor[] {
    return [lt.n1.y, lt.n1.mean, lt.n1.rstd, lt.n2.y, lt.n2.mean, lt.n2.rstd, lt.f, lt.a];
  }

  protected attnNorm(w: LayerWeights, lt: LayerTape): Tensor {
    this.norm(lt.n1, lt.x, w.attnNorm);
    return lt.n1.y;
  }

  protected attnNormOut(lt: LayerTape): Tensor { return lt.n1.y; }

  protected attnNormBackward(dIn: Tensor, dOut: Tensor, w: LayerWeights, lt: LayerTape): void {
    layernormBackward(dIn, dOut, lt.x, w.attnNorm.w, lt.n1.mean, lt.n1.rstd);
  }

  protected mlpForward(w: LayerWeights, lt: LayerTape, out: Tensor, proj: Proj): void {
    this.norm(lt.n2, lt.xMid, w.ffnNorm);
    proj('fc1', lt.f, lt.n2.y, w.fc1, w.fc1Bias);
    relu(lt.a, lt.f);
    proj('fc2', out, lt.a, w.fc2, w.fc2Bias);
  }

  protected mlpScratch(N: number, tmp: (shape: number[], key: string) => Tensor): MlpScratch {
    return { da: tmp([N, this.config.ffnDim], 'da'), df: tmp([N, this.config.ffnDim], 'df') };
  }

  /** x'' = x' + fc2(relu(fc1(layernorm(x')))) */
  protected mlpBackward(w: LayerWeights, lt: LayerTape, dOut: Tensor, dn: Tensor, dNormIn: Tensor, s: MlpScratch, projBack: ProjBack): void {
    projBack('fc2', s.da, dOut, lt.a, w.fc2, false);
    reluBackward(s.df, s.da, lt.f);
    projBack('fc1', dn, s.df, lt.n2.y, w.fc1, false);
    layernormBackward(dNormIn, dn, lt.xMid, w.ffnNorm.w, lt.n2.mean, lt.n2.rstd);
  }

  // ---- the head: layernorm, project_out, lm_head -------------------------------------------------

  protected headForward(logits: Tensor, x: Tensor, mk: Mk): Head {
    const n = this.normBuffers(x.shape[0], mk, 'head.n');
    this.norm(n, x, this.finalNorm);
    let h = n.y;
    if (this.projectOut) {
      h = mk([x.shape[0], this.config.wordEmbedDim], 'head.h');
      linear(h, n.y, this.projectOut);
    }
    linear(logits, h, this.lmHead);
    return { n, h };
  }

  protected hidden(head: Head): Tensor { return head.h; }

  protected headTensors(head: Head | null): (Tensor | null)[] {
    if (!head) return [];
    return [head.n.y, head.n.mean, head.n.rstd, head.h === head.n.y ? null : head.h];
  }

  protected headBackward(dLogits: Tensor, head: Head, take: (shape: number[], key: string) => Tensor): Tensor {
    const M = dLogits.shape[0], c = this.config;
    let dNorm = take([M, c.wordEmbedDim], 'bwd.dHead');
    linearBackward(dNorm, null, dLogits, head.h, this.lmHead);
    if (this.projectOut) {
      const d = take([M, c.dim], 'bwd.dNormFinal');
      linearBackward(d, null, dNorm, head.n.y, this.projectOut);
      dNorm = d;
    }
    return dNorm;
  }

  protected finalNormBackward(dx: Tensor, dNorm: Tensor, x: Tensor, head: Head): void {
    layernormBackward(dx, dNorm, x, this.finalNorm.w, head.n.mean, head.n.rstd);
  }
}

// The OPT family's model (Hugging Face OPTForCausalLM, pre-LayerNorm) with LoRA on any of its six
// projections, as a CausalLM (../causal_lm.ts). Like the Llama model it has no autograd:
// `forward` keeps a tape of what `backward` needs and `backward` walks the layers in reverse;
// `decode` runs the same layers over a KV cache. The shared pieces (projections with bias and
// LoRA, labels, loss) come from ../blocks.ts.
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
import type { Backend } from '../../backend.ts';
import type { Lora, LoraTarget } from '../../lora.ts';
import { attention, attentionBackward } from '../../ops/attention.ts';
import { crossEntropy, crossEntropyBackward } from '../../ops/cross_entropy.ts';
import { axpy, copy } from '../../ops/elementwise.ts';
import { embedding, embeddingBackward } from '../../ops/embedding.ts';
import { layernorm, layernormBackward } from '../../ops/layernorm.ts';
import { linear, linearBackward, matmul } from '../../ops/matmul.ts';
import { relu, reluBackward } from '../../ops/relu.ts';
import { Tensor } from '../../tensor.ts';
import {
  checkBatch, meanLoss, projectionBackward, projectionForward, shiftLabels, type LoraSaved, type ProjectionBackwardOptions,
} from '../blocks.ts';
import type { BackwardOptions, Batch, CausalLM, ForwardOptions, ModelOptions, Tape } from '../causal_lm.ts';
import { checkWeights, type HostWeights } from '../family.ts';
import { KVCache, type DecodeChunk } from '../kv_cache.ts';
import { OPT_DECODER, OPT_LORA_TARGETS, OPT_POSITION_OFFSET, optWeightShapes, type OPTConfig } from './config.ts';

interface Norm { w: Tensor; b: Tensor }

interface LayerWeights {
  attnNorm: Norm; ffnNorm: Norm;
  q: Tensor; k: Tensor; v: Tensor; o: Tensor; fc1: Tensor; fc2: Tensor;
  qBias: Tensor; kBias: Tensor; vBias: Tensor; oBias: Tensor; fc1Bias: Tensor; fc2Bias: Tensor;
}

/** A LayerNorm's output and the statistics its backward reads. */
interface NormOut { y: Tensor; mean: Tensor; rstd: Tensor }

interface LayerTape {
  x: Tensor;          // layer input (residual)
  n1: NormOut;
  q: Tensor; k: Tensor; v: Tensor;
  att: Tensor; lse: Tensor;
  o: Tensor;          // attention-block output (perturbed, if a perturbation was given)
  xMid: Tensor;       // x + o
  n2: NormOut;
  f: Tensor;          // fc1 output, before the ReLU
  a: Tensor;          // relu(f)
  lora: Map<LoraTarget, LoraSaved>;
}

interface LayerContext {
  B: number; T: number;
  keyLen: Tensor;
  /** decoding: the KV cache and the chunk */
  decode: { cache: KVCache; chunk: DecodeChunk } | null;
  perturbation: Tensor | null;
  dropout: { p: number; seed: number } | null;
  mk: (shape: number[]) => Tensor;
}

interface OPTTape extends Tape {
  model: OPTModel;
  N: number;
  ids: Tensor; shiftedLabels: Tensor; keyLen: Tensor;
  layers: LayerTape[];
  xFinal: Tensor; nFinal: NormOut;
  /** project_out's output (the head's input), or nFinal.y without project_out */
  hHead: Tensor;
  logits: Tensor; rowLoss: Tensor; rowLse: Tensor;
  count: number;
}

const TARGET_INDEX: Record<LoraTarget, number> = Object.fromEntries(OPT_LORA_TARGETS.map((t, i) => [t.name, i]));

export class OPTModel implements CausalLM {
  private _lora: Lora | null = null;
  private embedTokens: Tensor;
  private embedPositions: Tensor;
  private projectIn: Tensor | null;
  private projectOut: Tensor | null;
  private finalNorm: Norm;
  private lmHead: Tensor;
  private layers: LayerWeights[] = [];
  readonly weightDtype: 'f32' | 'f16';
  readonly maxPositions: number;

  private constructor(readonly backend: Backend, readonly config: OPTConfig, weights: HostWeights, opts: ModelOptions) {
    const c = config;
    const half = opts.weightDtype === 'f16';
    if (half && !(backend.hasF16 && backend.allocF16 && backend.writeF16 && backend.matmulF16B)) {
      throw new Error(`f16 weights need a backend with f16 storage (WebGPU with shader-f16); ${backend.name} (${backend.description}) has none`);
    }
    this.weightDtype = half ? 'f16' : 'f32';
    const shapes = optWeightShapes(c);
    checkWeights(shapes, weights, c.namePath);
    const uploaded: Tensor[] = [];
    const up = (t: Tensor) => { uploaded.push(t); return t; };
    const get = (name: string): Tensor => up(Tensor.from(backend, shapes.get(name)!, weights.get(name)!.data));
    // a matrix multiplied by the activations: f16 storage where asked for
    const getMatrix = (name: string): Tensor => half ? up(Tensor.fromF16(backend, shapes.get(name)!, weights.get(name)!.data)) : get(name);
    const norm = (name: string): Norm => ({ w: get(`${name}.weight`), b: get(`${name}.bias`) });
    const d = `${OPT_DECODER}.`;
    try {
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
    } catch (e) {
      for (const t of uploaded) t.dispose();
      throw e;
    }
    this.maxPositions = c.maxSeqLen;
  }

  /** Uploads host weights (Hugging Face names, f32) to the backend. The base weights stay frozen. */
  static fromHost(backend: Backend, config: OPTConfig, weights: HostWeights, opts: ModelOptions = {}): OPTModel {
    return new OPTModel(backend, config, weights, opts);
  }

  get lora(): Lora | null { return this._lora; }
  /** Attaches an adapter made for this config (checked), or detaches (null). */
  set lora(lora: Lora | null) {
    lora?.assertFits(this.config);
    this._lora = lora;
  }

  private projectionWeight(l: number, target: LoraTarget): Tensor {
    const w = this.layers[l];
    switch (target) {
      case 'q_proj': return w.q; case 'k_proj': return w.k; case 'v_proj': return w.v; case 'out_proj': return w.o;
      case 'fc1': return w.fc1; case 'fc2': return w.fc2;
    }
    throw new Error(`opt: no projection '${target}'`);
  }

  /** Merges an adapter into the frozen base weights: W += (alpha/r) B A (the paper's Double-LoRA). */
  mergeLora(lora: Lora): void {
    lora.assertFits(this.config);
    if (this.weightDtype === 'f16') throw new Error('merging an adapter into f16-stored weights is not supported: load the model with f32 weights');
    for (const m of lora.modules) matmul(this.projectionWeight(m.layer, m.target), m.B, m.A, { alpha: lora.scale, beta: 1 });
  }

  // ---- forward -----------------------------------------------------------------------------

  /** x [N, dim] = (project_in of) embed_tokens[ids] + embed_positions[posIds] (posIds already offset). */
  private embed(x: Tensor, ids: Tensor, posIds: Tensor, mk: (shape: number[]) => Tensor): void {
    const c = this.config, N = ids.shape[0];
    if (this.projectIn) {
      const e = mk([N, c.wordEmbedDim]);
      embedding(e, this.embedTokens, ids);
      linear(x, e, this.projectIn);
    } else {
      embedding(x, this.embedTokens, ids);
    }
    const p = mk([N, c.dim]);
    embedding(p, this.embedPositions, posIds);
    axpy(x, p, 1);
  }

  private norm(out: NormOut, x: Tensor, n: Norm): void {
    layernorm(out.y, out.mean, out.rstd, x, n.w, n.b, this.config.normEps);
  }

  private normBuffers(rows: number, mk: (shape: number[]) => Tensor): NormOut {
    return { y: mk([rows, this.config.dim]), mean: mk([rows]), rstd: mk([rows]) };
  }

  /** The final LayerNorm, project_out and the head: logits [rows, vocab] from the residual stream x. */
  private head(logits: Tensor, x: Tensor, nFinal: NormOut, mk: (shape: number[]) => Tensor): Tensor {
    this.norm(nFinal, x, this.finalNorm);
    let h = nFinal.y;
    if (this.projectOut) {
      h = mk([x.shape[0], this.config.wordEmbedDim]);
      linear(h, nFinal.y, this.projectOut);
    }
    linear(logits, h, this.lmHead);
    return h;
  }

  forward(batch: Batch, opts: ForwardOptions = {}): OPTTape {
    const c = this.config, be = this.backend;
    const { B, T } = batch;
    const N = B * T;
    checkBatch(batch, c, this.maxPositions, opts);
    const { shifted, count } = shiftLabels(batch);
    const dropout = this.lora?.options.dropout ?? 0;
    const useDropout = (opts.training ?? true) && dropout > 0;
    const seed = opts.dropoutSeed ?? 0;
    // Hugging Face's positions: cumsum(mask) * mask - 1, plus the offset; right padding sits at -1.
    const posIds = new Int32Array(N);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) posIds[b * T + t] = (t < batch.lengths[b] ? t : -1) + OPT_POSITION_OFFSET;
    }

    // Every tensor this pass makes: on an exception they are all returned, not leaked.
    const made: Tensor[] = [];
    const keep = (t: Tensor) => { made.push(t); return t; };
    const mk = (shape: number[]) => keep(Tensor.zeros(be, shape));
    const temps: Tensor[] = [];
    const tmp = (shape: number[]) => { const t = Tensor.zeros(be, shape); temps.push(t); return t; };
    const tape: OPTTape = {
      model: this, batch, N, count,
      ids: keep(Tensor.from(be, [N], batch.ids)),
      shiftedLabels: keep(Tensor.from(be, [N], shifted)),
      keyLen: keep(Tensor.from(be, [B], batch.lengths)),
      layers: [],
      xFinal: null!, nFinal: null!, hHead: null!, logits: null!, rowLoss: null!, rowLse: null!,
    };
    try {
      let x = mk([N, c.dim]);
      const pos = Tensor.from(be, [N], posIds);
      temps.push(pos);
      this.embed(x, tape.ids, pos, tmp);
      for (let l = 0; l < c.nLayers; l++) {
        const lt = this.layerBuffers(x, B, T, mk);
        tape.layers.push(lt);
        const next = mk([N, c.dim]);
        this.layerForward(l, lt, next, {
          B, T, keyLen: tape.keyLen, decode: null, mk,
          perturbation: opts.perturbations?.[l] ?? null,
          dropout: useDropout ? { p: dropout, seed } : null,
        });
        x = next;
      }
      tape.xFinal = x;
      tape.nFinal = this.normBuffers(N, mk);
      tape.logits = mk([N, c.vocabSize]);
      tape.hHead = this.head(tape.logits, x, tape.nFinal, mk);
      tape.rowLoss = mk([N]);
      tape.rowLse = mk([N]);
      crossEntropy(tape.rowLoss, tape.rowLse, tape.logits, tape.shiftedLabels);
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    } finally {
      for (const t of temps) t.dispose();
    }
    return tape;
  }

  /** The buffers one layer writes (kept on the tape in training), for B sequences of T rows. */
  private layerBuffers(x: Tensor, B: number, T: number, mk: (shape: number[]) => Tensor): LayerTape {
    const c = this.config, N = B * T;
    return {
      x, n1: this.normBuffers(N, mk),
      q: mk([N, c.dim]), k: mk([N, c.dim]), v: mk([N, c.dim]),
      att: mk([N, c.dim]), lse: mk([B, c.nHeads, T]),
      o: mk([N, c.dim]), xMid: mk([N, c.dim]), n2: this.normBuffers(N, mk),
      f: mk([N, c.ffnDim]), a: mk([N, c.ffnDim]),
      lora: new Map(),
    };
  }

  /** [N, dim] activations as the [B, T, H, hd] the attention op takes. */
  private heads(t: Tensor, B: number, T: number): Tensor {
    return t.view([B, T, this.config.nHeads, this.config.headDim]);
  }

  /**
   * One decoder layer: lt.x -> next, writing every intermediate into lt (see the file header).
   * Decoding first writes the chunk's keys and values into the layer's cache, then attends it.
   */
  private layerForward(l: number, lt: LayerTape, next: Tensor, ctx: LayerContext): void {
    const w = this.layers[l];
    const { B, T } = ctx;
    const pctx = { lora: this.lora, layer: l, dropout: ctx.dropout, mk: ctx.mk, saved: lt.lora };
    const proj = (target: LoraTarget, y: Tensor, input: Tensor, weight: Tensor, bias: Tensor) =>
      projectionForward(pctx, target, TARGET_INDEX[target], y, input, weight, bias);
    this.norm(lt.n1, lt.x, w.attnNorm);
    proj('q_proj', lt.q, lt.n1.y, w.q, w.qBias);
    proj('k_proj', lt.k, lt.n1.y, w.k, w.kBias);
    proj('v_proj', lt.v, lt.n1.y, w.v, w.vBias);
    const q = this.heads(lt.q, B, T), att = this.heads(lt.att, B, T);
    if (ctx.decode) {
      const { cache, chunk } = ctx.decode;
      // The cache rows written here are still zero, so the embedding backward's scatter-add writes them exactly.
      embeddingBackward(cache.k[l], lt.k, chunk.slots);
      embeddingBackward(cache.v[l], lt.v, chunk.slots);
      attention(att, lt.lse, q, this.heads(cache.k[l], B, cache.capacity), this.heads(cache.v[l], B, cache.capacity), ctx.keyLen,
        { qPos0: chunk.qPos0 });
    } else {
      attention(att, lt.lse, q, this.heads(lt.k, B, T), this.heads(lt.v, B, T), ctx.keyLen);
    }
    proj('out_proj', lt.o, lt.att, w.o, w.oBias);
    if (ctx.perturbation) axpy(lt.o, ctx.perturbation, 1);
    copy(lt.xMid, lt.x);
    axpy(lt.xMid, lt.o, 1);
    this.norm(lt.n2, lt.xMid, w.ffnNorm);
    proj('fc1', lt.f, lt.n2.y, w.fc1, w.fc1Bias);
    relu(lt.a, lt.f);
    proj('fc2', next, lt.a, w.fc2, w.fc2Bias);
    axpy(next, lt.xMid, 1);
  }

  private own(tape: Tape): OPTTape {
    if ((tape as OPTTape).model !== this) throw new Error('opt: this tape was made by another model');
    return tape as OPTTape;
  }

  async loss(tape: Tape): Promise<number> {
    const t = this.own(tape);
    return meanLoss(t.rowLoss, t.count);
  }

  logits(tape: Tape): Tensor { return this.own(tape).logits; }

  attnOutputs(tape: Tape): Tensor[] { return this.own(tape).layers.map((l) => l.o); }

  hiddenStates(tape: Tape): Tensor { return this.own(tape).hHead; }

  // ---- backward ----------------------------------------------------------------------------

  backward(anyTape: Tape, opts: BackwardOptions = {}): { attnOutGrads: Tensor[] | null } {
    const c = this.config, be = this.backend;
    const tape = this.own(anyTape);
    const { N } = tape;
    const { B, T } = tape.batch;
    const loraGrads = opts.loraGrads ?? true;
    const attnGrads: Tensor[] | null = opts.attnOutGrads ? new Array(c.nLayers) : null;
    const temps: Tensor[] = [];
    const tmp = (shape: number[]) => { const t = Tensor.zeros(be, shape); temps.push(t); return t; };

    try {
      const dLogits = tmp([N, c.vocabSize]);
      crossEntropyBackward(dLogits, tape.logits, tape.rowLse, tape.shiftedLabels, tape.count > 0 ? 1 / tape.count : 0);
      let dNorm = tmp([N, c.wordEmbedDim]);
      linearBackward(dNorm, null, dLogits, tape.hHead, this.lmHead);
      if (this.projectOut) {
        const d = tmp([N, c.dim]);
        linearBackward(d, null, dNorm, tape.nFinal.y, this.projectOut);
        dNorm = d;
      }
      // dx: gradient of the residual stream, carried down through the layers
      const dx = tmp([N, c.dim]);
      layernormBackward(dx, dNorm, tape.xFinal, this.finalNorm.w, tape.nFinal.mean, tape.nFinal.rstd);

      const dn = tmp([N, c.dim]);            // gradient into a norm's output
      const dNormIn = tmp([N, c.dim]);       // gradient into a norm's input
      const da = tmp([N, c.ffnDim]), df = tmp([N, c.ffnDim]);
      const datt = tmp([N, c.dim]), dq = tmp([N, c.dim]), dk = tmp([N, c.dim]), dv = tmp([N, c.dim]);
      const pb: Omit<ProjectionBackwardOptions, 'accumulate' | 'needInput'> = {
        loraGrads, scale: this.lora?.scale ?? 1, du: tmp([N, this.lora?.options.r ?? 1]),
      };

      for (let l = c.nLayers - 1; l >= 0; l--) {
        const w = this.layers[l], lt = tape.layers[l];
        const projBack = (target: LoraTarget, dxOut: Tensor, dy: Tensor, input: Tensor, weight: Tensor, accumulate: boolean, needInput = true) =>
          projectionBackward(lt.lora.get(target), dxOut, dy, input, weight, { ...pb, accumulate, needInput });

        // MLP: x'' = x' + fc2(relu(fc1(layernorm(x'))))
        projBack('fc2', da, dx, lt.a, w.fc2, false);
        reluBackward(df, da, lt.f);
        projBack('fc1', dn, df, lt.n2.y, w.fc1, false);
        layernormBackward(dNormIn, dn, lt.xMid, w.ffnNorm.w, lt.n2.mean, lt.n2.rstd);
        axpy(dx, dNormIn, 1);
        // now dx = dL/dx' = dL/d(attention-block output)
        if (attnGrads) {
          const g = Tensor.zeros(be, [N, c.dim]);
          copy(g, dx);
          attnGrads[l] = g;
        }
        if (l === 0 && !loraGrads) break;
        // attention: x' = x + out_proj(attention(q, k, v))
        projBack('out_proj', datt, dx, lt.att, w.o, false);
        const h = (t: Tensor) => this.heads(t, B, T);
        attentionBackward(h(dq), h(dk), h(dv), h(datt), h(lt.q), h(lt.k), h(lt.v), h(lt.att), lt.lse, tape.keyLen);
        // Layer 0's input is the frozen embedding: skip its base dX products and norm backward.
        const needInput = l > 0;
        projBack('q_proj', dn, dq, lt.n1.y, w.q, false, needInput);
        projBack('k_proj', dn, dk, lt.n1.y, w.k, true, needInput);
        projBack('v_proj', dn, dv, lt.n1.y, w.v, true, needInput);
        if (needInput) {
          layernormBackward(dNormIn, dn, lt.x, w.attnNorm.w, lt.n1.mean, lt.n1.rstd);
          axpy(dx, dNormIn, 1);
        }
      }
    } catch (e) {
      attnGrads?.forEach((g) => g?.dispose());
      throw e;
    } finally {
      for (const t of temps) t.dispose();
    }
    return { attnOutGrads: attnGrads };
  }

  disposeTape(anyTape: Tape): void {
    const tape = this.own(anyTape);
    const norms = (n: NormOut | null) => (n ? [n.y, n.mean, n.rstd] : []);
    const all: (Tensor | null)[] = [tape.ids, tape.shiftedLabels, tape.keyLen, tape.xFinal, ...norms(tape.nFinal),
      tape.logits, tape.rowLoss, tape.rowLse];
    if (tape.hHead && tape.hHead !== tape.nFinal?.y) all.push(tape.hHead);
    for (const lt of tape.layers) {
      all.push(lt.x, ...norms(lt.n1), lt.q, lt.k, lt.v, lt.att, lt.lse, lt.o, lt.xMid, ...norms(lt.n2), lt.f, lt.a);
      for (const s of lt.lora.values()) all.push(s.u, s.mask);
    }
    for (const t of all) t?.dispose();
    tape.layers.length = 0;
  }

  // ---- decoding with a KV cache --------------------------------------------------------------

  /** A cache for `batch` sequences of up to `capacity` positions (keys and values: dim per token). */
  createKVCache(batch: number, capacity: number): KVCache {
    if (capacity > this.maxPositions) throw new Error(`createKVCache: capacity ${capacity} exceeds the model's ${this.maxPositions} positions`);
    return new KVCache(this.backend, this.config.nLayers, batch, capacity, this.config.dim);
  }

  /** Runs a chunk through every layer over the cache and returns each sequence's last-token logits, [B, vocab]. */
  decode(cache: KVCache, chunk: DecodeChunk): Tensor {
    const c = this.config, be = this.backend;
    const { B, T } = chunk, N = B * T;
    if (cache.batch !== B || cache.width !== c.dim || cache.k.length !== c.nLayers) throw new Error('decode: the cache was not made by this model for this batch');
    for (const id of chunk.hostIds) if (id < 0 || id >= c.vocabSize) throw new Error(`decode: token id ${id} outside the vocabulary (${c.vocabSize})`);
    const temps: Tensor[] = [];
    const tmp = (shape: number[]) => { const t = Tensor.zeros(be, shape); temps.push(t); return t; };
    let logits: Tensor | null = null;
    try {
      const pos = Tensor.from(be, [N], Int32Array.from(chunk.hostPositions, (p) => p + OPT_POSITION_OFFSET));
      temps.push(pos);
      let x = tmp([N, c.dim]), next = tmp([N, c.dim]);
      this.embed(x, chunk.ids, pos, tmp);
      // Nothing is kept for a backward: one set of layer buffers serves every layer.
      const lt = this.layerBuffers(x, B, T, tmp);
      const ctx: LayerContext = { B, T, keyLen: chunk.keyLen, decode: { cache, chunk }, perturbation: null, dropout: null, mk: tmp };
      for (let l = 0; l < c.nLayers; l++) {
        lt.x = x;
        lt.lora.clear();
        this.layerForward(l, lt, next, ctx);
        [x, next] = [next, x];
      }
      // only each sequence's last row goes through the head
      const last = tmp([B, c.dim]);
      embedding(last, x, chunk.lastRows);
      logits = Tensor.zeros(be, [B, c.vocabSize]);
      this.head(logits, last, this.normBuffers(B, tmp), tmp);
      return logits;
    } catch (e) {
      logits?.dispose();
      throw e;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  dispose(): void {
    const all = [this.embedTokens, this.embedPositions, this.finalNorm.w, this.finalNorm.b];
    if (this.projectIn) all.push(this.projectIn);
    if (this.projectOut) all.push(this.projectOut);
    if (this.lmHead !== this.embedTokens) all.push(this.lmHead);
    for (const w of this.layers) {
      all.push(w.attnNorm.w, w.attnNorm.b, w.ffnNorm.w, w.ffnNorm.b, w.q, w.k, w.v, w.o, w.fc1, w.fc2,
        w.qBias, w.kBias, w.vBias, w.oBias, w.fc1Bias, w.fc2Bias);
    }
    for (const t of all) t.dispose();
    this.layers = [];
  }
}

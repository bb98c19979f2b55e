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
// A forward computes the rows its plan names (../rows.ts: every row, or what reaches the loss),
// with every buffer from the backend's arena (../../arena.ts), as the Llama model does.
import { Arena } from '../../arena.ts';
import type { Backend } from '../../backend.ts';
import type { Lora, LoraTarget } from '../../lora.ts';
import { attention, attentionBackward } from '../../ops/attention.ts';
import { crossEntropy, crossEntropyBackward } from '../../ops/cross_entropy.ts';
import { axpy, copy } from '../../ops/elementwise.ts';
import { embedding, embeddingBackward } from '../../ops/embedding.ts';
import { layernorm, layernormBackward } from '../../ops/layernorm.ts';
import { linear, linearBackward, matmul } from '../../ops/matmul.ts';
import { relu, reluBackward } from '../../ops/relu.ts';
import { Tensor, expectShape } from '../../tensor.ts';
import {
  checkBatch, meanLoss, projectionBackward, projectionForward, type LoraSaved, type ProjectionBackwardOptions,
} from '../blocks.ts';
import type { BackwardOptions, Batch, CausalLM, ForwardOptions, ModelOptions, Tape } from '../causal_lm.ts';
import { checkWeights, type HostWeights } from '../family.ts';
import { KVCache, type DecodeChunk } from '../kv_cache.ts';
import { DeviceRows, planRows } from '../rows.ts';
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
  x: Tensor;          // layer input (residual), [n, dim]
  n1: NormOut;
  q: Tensor; k: Tensor; v: Tensor;   // in attention's layout ([B*tAtt, dim])
  att: Tensor; lse: Tensor;
  attRows: Tensor;    // att as rows (out_proj's input); att itself where the layouts agree
  o: Tensor | null;   // attention-block output (perturbed, if a perturbation was given); kept for rows 'all'
  xMid: Tensor;       // x + o
  n2: NormOut;
  f: Tensor;          // fc1 output, before the ReLU
  a: Tensor;          // relu(f)
  lora: Map<LoraTarget, LoraSaved>;
}

interface LayerContext {
  /** sequences, and rows of each in attention's layout */
  B: number; T: number;
  /** rows the layer runs on */
  N: number;
  keyLen: Tensor;
  /** training: the plan's rows on the device (the scatter into attention's layout, dropout's row index) */
  rows: DeviceRows | null;
  /** decoding: the KV cache and the chunk */
  decode: { cache: KVCache; chunk: DecodeChunk } | null;
  perturbation: Tensor | null;
  dropout: { p: number; seed: number } | null;
  /** a tensor the caller will dispose (from the arena: contents undefined; key: its role there) */
  mk: (shape: number[], key?: string) => Tensor;
  /** the arena keys' prefix of this layer's buffers */
  keys: string;
}

interface OPTTape extends Tape {
  model: OPTModel;
  N: number;
  /** the plan's index arrays on the device */
  dev: DeviceRows;
  layers: LayerTape[];
  /** the last layer's output [n, dim]; xHead: its head rows [M, dim] (the same tensor when all rows are) */
  xFinal: Tensor; xHead: Tensor; nFinal: NormOut;
  /** project_out's output (the head's input), or nFinal.y without project_out */
  hHead: Tensor;
  logits: Tensor; rowLoss: Tensor; rowLse: Tensor;
  count: number;
  /** rows 'loss': the backward overwrites the logits with their gradient, so it runs once */
  spent: boolean;
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
  private embed(x: Tensor, ids: Tensor, posIds: Tensor, keys: string): void {
    const c = this.config, N = ids.shape[0], arena = Arena.of(this.backend);
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
      embedding(p, this.embedPositions, posIds);
      axpy(x, p, 1);
    } finally { p.dispose(); }
  }

  private norm(out: NormOut, x: Tensor, n: Norm): void {
    layernorm(out.y, out.mean, out.rstd, x, n.w, n.b, this.config.normEps);
  }

  private normBuffers(rows: number, mk: (shape: number[], key?: string) => Tensor, key: string): NormOut {
    return { y: mk([rows, this.config.dim], key + '.y'), mean: mk([rows], key + '.mean'), rstd: mk([rows], key + '.rstd') };
  }

  /** The final LayerNorm, project_out and the head: logits [rows, vocab] from the residual stream x. */
  private head(logits: Tensor, x: Tensor, nFinal: NormOut, mk: (shape: number[], key?: string) => Tensor, key: string): Tensor {
    this.norm(nFinal, x, this.finalNorm);
    let h = nFinal.y;
    if (this.projectOut) {
      h = mk([x.shape[0], this.config.wordEmbedDim], key);
      linear(h, nFinal.y, this.projectOut);
    }
    linear(logits, h, this.lmHead);
    return h;
  }

  forward(batch: Batch, opts: ForwardOptions = {}): OPTTape {
    const c = this.config, be = this.backend;
    const { B, T } = batch;
    checkBatch(batch, c, this.maxPositions, opts);
    const plan = planRows(batch, opts.rows ?? 'all');
    const N = plan.n;
    for (const e of opts.perturbations ?? []) expectShape(`forward: perturbation (the rows of this forward, rows '${plan.mode}')`, e, [N, c.dim]);
    const dropout = this.lora?.options.dropout ?? 0;
    const useDropout = (opts.training ?? true) && dropout > 0;
    const seed = opts.dropoutSeed ?? 0;
    // Hugging Face's positions: cumsum(mask) * mask - 1, plus the offset; right padding sits at -1.
    const posIds = Int32Array.from(plan.positions, (t, i) => {
      const b = Math.floor((plan.index ? plan.index[i] : i) / T);
      return (t < batch.lengths[b] ? t : -1) + OPT_POSITION_OFFSET;
    });
    const arena = Arena.of(be);

    // Every tensor this pass makes: on an exception they are all returned, not leaked.
    const made: Tensor[] = [];
    const keep = (t: Tensor) => { made.push(t); return t; };
    const mk = (shape: number[], key?: string) => keep(arena.take(shape, 'f32', key));
    let dev: DeviceRows | null = null;
    try {
      dev = new DeviceRows(be, plan);
      const tape: OPTTape = {
        model: this, batch, rows: plan, N, count: plan.count, dev, spent: false, layers: [],
        xFinal: null!, xHead: null!, nFinal: null!, hHead: null!, logits: null!, rowLoss: null!, rowLse: null!,
      };
      let x = mk([N, c.dim], 'x');
      const pos = keep(arena.from([N], posIds, 'rows.posIds'));
      this.embed(x, dev.ids, pos, '');
      for (let l = 0; l < c.nLayers; l++) {
        const lt = this.layerBuffers(x, B, plan.tAtt, N, plan.mode === 'all', !!dev.attIndex, mk, `L${l}.`);
        tape.layers.push(lt);
        const next = mk([N, c.dim], `L${l}.out`);
        this.layerForward(l, lt, next, {
          B, T: plan.tAtt, N, keyLen: dev.keyLen, rows: dev, decode: null, mk, keys: `L${l}.`,
          perturbation: opts.perturbations?.[l] ?? null,
          dropout: useDropout ? { p: dropout, seed } : null,
        });
        x = next;
      }
      // The head: only its rows (rows 'loss': the labelled ones) go through the final norm,
      // project_out, the output projection and the cross-entropy.
      const M = dev.headCount;
      tape.xFinal = x;
      tape.xHead = x;
      if (dev.headRows) {
        tape.xHead = mk([M, c.dim], 'head.x');
        dev.toHead(tape.xHead, x);
      }
      tape.nFinal = this.normBuffers(M, mk, 'head.n');
      tape.logits = mk([M, c.vocabSize], 'logits');
      tape.hHead = this.head(tape.logits, tape.xHead, tape.nFinal, mk, 'head.h');
      tape.rowLoss = mk([M], 'head.loss');
      tape.rowLse = mk([M], 'head.lse');
      crossEntropy(tape.rowLoss, tape.rowLse, tape.logits, dev.labels);
      pos.dispose();
      return tape;
    } catch (e) {
      for (const t of made) t.dispose();
      dev?.dispose();
      throw e;
    }
  }

  /**
   * The buffers one layer writes (kept on the tape in training), for N rows in B sequences of T
   * rows of attention's layout. keepO: keep the attention-block output apart (for attnOutputs);
   * scatter: attention's layout is not the rows' own.
   */
  private layerBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean,
    mk: (shape: number[], key?: string) => Tensor, keys: string): LayerTape {
    const c = this.config, NA = B * T;
    const m = (shape: number[], name: string) => mk(shape, keys + name);
    const att = m([NA, c.dim], 'att');
    return {
      x, n1: this.normBuffers(N, mk, keys + 'n1'),
      q: m([NA, c.dim], 'q'), k: m([NA, c.dim], 'k'), v: m([NA, c.dim], 'v'),
      att, lse: m([B, c.nHeads, T], 'lse'), attRows: scatter ? m([N, c.dim], 'attRows') : att,
      o: keepO ? m([N, c.dim], 'o') : null, xMid: m([N, c.dim], 'xMid'), n2: this.normBuffers(N, mk, keys + 'n2'),
      f: m([N, c.ffnDim], 'f'), a: m([N, c.ffnDim], 'a'),
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
    const w = this.layers[l], c = this.config;
    const { B, T, N } = ctx;
    // a row's dropout mask is the one of its batch position (rows.ts)
    const pctx = { lora: this.lora, layer: l, dropout: ctx.dropout, rowIndex: ctx.rows?.index ?? null, mk: ctx.mk, keys: ctx.keys, saved: lt.lora };
    const proj = (target: LoraTarget, y: Tensor, input: Tensor, weight: Tensor, bias: Tensor) =>
      projectionForward(pctx, target, TARGET_INDEX[target], y, input, weight, bias);
    const scatter = !!ctx.rows?.attIndex;
    const arena = Arena.of(this.backend);
    this.norm(lt.n1, lt.x, w.attnNorm);
    // q, k, v as rows: the tape's tensors, or scratch moved into attention's layout
    const [q, k, v] = scatter ? ['q', 'k', 'v'].map((n) => arena.take([N, c.dim], 'f32', 'rows.' + n)) : [lt.q, lt.k, lt.v];
    try {
      proj('q_proj', q, lt.n1.y, w.q, w.qBias);
      proj('k_proj', k, lt.n1.y, w.k, w.kBias);
      proj('v_proj', v, lt.n1.y, w.v, w.vBias);
      if (scatter) {
        ctx.rows!.toAttention(lt.q, q);
        ctx.rows!.toAttention(lt.k, k);
        ctx.rows!.toAttention(lt.v, v);
      }
    } finally {
      if (scatter) { q.dispose(); k.dispose(); v.dispose(); }
    }
    const qh = this.heads(lt.q, B, T), att = this.heads(lt.att, B, T);
    if (ctx.decode) {
      const { cache, chunk } = ctx.decode;
      // The cache rows written here are still zero, so the embedding backward's scatter-add writes them exactly.
      embeddingBackward(cache.k[l], lt.k, chunk.slots);
      embeddingBackward(cache.v[l], lt.v, chunk.slots);
      attention(att, lt.lse, qh, this.heads(cache.k[l], B, cache.capacity), this.heads(cache.v[l], B, cache.capacity), ctx.keyLen,
        { qPos0: chunk.qPos0 });
    } else {
      // rows 'loss': attention's padding rows are no queries (nothing reads them)
      attention(att, lt.lse, qh, this.heads(lt.k, B, T), this.heads(lt.v, B, T), ctx.keyLen, { skipPadQueries: ctx.rows?.plan.mode === 'loss' });
    }
    if (scatter) ctx.rows!.fromAttention(lt.attRows, lt.att);
    // o = out_proj(att) (+ e) is written into xMid, then x added: xMid = o + x, bit for bit x + o.
    proj('out_proj', lt.xMid, lt.attRows, w.o, w.oBias);
    if (ctx.perturbation) axpy(lt.xMid, ctx.perturbation, 1);
    if (lt.o) copy(lt.o, lt.xMid);
    axpy(lt.xMid, lt.x, 1);
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

  logits(tape: Tape): Tensor {
    const t = this.own(tape);
    if (t.rows.mode !== 'all') throw new Error("logits: this forward computed the labelled rows' logits only (rows 'loss'); ask for rows 'all'");
    return t.logits;
  }

  attnOutputs(tape: Tape): Tensor[] {
    const t = this.own(tape);
    if (t.rows.mode !== 'all') throw new Error("attnOutputs: this forward kept no attention-block outputs (rows 'loss'); ask for rows 'all'");
    return t.layers.map((l) => l.o!);
  }

  hiddenStates(tape: Tape): Tensor {
    const t = this.own(tape);
    if (t.rows.mode !== 'all') throw new Error("hiddenStates: this forward kept the labelled rows' only (rows 'loss'); ask for rows 'all'");
    return t.hHead;
  }

  // ---- backward ----------------------------------------------------------------------------

  backward(anyTape: Tape, opts: BackwardOptions = {}): { attnOutGrads: Tensor[] | null } {
    const c = this.config, be = this.backend;
    const tape = this.own(anyTape);
    if (tape.spent) throw new Error("backward: this tape's backward has run (rows 'loss' overwrites its logits): run a new forward");
    const { N, dev } = tape;
    const B = tape.rows.B, T = tape.rows.tAtt, NA = B * T;
    const scatter = !!dev.attIndex;
    const loraGrads = opts.loraGrads ?? true;
    const attnGrads: Tensor[] | null = opts.attnOutGrads ? new Array(c.nLayers) : null;
    const arena = Arena.of(be);
    const temps: Tensor[] = [];
    const tmp = (shape: number[], key: string) => { const t = arena.take(shape, 'f32', 'bwd.' + key); temps.push(t); return t; };

    try {
      const M = dev.headCount;
      const dx = tmp([N, c.dim], 'dx');
      {
        // rows 'loss' keeps no logits for anyone to read: their gradient is written over them
        const inPlace = tape.rows.mode === 'loss';
        tape.spent = inPlace;
        const dLogits = inPlace ? tape.logits : arena.take([M, c.vocabSize], 'f32', 'bwd.dLogits');
        const head: Tensor[] = inPlace ? [] : [dLogits];
        try {
          crossEntropyBackward(dLogits, tape.logits, tape.rowLse, dev.labels, tape.count > 0 ? 1 / tape.count : 0);
          let dNorm = arena.take([M, c.wordEmbedDim], 'f32', 'bwd.dHead');
          head.push(dNorm);
          linearBackward(dNorm, null, dLogits, tape.hHead, this.lmHead);
          if (this.projectOut) {
            const d = arena.take([M, c.dim], 'f32', 'bwd.dNormFinal');
            head.push(d);
            linearBackward(d, null, dNorm, tape.nFinal.y, this.projectOut);
            dNorm = d;
          }
          // dx: gradient of the residual stream, carried down through the layers
          if (dev.headRows) {
            const dxHead = arena.take([M, c.dim], 'f32', 'bwd.dxHead');
            head.push(dxHead);
            layernormBackward(dxHead, dNorm, tape.xHead, this.finalNorm.w, tape.nFinal.mean, tape.nFinal.rstd);
            dev.fromHead(dx, dxHead);
          } else {
            layernormBackward(dx, dNorm, tape.xFinal, this.finalNorm.w, tape.nFinal.mean, tape.nFinal.rstd);
          }
        } finally { for (const t of head) t.dispose(); }
      }

      const dn = tmp([N, c.dim], 'dn');            // gradient into a norm's output
      const dNormIn = tmp([N, c.dim], 'dNormIn');  // gradient into a norm's input
      const da = tmp([N, c.ffnDim], 'da'), df = tmp([N, c.ffnDim], 'df');
      const datt = tmp([N, c.dim], 'datt'), dq = tmp([N, c.dim], 'dq'), dk = tmp([N, c.dim], 'dk'), dv = tmp([N, c.dim], 'dv');
      // attention's gradients in its layout (the same tensors where the layouts agree)
      const [dattA, dqA, dkA, dvA] = scatter ? ['dattA', 'dqA', 'dkA', 'dvA'].map((n) => tmp([NA, c.dim], n)) : [datt, dq, dk, dv];
      const pb: Omit<ProjectionBackwardOptions, 'accumulate' | 'needInput'> = {
        loraGrads, scale: this.lora?.scale ?? 1, du: tmp([N, this.lora?.options.r ?? 1], 'du'),
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
          const g = arena.take([N, c.dim], 'f32', `attnGrad.${l}`);
          copy(g, dx);
          attnGrads[l] = g;
        }
        if (l === 0 && !loraGrads) break;
        // attention: x' = x + out_proj(attention(q, k, v))
        projBack('out_proj', datt, dx, lt.attRows, w.o, false);
        if (scatter) dev.toAttention(dattA, datt);
        const h = (t: Tensor) => this.heads(t, B, T);
        attentionBackward(h(dqA), h(dkA), h(dvA), h(dattA), h(lt.q), h(lt.k), h(lt.v), h(lt.att), lt.lse, dev.keyLen,
          { skipPadQueries: tape.rows.mode === 'loss' });
        if (scatter) {
          dev.fromAttention(dq, dqA);
          dev.fromAttention(dk, dkA);
          dev.fromAttention(dv, dvA);
        }
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
    const all: (Tensor | null)[] = [tape.xFinal, tape.xHead === tape.xFinal ? null : tape.xHead, ...norms(tape.nFinal),
      tape.logits, tape.rowLoss, tape.rowLse];
    if (tape.hHead && tape.hHead !== tape.nFinal?.y) all.push(tape.hHead);
    for (const lt of tape.layers) {
      all.push(lt.x, ...norms(lt.n1), lt.q, lt.k, lt.v, lt.att, lt.attRows === lt.att ? null : lt.attRows, lt.lse, lt.o, lt.xMid,
        ...norms(lt.n2), lt.f, lt.a);
      for (const s of lt.lora.values()) all.push(s.u, s.mask);
    }
    for (const t of all) t?.dispose();
    tape.dev.dispose();
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
    const arena = Arena.of(be);
    const temps: Tensor[] = [];
    const tmp = (shape: number[], key?: string) => { const t = arena.take(shape, 'f32', key === undefined ? undefined : 'dec.' + key); temps.push(t); return t; };
    let logits: Tensor | null = null;
    try {
      const pos = arena.from([N], Int32Array.from(chunk.hostPositions, (p) => p + OPT_POSITION_OFFSET), 'dec.posIds');
      temps.push(pos);
      let x = tmp([N, c.dim], 'x0'), next = tmp([N, c.dim], 'x1');
      this.embed(x, chunk.ids, pos, 'dec.');
      // Nothing is kept for a backward: one set of layer buffers serves every layer.
      const lt = this.layerBuffers(x, B, T, N, false, false, tmp, '');
      const ctx: LayerContext = {
        B, T, N, keyLen: chunk.keyLen, rows: null, decode: { cache, chunk }, perturbation: null, dropout: null, mk: tmp, keys: '',
      };
      for (let l = 0; l < c.nLayers; l++) {
        lt.x = x;
        this.layerForward(l, lt, next, ctx);
        // the layer's LoRA scratch goes back before the next layer's
        for (const sv of lt.lora.values()) { sv.u.dispose(); sv.mask?.dispose(); }
        lt.lora.clear();
        [x, next] = [next, x];
      }
      // only each sequence's last row goes through the head
      const last = tmp([B, c.dim], 'last');
      embedding(last, x, chunk.lastRows);
      logits = arena.take([B, c.vocabSize]);
      this.head(logits, last, this.normBuffers(B, tmp, 'head.n'), tmp, 'head.h');
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
    Arena.of(this.backend).trim();
  }
}

// The decoder-only transformer every family's model is: written once here, with hooks for what a
// family does its own way (its norm, its MLP, its positions, its head). A family's model.ts
// extends DecoderModel and fills in the hooks; everything else is this file's:
//   - the tape: a forward keeps exactly what the backward needs (no autograd, as llm.c), over the
//     rows its plan names (rows.ts), every buffer from the backend's arena (../arena.ts);
//   - the attention block of each layer, forward and backward: the norm's output projected to
//     q, k, v (+ bias, + LoRA), moved into attention's layout, attention, the output projection;
//     its output o (+ the perturbation e_l Vaccine adds) joins the residual stream: x' = x + o;
//   - the layer's MLP block joins it the same way: x'' = x' + mlp(x') (the family's MLP, norm
//     included);
//   - the head's rows (rows 'loss': the labelled ones) through the family's head, the
//     cross-entropy and its backward;
//   - decoding: the same layers over a KV cache (kv_cache.ts), the last rows through the head.
import { Arena } from '../arena.ts';
import type { Backend } from '../backend.ts';
import type { Lora, LoraTarget } from '../lora.ts';
import { attention, attentionBackward } from '../ops/attention.ts';
import { crossEntropy, crossEntropyBackward } from '../ops/cross_entropy.ts';
import { axpy, copy } from '../ops/elementwise.ts';
import { embedding, embeddingBackward } from '../ops/embedding.ts';
import { matmul } from '../ops/matmul.ts';
import { expectShape, type Tensor } from '../tensor.ts';
import {
  checkBatch, meanLoss, projectionBackward, projectionForward, uploadWeights, weightDtypeOf, type AttentionTape, type AttentionWeights,
  type DecoderConfig, type Mk, type Proj, type ProjBack, type ProjectionBackwardOptions, type Upload,
} from './blocks.ts';
import type { BackwardOptions, Batch, CausalLM, ForwardOptions, ModelOptions, Tape } from './causal_lm.ts';
import type { HostWeights } from './family.ts';
import { KVCache, type DecodeChunk } from './kv_cache.ts';
import { DeviceRows, planRows } from './rows.ts';

/** What one layer's forward needs beyond its weights and buffers. */
export interface LayerContext<P> {
  /** sequences, rows of each in attention's layout, rows the layer runs on */
  B: number; T: number; N: number;
  keyLen: Tensor;
  /** training: the plan's rows on the device (the scatter into attention's layout, dropout's row index) */
  rows: DeviceRows | null;
  /** decoding: the KV cache and the chunk (its slots, keyLen and qPos0) */
  decode: { cache: KVCache; chunk: DecodeChunk } | null;
  perturbation: Tensor | null;
  dropout: { p: number; seed: number } | null;
  mk: Mk;
  /** the arena keys' prefix of this pass's buffers ('L3.' training, '' decoding) */
  keys: string;
  /** the family's state of this pass (Llama: the RoPE rows at each row's position) */
  pass: P;
}

export interface DecoderTape<LT, H, P> extends Tape {
  /** the model that made it: a tape is read by no other */
  model: object;
  N: number;
  /** the plan's index arrays on the device */
  dev: DeviceRows;
  pass: P;
  layers: LT[];
  /** the last layer's output [n, dim]; xHead: its head rows [M, dim] (the same tensor when all rows are) */
  xFinal: Tensor; xHead: Tensor;
  /** what the family's head saved */
  head: H;
  /** [M, vocab]; each row's loss; each row's log-sum-exp (for the cross-entropy backward) */
  logits: Tensor; rowLoss: Tensor; rowLse: Tensor;
  /** labels that count in the mean */
  count: number;
  /** rows 'loss': the backward overwrites the logits with their gradient, so it runs once */
  spent: boolean;
}

/**
 * C: the family's config; W, LT: its layer weights and layer tape; H: what its head saves; P: its
 * per-pass state; S: its MLP's backward scratch.
 */
export abstract class DecoderModel<C extends DecoderConfig, W extends AttentionWeights, LT extends AttentionTape, H, P, S>
implements CausalLM {
  private _lora: Lora | null = null;
  protected layers: W[] = [];
  /** storage of the frozen projection weights */
  readonly weightDtype: 'f32' | 'f16';

  // ---- the family's hooks ------------------------------------------------------------------

  /** each LoRA target's index in the family's list: it seeds the target's dropout masks */
  protected abstract readonly targetIndex: Record<LoraTarget, number>;
  /** the attention output projection's target name ('o_proj') */
  protected abstract readonly outTarget: LoraTarget;
  protected abstract projectionWeight(l: number, target: LoraTarget): Tensor;
  /** every tensor the model uploaded (dispose frees them) */
  protected abstract weightTensors(): Tensor[];
  /** x [N, dim] = the embedded rows of a training forward; the pass's state (keep: freed with the forward's tensors) */
  protected abstract embedRows(x: Tensor, dev: DeviceRows, batch: Batch, keep: (t: Tensor) => Tensor): P;
  /** the same for a decoding chunk */
  protected abstract embedChunk(x: Tensor, chunk: DecodeChunk, keep: (t: Tensor) => Tensor): P;
  /** tensors of the pass state that live as long as the tape */
  protected passTensors(_pass: P): (Tensor | null)[] { return []; }
  /**
   * The buffers one layer writes, for N rows in B sequences of T rows of attention's layout
   * (attentionBuffers, plus the family's own). keepO: keep the attention-block output apart (for
   * attnOutputs); scatter: attention's layout is not the rows' own.
   */
  protected abstract layerBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean, mk: Mk, keys: string): LT;
  /** the family's tensors of a layer tape (beyond AttentionTape's) */
  protected abstract layerTensors(lt: LT): (Tensor | null)[];
  /** the norm before attention, on lt.x; returns its output (q, k, v's input) */
  protected abstract attnNorm(w: W, lt: LT): Tensor;
  /** that output, as the forward left it */
  protected abstract attnNormOut(lt: LT): Tensor;
  /** dIn = the gradient into lt.x from dOut, the gradient into the norm's output */
  protected abstract attnNormBackward(dIn: Tensor, dOut: Tensor, w: W, lt: LT): void;
  /** position-dependent rotation of q, k rows (Llama: RoPE); none by default */
  protected rotate(_q: Tensor, _k: Tensor, _pass: P, _inverse: boolean): void {}
  /** out = mlp(norm(lt.xMid)), the residual not added */
  protected abstract mlpForward(w: W, lt: LT, out: Tensor, proj: Proj): void;
  protected abstract mlpScratch(N: number, tmp: (shape: number[], key: string) => Tensor): S;
  /** dNormIn = the gradient into lt.xMid through the MLP from dOut (dn: scratch [N, dim]) */
  protected abstract mlpBackward(w: W, lt: LT, dOut: Tensor, dn: Tensor, dNormIn: Tensor, s: S, projBack: ProjBack): void;
  /** logits [rows, vocab] from the residual stream rows x: the final norm, the family's head */
  protected abstract headForward(logits: Tensor, x: Tensor, mk: Mk): H;
  /** the head's input (hiddenStates) */
  protected abstract hidden(head: H): Tensor;
  protected abstract headTensors(head: H): (Tensor | null)[];
  /** the gradient into the final norm's output from dLogits (take: scratch freed after the head's backward) */
  protected abstract headBackward(dLogits: Tensor, head: H, take: (shape: number[], key: string) => Tensor): Tensor;
  /** dx = the gradient into the final norm's input x */
  protected abstract finalNormBackward(dx: Tensor, dNorm: Tensor, x: Tensor, head: H): void;

  protected constructor(readonly backend: Backend, readonly config: C, opts: ModelOptions,
    /** longest sequence this instance runs (at most config.maxSeqLen) */
    readonly maxPositions: number,
    /** key/value heads (Llama's grouped-query attention; nHeads elsewhere) */
    protected readonly nKvHeads: number) {
    this.weightDtype = weightDtypeOf(backend, opts);
  }

  /** Checks and uploads the weights (blocks.ts uploadWeights), f16 matrices where asked for. */
  protected upload(shapes: Map<string, number[]>, weights: HostWeights, build: (get: Upload, getMatrix: Upload) => void): void {
    uploadWeights(this.backend, shapes, weights, this.config.namePath, this.weightDtype === 'f16', build);
  }

  get lora(): Lora | null { return this._lora; }
  /** Attaches an adapter made for this config (checked), or detaches (null). */
  set lora(lora: Lora | null) {
    lora?.assertFits(this.config);
    this._lora = lora;
  }

  /** Merges an adapter into the frozen base weights: W += (alpha/r) B A (the paper's Double-LoRA). */
  mergeLora(lora: Lora): void {
    lora.assertFits(this.config);
    if (this.weightDtype === 'f16') throw new Error('merging an adapter into f16-stored weights is not supported: load the model with f32 weights');
    for (const m of lora.modules) matmul(this.projectionWeight(m.layer, m.target), m.B, m.A, { alpha: lora.scale, beta: 1 });
  }

  // ---- forward -----------------------------------------------------------------------------

  forward(batch: Batch, opts: ForwardOptions = {}): DecoderTape<LT, H, P> {
    const c = this.config, be = this.backend;
    const { B } = batch;
    checkBatch(batch, c, this.maxPositions, opts);
    const plan = planRows(batch, opts.rows ?? 'all');
    const N = plan.n;
    for (const e of opts.perturbations ?? []) expectShape(`forward: perturbation (the rows of this forward, rows '${plan.mode}')`, e, [N, c.dim]);
    const dropout = this.lora?.options.dropout ?? 0;
    const useDropout = (opts.training ?? true) && dropout > 0;
    const seed = opts.dropoutSeed ?? 0;
    const arena = Arena.of(be);

    // Every tensor this pass makes: on an exception they are all returned, not leaked.
    const made: Tensor[] = [];
    const keep = (t: Tensor) => { made.push(t); return t; };
    const mk = (shape: number[], key?: string) => keep(arena.take(shape, 'f32', key));
    let dev: DeviceRows | null = null;
    try {
      dev = new DeviceRows(be, plan);
      const tape: DecoderTape<LT, H, P> = {
        model: this, batch, rows: plan, N, count: plan.count, dev, spent: false, pass: null!, layers: [],
        xFinal: null!, xHead: null!, head: null!, logits: null!, rowLoss: null!, rowLse: null!,
      };
      let x = mk([N, c.dim], 'x');
      tape.pass = this.embedRows(x, dev, batch, keep);
      for (let l = 0; l < c.nLayers; l++) {
        const lt = this.layerBuffers(x, B, plan.tAtt, N, plan.mode === 'all', !!dev.attIndex, mk, `L${l}.`);
        tape.layers.push(lt);
        const next = mk([N, c.dim], `L${l}.out`);
        this.layerForward(l, lt, next, {
          B, T: plan.tAtt, N, keyLen: dev.keyLen, rows: dev, decode: null, mk, keys: `L${l}.`, pass: tape.pass,
          perturbation: opts.perturbations?.[l] ?? null,
          dropout: useDropout ? { p: dropout, seed } : null,
        });
        x = next;
      }

      // The head: only its rows (rows 'loss': the labelled ones) go through the final norm, the
      // output projection and the cross-entropy.
      const M = dev.headCount;
      tape.xFinal = x;
      tape.xHead = x;
      if (dev.headRows) {
        tape.xHead = mk([M, c.dim], 'head.x');
        dev.toHead(tape.xHead, x);
      }
      tape.logits = mk([M, c.vocabSize], 'logits');
      tape.head = this.headForward(tape.logits, tape.xHead, mk);
      tape.rowLoss = mk([M], 'head.loss');
      tape.rowLse = mk([M], 'head.lse');
      crossEntropy(tape.rowLoss, tape.rowLse, tape.logits, dev.labels);
      return tape;
    } catch (e) {
      for (const t of made) t.dispose();
      dev?.dispose();
      throw e;
    }
  }

  /** The attention block's buffers of a layer (layerBuffers adds the family's). */
  protected attentionBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean,
    m: (shape: number[], name: string) => Tensor): AttentionTape {
    const c = this.config, NA = B * T;
    const qDim = c.nHeads * c.headDim, kvDim = this.nKvHeads * c.headDim;
    const att = m([NA, qDim], 'att');
    return {
      x, q: m([NA, qDim], 'q'), k: m([NA, kvDim], 'k'), v: m([NA, kvDim], 'v'),
      att, lse: m([B, c.nHeads, T], 'lse'), attRows: scatter ? m([N, qDim], 'attRows') : att,
      o: keepO ? m([N, c.dim], 'o') : null, xMid: m([N, c.dim], 'xMid'),
      lora: new Map(),
    };
  }

  /** [N, H*hd] activations as the [B, T, H, hd] the attention op takes. */
  protected heads(t: Tensor, B: number, T: number, H: number): Tensor {
    return t.view([B, T, H, this.config.headDim]);
  }

  /**
   * One decoder layer: lt.x -> next, writing every intermediate into lt. Training attends the
   * batch's own keys (scattered into attention's layout where the rows are not already in it);
   * decoding first writes this chunk's keys and values into the layer's cache (at the chunk's
   * slots), then attends the cache.
   */
  private layerForward(l: number, lt: LT, next: Tensor, ctx: LayerContext<P>): void {
    const c = this.config, w = this.layers[l];
    const { B, T, N } = ctx;
    const H = c.nHeads, KH = this.nKvHeads;
    const qDim = H * c.headDim, kvDim = KH * c.headDim;
    // a row's dropout mask is the one of its batch position (rows.ts)
    const pctx = { lora: this.lora, layer: l, dropout: ctx.dropout, rowIndex: ctx.rows?.index ?? null, mk: ctx.mk, keys: ctx.keys, saved: lt.lora };
    const proj: Proj = (target, y, input, weight, bias) => projectionForward(pctx, target, this.targetIndex[target], y, input, weight, bias);
    const scatter = !!ctx.rows?.attIndex;
    const arena = Arena.of(this.backend);
    const h = this.attnNorm(w, lt);
    // q, k, v as rows: the tape's tensors, or scratch moved into attention's layout
    const [q, k, v] = scatter ? [arena.take([N, qDim], 'f32', 'rows.q'), arena.take([N, kvDim], 'f32', 'rows.k'), arena.take([N, kvDim], 'f32', 'rows.v')]
      : [lt.q, lt.k, lt.v];
    try {
      proj('q_proj', q, h, w.q, w.qBias);
      proj('k_proj', k, h, w.k, w.kBias);
      proj('v_proj', v, h, w.v, w.vBias);
      this.rotate(q, k, ctx.pass, false);
      if (scatter) {
        ctx.rows!.toAttention(lt.q, q);
        ctx.rows!.toAttention(lt.k, k);
        ctx.rows!.toAttention(lt.v, v);
      }
    } finally {
      if (scatter) { q.dispose(); k.dispose(); v.dispose(); }
    }
    const qh = this.heads(lt.q, B, T, H), att = this.heads(lt.att, B, T, H);
    if (ctx.decode) {
      const { cache, chunk } = ctx.decode;
      // The cache rows written here are still zero, so the embedding backward's scatter-add writes them exactly.
      embeddingBackward(cache.k[l], lt.k, chunk.slots);
      embeddingBackward(cache.v[l], lt.v, chunk.slots);
      const kc = this.heads(cache.k[l], B, cache.capacity, KH), vc = this.heads(cache.v[l], B, cache.capacity, KH);
      attention(att, lt.lse, qh, kc, vc, ctx.keyLen, { qPos0: chunk.qPos0 });
    } else {
      // rows 'loss': attention's padding rows are no queries (nothing reads them)
      attention(att, lt.lse, qh, this.heads(lt.k, B, T, KH), this.heads(lt.v, B, T, KH), ctx.keyLen,
        { skipPadQueries: ctx.rows?.plan.mode === 'loss' });
    }
    if (scatter) ctx.rows!.fromAttention(lt.attRows, lt.att);
    // o = o_proj(att) (+ e) is written into xMid, then x added: xMid = o + x, bit for bit x + o.
    proj(this.outTarget, lt.xMid, lt.attRows, w.o, w.oBias);
    if (ctx.perturbation) axpy(lt.xMid, ctx.perturbation, 1);
    if (lt.o) copy(lt.o, lt.xMid);
    axpy(lt.xMid, lt.x, 1);
    this.mlpForward(w, lt, next, proj);
    axpy(next, lt.xMid, 1);
  }

  /** The tape as this model wrote it; throws for a tape of another model. */
  protected own(tape: Tape): DecoderTape<LT, H, P> {
    if ((tape as DecoderTape<LT, H, P>).model !== this) throw new Error(`${this.config.family}: this tape was made by another model`);
    return tape as DecoderTape<LT, H, P>;
  }

  /** Mean cross-entropy over the shifted labels that are not IGNORE_INDEX (0 when there are none). */
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
    return this.hidden(t.head);
  }

  // ---- backward ----------------------------------------------------------------------------

  /**
   * Backward from the mean loss. loraGrads (default true) adds into every LoRA module's dA/dB;
   * attnOutGrads returns dL/d(attention-block output) per layer, [n, dim] in the tape's rows (the
   * caller disposes them).
   */
  backward(anyTape: Tape, opts: BackwardOptions = {}): { attnOutGrads: Tensor[] | null } {
    const c = this.config, be = this.backend;
    const tape = this.own(anyTape);
    if (tape.spent) throw new Error("backward: this tape's backward has run (rows 'loss' overwrites its logits): run a new forward");
    const { N, dev } = tape;
    const B = tape.rows.B, T = tape.rows.tAtt, NA = B * T;
    const scatter = !!dev.attIndex;
    const loraGrads = opts.loraGrads ?? true;
    const attnGrads: Tensor[] | null = opts.attnOutGrads ? new Array(c.nLayers) : null;
    const H = c.nHeads, KH = this.nKvHeads;
    const qDim = H * c.headDim, kvDim = KH * c.headDim;
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
        const take = (shape: number[], key: string) => { const t = arena.take(shape, 'f32', key); head.push(t); return t; };
        try {
          crossEntropyBackward(dLogits, tape.logits, tape.rowLse, dev.labels, tape.count > 0 ? 1 / tape.count : 0);
          const dNorm = this.headBackward(dLogits, tape.head, take);
          // dx: gradient of the residual stream, carried down through the layers
          if (dev.headRows) {
            const dxHead = take([M, c.dim], 'bwd.dxHead');
            this.finalNormBackward(dxHead, dNorm, tape.xHead, tape.head);
            dev.fromHead(dx, dxHead);
          } else {
            this.finalNormBackward(dx, dNorm, tape.xFinal, tape.head);
          }
        } finally { for (const t of head) t.dispose(); }
      }

      const dn = tmp([N, c.dim], 'dn');            // gradient into a norm's output
      const dNormIn = tmp([N, c.dim], 'dNormIn');  // gradient into a norm's input
      const s = this.mlpScratch(N, tmp);
      const datt = tmp([N, qDim], 'datt'), dq = tmp([N, qDim], 'dq'), dk = tmp([N, kvDim], 'dk'), dv = tmp([N, kvDim], 'dv');
      // attention's gradients in its layout (the same tensors where the layouts agree)
      const [dattA, dqA, dkA, dvA] = scatter
        ? [tmp([NA, qDim], 'dattA'), tmp([NA, qDim], 'dqA'), tmp([NA, kvDim], 'dkA'), tmp([NA, kvDim], 'dvA')] : [datt, dq, dk, dv];
      const pb: Omit<ProjectionBackwardOptions, 'accumulate' | 'needInput'> = {
        loraGrads, scale: this.lora?.scale ?? 1, du: tmp([N, this.lora?.options.r ?? 1], 'du'),
      };

      for (let l = c.nLayers - 1; l >= 0; l--) {
        const w = this.layers[l], lt = tape.layers[l];
        const projBack: ProjBack = (target, dxOut, dy, input, weight, accumulate, needInput = true) =>
          projectionBackward(lt.lora.get(target), dxOut, dy, input, weight, { ...pb, accumulate, needInput });

        // MLP: x'' = x' + mlp(x')
        this.mlpBackward(w, lt, dx, dn, dNormIn, s, projBack);
        axpy(dx, dNormIn, 1);
        // now dx = dL/dx' = dL/d(attention-block output)
        if (attnGrads) {
          const g = arena.take([N, c.dim], 'f32', `attnGrad.${l}`);
          copy(g, dx);
          attnGrads[l] = g;
        }
        // Below this point only LoRA gradients remain to be found: with none wanted, layer 0 is done.
        if (l === 0 && !loraGrads) break;
        // attention: x' = x + o_proj(attention(q, k, v))
        projBack(this.outTarget, datt, dx, lt.attRows, w.o, false);
        if (scatter) dev.toAttention(dattA, datt);
        const qh = (t: Tensor) => this.heads(t, B, T, H), kvh = (t: Tensor) => this.heads(t, B, T, KH);
        attentionBackward(qh(dqA), kvh(dkA), kvh(dvA), qh(dattA), qh(lt.q), kvh(lt.k), kvh(lt.v), qh(lt.att), lt.lse, dev.keyLen,
          { skipPadQueries: tape.rows.mode === 'loss' });
        if (scatter) {
          dev.fromAttention(dq, dqA);
          dev.fromAttention(dk, dkA);
          dev.fromAttention(dv, dvA);
        }
        this.rotate(dq, dk, tape.pass, true);
        // Layer 0's input is the frozen embedding: its gradient is never used, so skip the three
        // base dX products and the norm backward there (LoRA's dA, dB still need dq, dk, dv).
        const needInput = l > 0;
        const h = this.attnNormOut(lt);
        projBack('q_proj', dn, dq, h, w.q, false, needInput);
        projBack('k_proj', dn, dk, h, w.k, true, needInput);
        projBack('v_proj', dn, dv, h, w.v, true, needInput);
        if (needInput) {
          this.attnNormBackward(dNormIn, dn, w, lt);
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
    const all: (Tensor | null)[] = [...this.passTensors(tape.pass), tape.xFinal, tape.xHead === tape.xFinal ? null : tape.xHead,
      ...this.headTensors(tape.head), tape.logits, tape.rowLoss, tape.rowLse];
    for (const lt of tape.layers) {
      all.push(lt.x, lt.q, lt.k, lt.v, lt.att, lt.attRows === lt.att ? null : lt.attRows, lt.lse, lt.o, lt.xMid, ...this.layerTensors(lt));
      for (const s of lt.lora.values()) all.push(s.u, s.mask);
    }
    for (const t of all) t?.dispose();
    tape.dev.dispose();
    tape.layers.length = 0;
  }

  // ---- decoding with a KV cache --------------------------------------------------------------

  /** A cache for `batch` sequences of up to `capacity` positions (keys and values: nKvHeads * headDim per token). */
  createKVCache(batch: number, capacity: number): KVCache {
    if (capacity > this.maxPositions) throw new Error(`createKVCache: capacity ${capacity} exceeds the model's ${this.maxPositions} positions`);
    return new KVCache(this.backend, this.config.nLayers, batch, capacity, this.nKvHeads * this.config.headDim);
  }

  /**
   * Runs a chunk through every layer over the cache (no LoRA dropout, no tape) and returns the
   * logits of each sequence's last token of the chunk, [B, vocab] (the caller disposes them).
   */
  decode(cache: KVCache, chunk: DecodeChunk): Tensor {
    const c = this.config, be = this.backend;
    const { B, T } = chunk, N = B * T;
    if (cache.batch !== B || cache.width !== this.nKvHeads * c.headDim || cache.k.length !== c.nLayers) throw new Error('decode: the cache was not made by this model for this batch');
    for (const id of chunk.hostIds) if (id < 0 || id >= c.vocabSize) throw new Error(`decode: token id ${id} outside the vocabulary (${c.vocabSize})`);
    const arena = Arena.of(be);
    const temps: Tensor[] = [];
    const keep = (t: Tensor) => { temps.push(t); return t; };
    const tmp = (shape: number[], key?: string) => keep(arena.take(shape, 'f32', key === undefined ? undefined : 'dec.' + key));
    let logits: Tensor | null = null;
    try {
      // Nothing is kept for a backward: one set of layer buffers serves every layer, and the
      // residual stream alternates between two tensors.
      let x = tmp([N, c.dim], 'x0'), next = tmp([N, c.dim], 'x1');
      const pass = this.embedChunk(x, chunk, keep);
      const lt = this.layerBuffers(x, B, T, N, false, false, tmp, '');
      const ctx: LayerContext<P> = {
        B, T, N, keyLen: chunk.keyLen, rows: null, decode: { cache, chunk }, mk: tmp, keys: '', pass,
        perturbation: null, dropout: null,
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
      this.headForward(logits, last, tmp);
      return logits;
    } catch (e) {
      logits?.dispose();
      throw e;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  dispose(): void {
    for (const t of this.weightTensors()) t.dispose();
    this.layers = [];
    Arena.of(this.backend).trim();
  }
}

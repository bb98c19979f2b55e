// The Llama family's model (Llama-2, TinyLlama, SmolLM, Qwen2-style q/k/v bias; llama2.c
// checkpoints) with LoRA on any of the seven projections, as a CausalLM (../causal_lm.ts). No
// autograd: `forward` keeps a tape of exactly what `backward` needs, and `backward` walks the
// layers in reverse, as llm.c does. `decode` runs the same layers over a KV cache.
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
import { Arena } from '../../arena.ts';
import type { Backend } from '../../backend.ts';
import type { Lora, LoraTarget } from '../../lora.ts';
import { attention, attentionBackward } from '../../ops/attention.ts';
import { crossEntropy, crossEntropyBackward } from '../../ops/cross_entropy.ts';
import { axpy, copy } from '../../ops/elementwise.ts';
import { embedding, embeddingBackward } from '../../ops/embedding.ts';
import { linear, linearBackward, matmul } from '../../ops/matmul.ts';
import { rmsnorm, rmsnormBackward } from '../../ops/rmsnorm.ts';
import { gatherRopeTables, rope, ropeTables, type RopeTables } from '../../ops/rope.ts';
import { swiglu, swigluBackward } from '../../ops/swiglu.ts';
import { Tensor, expectShape } from '../../tensor.ts';
import {
  checkBatch, meanLoss, projectionBackward, projectionForward, type LoraSaved, type ProjectionBackwardOptions,
} from '../blocks.ts';
import type { BackwardOptions, Batch, CausalLM, ForwardOptions, ModelOptions, Tape } from '../causal_lm.ts';
import { checkWeights, type HostWeights } from '../family.ts';
import { KVCache, type DecodeChunk } from '../kv_cache.ts';
import { DeviceRows, planRows } from '../rows.ts';
import { LLAMA_LORA_TARGETS, llamaWeightShapes, type LlamaConfig } from './config.ts';

interface LayerWeights {
  attnNorm: Tensor;
  ffnNorm: Tensor;
  q: Tensor; k: Tensor; v: Tensor; o: Tensor;
  qBias: Tensor | null; kBias: Tensor | null; vBias: Tensor | null;
  gate: Tensor; up: Tensor; down: Tensor;
}

interface LayerTape {
  x: Tensor;          // layer input (residual), [n, dim]
  h: Tensor; rstd1: Tensor;
  q: Tensor; k: Tensor; v: Tensor;   // after RoPE, in attention's layout ([B*tAtt, ...])
  att: Tensor; lse: Tensor;          // attention's output (its layout) and log-sum-exps
  attRows: Tensor;    // att as rows (o_proj's input); att itself where the layouts agree
  o: Tensor | null;   // attention-block output (perturbed, if a perturbation was given); kept for rows 'all'
  xMid: Tensor;       // x + o
  h2: Tensor; rstd2: Tensor;
  g: Tensor; up: Tensor; a: Tensor;
  lora: Map<LoraTarget, LoraSaved>;
}

/** What one layer's forward needs beyond its weights and buffers. */
interface LayerContext {
  B: number;
  /** rows of each sequence in attention's layout */
  T: number;
  /** rows the layer runs on */
  N: number;
  /** the RoPE tables' rows at each of the N rows' positions */
  rope: RopeTables;
  keyLen: Tensor;
  /** training: the plan's rows on the device (the scatter into attention's layout, dropout's row index) */
  rows: DeviceRows | null;
  /** decoding: the KV cache and the chunk (its slots, keyLen and qPos0) */
  decode: { cache: KVCache; chunk: DecodeChunk } | null;
  perturbation: Tensor | null;
  dropout: { p: number; seed: number } | null;
  /** a tensor the caller will dispose (from the arena: contents undefined; key: its role there) */
  mk: (shape: number[], key?: string) => Tensor;
  /** the arena keys' prefix of this pass's buffers ('' training, 'dec.' decoding) */
  keys: string;
}

interface LlamaTape extends Tape {
  /** the model that made it: a tape is read by no other */
  model: LlamaModel;
  N: number;
  /** the plan's index arrays on the device */
  dev: DeviceRows;
  /** the RoPE rows at each row's position (t) */
  rope: RopeTables;
  layers: LayerTape[];
  /** the last layer's output [n, dim]; xHead: its head rows [M, dim] (the same tensor when all rows are) */
  xFinal: Tensor; xHead: Tensor;
  hFinal: Tensor; rstdFinal: Tensor;
  /** [M, vocab] */
  logits: Tensor;
  rowLoss: Tensor;
  /** log-sum-exp of each logits row, saved for the cross-entropy backward */
  rowLse: Tensor;
  /** labels that count in the mean */
  count: number;
  /** rows 'loss': the backward overwrites the logits with their gradient, so it runs once */
  spent: boolean;
}

export class LlamaModel implements CausalLM {
  private _lora: Lora | null = null;
  private embed: Tensor;
  private finalNorm: Tensor;
  private lmHead: Tensor;
  private layers: LayerWeights[] = [];
  private rope: RopeTables;
  /** storage of the frozen projection weights */
  readonly weightDtype: 'f32' | 'f16';
  /** longest sequence this instance runs (the RoPE tables' length) */
  readonly maxPositions: number;

  private constructor(readonly backend: Backend, readonly config: LlamaConfig, weights: HostWeights, opts: ModelOptions) {
    const c = config;
    const half = opts.weightDtype === 'f16';
    if (half && !(backend.hasF16 && backend.allocF16 && backend.writeF16 && backend.matmulF16B)) {
      throw new Error(`f16 weights need a backend with f16 storage (WebGPU with shader-f16); ${backend.name} (${backend.description}) has none`);
    }
    this.weightDtype = half ? 'f16' : 'f32';
    // One definition of the weights and their shapes (config.ts), checked once, used for upload.
    const shapes = llamaWeightShapes(c);
    checkWeights(shapes, weights, c.namePath);
    const get = (name: string): Tensor => Tensor.from(backend, shapes.get(name)!, weights.get(name)!.data);
    // a matrix multiplied by the activations: f16 storage where asked for
    const getMatrix = (name: string): Tensor => half ? Tensor.fromF16(backend, shapes.get(name)!, weights.get(name)!.data) : get(name);
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
        gate: getMatrix(p + 'mlp.gate_proj.weight'),
        up: getMatrix(p + 'mlp.up_proj.weight'),
        down: getMatrix(p + 'mlp.down_proj.weight'),
      });
    }
    // Tables up to the model's context, capped: some configs declare 128k positions.
    this.maxPositions = Math.min(c.maxSeqLen, MAX_ROPE_POSITIONS);
    this.rope = ropeTables(backend, this.maxPositions, c.headDim, c.ropeTheta);
  }

  /** Uploads host weights (HF names, f32) to the backend. The base weights stay frozen. */
  static fromHost(backend: Backend, config: LlamaConfig, weights: HostWeights, opts: ModelOptions = {}): LlamaModel {
    return new LlamaModel(backend, config, weights, opts);
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
      case 'q_proj': return w.q; case 'k_proj': return w.k; case 'v_proj': return w.v; case 'o_proj': return w.o;
      case 'gate_proj': return w.gate; case 'up_proj': return w.up; case 'down_proj': return w.down;
    }
    throw new Error(`llama: no projection '${target}'`);
  }

  /** Merges an adapter into the frozen base weights: W += (alpha/r) B A (the paper's Double-LoRA). */
  mergeLora(lora: Lora): void {
    lora.assertFits(this.config);
    if (this.weightDtype === 'f16') throw new Error('merging an adapter into f16-stored weights is not supported: load the model with f32 weights');
    for (const m of lora.modules) matmul(this.projectionWeight(m.layer, m.target), m.B, m.A, { alpha: lora.scale, beta: 1 });
  }

  // ---- forward -----------------------------------------------------------------------------

  forward(batch: Batch, opts: ForwardOptions = {}): LlamaTape {
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
      const tape: LlamaTape = {
        model: this, batch, rows: plan, N, count: plan.count, dev, spent: false,
        rope: null!, layers: [],
        xFinal: null!, xHead: null!, hFinal: null!, rstdFinal: null!, logits: null!, rowLoss: null!, rowLse: null!,
      };
      tape.rope = gatherRopeTables(this.rope, dev.positions, 'rope.');
      made.push(tape.rope.cos, tape.rope.sin);
      let x = mk([N, c.dim], 'x');
      embedding(x, this.embed, dev.ids);

      for (let l = 0; l < c.nLayers; l++) {
        const lt = this.layerBuffers(x, B, plan.tAtt, N, plan.mode === 'all', !!dev.attIndex, mk, `L${l}.`);
        tape.layers.push(lt);
        const next = mk([N, c.dim], `L${l}.out`);
        this.layerForward(l, lt, next, {
          B, T: plan.tAtt, N, rope: tape.rope, keyLen: dev.keyLen, rows: dev, decode: null, mk, keys: `L${l}.`,
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
      tape.hFinal = mk([M, c.dim], 'head.h');
      tape.rstdFinal = mk([M], 'head.rstd');
      rmsnorm(tape.hFinal, tape.rstdFinal, tape.xHead, this.finalNorm, c.normEps);
      tape.logits = mk([M, c.vocabSize], 'logits');
      linear(tape.logits, tape.hFinal, this.lmHead);
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

  /**
   * The buffers one layer writes (kept on the tape in training), for N rows in B sequences of T
   * rows of attention's layout. keepO: keep the attention-block output apart (for attnOutputs);
   * scatter: attention's layout is not the rows' own (attRows holds att as rows).
   */
  private layerBuffers(x: Tensor, B: number, T: number, N: number, keepO: boolean, scatter: boolean,
    mk: (shape: number[], key?: string) => Tensor, keys: string): LayerTape {
    const c = this.config, NA = B * T;
    const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
    const m = (shape: number[], name: string) => mk(shape, keys + name);
    const att = m([NA, qDim], 'att');
    return {
      x,
      h: m([N, c.dim], 'h'), rstd1: m([N], 'rstd1'),
      q: m([NA, qDim], 'q'), k: m([NA, kvDim], 'k'), v: m([NA, kvDim], 'v'),
      att, lse: m([B, c.nHeads, T], 'lse'), attRows: scatter ? m([N, qDim], 'attRows') : att,
      o: keepO ? m([N, c.dim], 'o') : null, xMid: m([N, c.dim], 'xMid'),
      h2: m([N, c.dim], 'h2'), rstd2: m([N], 'rstd2'),
      g: m([N, c.hiddenDim], 'g'), up: m([N, c.hiddenDim], 'up'), a: m([N, c.hiddenDim], 'a'),
      lora: new Map(),
    };
  }

  /** [N, H*hd] activations as the [B, T, H, hd] the attention op takes. */
  private heads(t: Tensor, B: number, T: number, H: number): Tensor {
    return t.view([B, T, H, this.config.headDim]);
  }

  /** RoPE in place on [N, H*hd] rows, each rotated by its own position (tables gathered per row). */
  private rotate(t: Tensor, H: number, tables: RopeTables, inverse = false): void {
    rope(t.view([1, t.shape[0], H, this.config.headDim]), tables, { pos0: 0, interleaved: this.config.ropeInterleaved, inverse });
  }

  /**
   * One decoder layer: lt.x -> next, writing every intermediate into lt (see the file header).
   * Training attends the batch's own keys (scattered into attention's layout where the rows are
   * not already in it); decoding first writes this chunk's keys and values into the layer's cache
   * (at the chunk's slots), then attends the cache.
   */
  private layerForward(l: number, lt: LayerTape, next: Tensor, ctx: LayerContext): void {
    const c = this.config, w = this.layers[l];
    const { B, T, N } = ctx;
    const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
    // a row's dropout mask is the one of its batch position (rows.ts)
    const pctx = { lora: this.lora, layer: l, dropout: ctx.dropout, rowIndex: ctx.rows?.index ?? null, mk: ctx.mk, keys: ctx.keys, saved: lt.lora };
    const proj = (target: LoraTarget, y: Tensor, input: Tensor, weight: Tensor, bias: Tensor | null) =>
      projectionForward(pctx, target, TARGET_INDEX[target], y, input, weight, bias);
    const scatter = !!ctx.rows?.attIndex;
    const arena = Arena.of(this.backend);
    rmsnorm(lt.h, lt.rstd1, lt.x, w.attnNorm, c.normEps);
    // q, k, v as rows: the tape's tensors, or scratch moved into attention's layout
    const [q, k, v] = scatter ? [arena.take([N, qDim], 'f32', 'rows.q'), arena.take([N, kvDim], 'f32', 'rows.k'), arena.take([N, kvDim], 'f32', 'rows.v')]
      : [lt.q, lt.k, lt.v];
    try {
      proj('q_proj', q, lt.h, w.q, w.qBias);
      proj('k_proj', k, lt.h, w.k, w.kBias);
      proj('v_proj', v, lt.h, w.v, w.vBias);
      this.rotate(q, c.nHeads, ctx.rope);
      this.rotate(k, c.nKvHeads, ctx.rope);
      if (scatter) {
        ctx.rows!.toAttention(lt.q, q);
        ctx.rows!.toAttention(lt.k, k);
        ctx.rows!.toAttention(lt.v, v);
      }
    } finally {
      if (scatter) { q.dispose(); k.dispose(); v.dispose(); }
    }
    const qh = this.heads(lt.q, B, T, c.nHeads), att = this.heads(lt.att, B, T, c.nHeads);
    if (ctx.decode) {
      const { cache, chunk } = ctx.decode;
      // The cache rows written here are still zero, so the embedding backward's scatter-add writes them exactly.
      embeddingBackward(cache.k[l], lt.k, chunk.slots);
      embeddingBackward(cache.v[l], lt.v, chunk.slots);
      const kc = this.heads(cache.k[l], B, cache.capacity, c.nKvHeads), vc = this.heads(cache.v[l], B, cache.capacity, c.nKvHeads);
      attention(att, lt.lse, qh, kc, vc, ctx.keyLen, { qPos0: chunk.qPos0 });
    } else {
      // rows 'loss': attention's padding rows are no queries (nothing reads them)
      attention(att, lt.lse, qh, this.heads(lt.k, B, T, c.nKvHeads), this.heads(lt.v, B, T, c.nKvHeads), ctx.keyLen,
        { skipPadQueries: ctx.rows?.plan.mode === 'loss' });
    }
    if (scatter) ctx.rows!.fromAttention(lt.attRows, lt.att);
    // o = o_proj(att) (+ e) is written into xMid, then x added: xMid = o + x, bit for bit x + o.
    proj('o_proj', lt.xMid, lt.attRows, w.o, null);
    if (ctx.perturbation) axpy(lt.xMid, ctx.perturbation, 1);
    if (lt.o) copy(lt.o, lt.xMid);
    axpy(lt.xMid, lt.x, 1);
    rmsnorm(lt.h2, lt.rstd2, lt.xMid, w.ffnNorm, c.normEps);
    proj('gate_proj', lt.g, lt.h2, w.gate, null);
    proj('up_proj', lt.up, lt.h2, w.up, null);
    swiglu(lt.a, lt.g, lt.up);
    proj('down_proj', next, lt.a, w.down, null);
    axpy(next, lt.xMid, 1);
  }

  /** The tape as this model wrote it; throws for a tape of another model. */
  private own(tape: Tape): LlamaTape {
    if ((tape as LlamaTape).model !== this) throw new Error('llama: this tape was made by another model');
    return tape as LlamaTape;
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
    return t.hFinal;
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
    const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
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
        const dhFinal = arena.take([M, c.dim], 'f32', 'bwd.dh');
        try {
          crossEntropyBackward(dLogits, tape.logits, tape.rowLse, dev.labels, tape.count > 0 ? 1 / tape.count : 0);
          linearBackward(dhFinal, null, dLogits, tape.hFinal, this.lmHead);
          if (!inPlace) dLogits.dispose();
          // dx: gradient of the residual stream, carried down through the layers
          if (dev.headRows) {
            const dxHead = arena.take([M, c.dim], 'f32', 'bwd.dxHead');
            try {
              rmsnormBackward(dxHead, null, dhFinal, tape.xHead, this.finalNorm, tape.rstdFinal);
              dev.fromHead(dx, dxHead);
            } finally { dxHead.dispose(); }
          } else {
            rmsnormBackward(dx, null, dhFinal, tape.xFinal, this.finalNorm, tape.rstdFinal);
          }
        } finally {
          if (!inPlace) dLogits.dispose();
          dhFinal.dispose();
        }
      }

      const dn = tmp([N, c.dim], 'dn');            // gradient into a norm's output
      const dNormIn = tmp([N, c.dim], 'dNormIn');  // gradient into a norm's input
      const da = tmp([N, c.hiddenDim], 'da'), dg = tmp([N, c.hiddenDim], 'dg'), dup = tmp([N, c.hiddenDim], 'dup');
      const datt = tmp([N, qDim], 'datt'), dq = tmp([N, qDim], 'dq'), dk = tmp([N, kvDim], 'dk'), dv = tmp([N, kvDim], 'dv');
      // attention's gradients in its layout (the same tensors where the layouts agree)
      const [dattA, dqA, dkA, dvA] = scatter
        ? [tmp([NA, qDim], 'dattA'), tmp([NA, qDim], 'dqA'), tmp([NA, kvDim], 'dkA'), tmp([NA, kvDim], 'dvA')] : [datt, dq, dk, dv];
      const r = this.lora?.options.r ?? 1;
      const pb: Omit<ProjectionBackwardOptions, 'accumulate' | 'needInput'> = { loraGrads, scale: this.lora?.scale ?? 1, du: tmp([N, r], 'du') };

      for (let l = c.nLayers - 1; l >= 0; l--) {
        const w = this.layers[l], lt = tape.layers[l];
        // Gradient of a projection y = x W^T (+ LoRA): dxOut (+)= dy W, plus LoRA's share.
        const projBack = (target: LoraTarget, dxOut: Tensor, dy: Tensor, input: Tensor, weight: Tensor, accumulate: boolean, needInput = true) =>
          projectionBackward(lt.lora.get(target), dxOut, dy, input, weight, { ...pb, accumulate, needInput });

        // MLP: x'' = x' + down(silu(g) * u), with g, u from rmsnorm(x')
        projBack('down_proj', da, dx, lt.a, w.down, false);
        swigluBackward(dg, dup, da, lt.g, lt.up);
        projBack('gate_proj', dn, dg, lt.h2, w.gate, false);
        projBack('up_proj', dn, dup, lt.h2, w.up, true);
        rmsnormBackward(dNormIn, null, dn, lt.xMid, w.ffnNorm, lt.rstd2);
        axpy(dx, dNormIn, 1);
        // now dx = dL/dx' = dL/d(attention-block output)
        if (attnGrads) {
          const g = arena.take([N, c.dim], 'f32', `attnGrad.${l}`);
          copy(g, dx);
          attnGrads[l] = g;
        }
        // Below this point only LoRA gradients remain to be found: with none wanted, layer 0 is done.
        if (l === 0 && !loraGrads) break;
        // attention: x' = x + o_proj(attention(rope(q), rope(k), v))
        projBack('o_proj', datt, dx, lt.attRows, w.o, false);
        if (scatter) dev.toAttention(dattA, datt);
        const qh = (t: Tensor) => this.heads(t, B, T, c.nHeads), kvh = (t: Tensor) => this.heads(t, B, T, c.nKvHeads);
        attentionBackward(qh(dqA), kvh(dkA), kvh(dvA), qh(dattA), qh(lt.q), kvh(lt.k), kvh(lt.v), qh(lt.att), lt.lse, dev.keyLen,
          { skipPadQueries: tape.rows.mode === 'loss' });
        if (scatter) {
          dev.fromAttention(dq, dqA);
          dev.fromAttention(dk, dkA);
          dev.fromAttention(dv, dvA);
        }
        this.rotate(dq, c.nHeads, tape.rope, true);
        this.rotate(dk, c.nKvHeads, tape.rope, true);
        // Layer 0's input is the frozen embedding: its gradient is never used, so skip the three
        // base dX products and the norm backward there (LoRA's dA, dB still need dq, dk, dv).
        const needInput = l > 0;
        projBack('q_proj', dn, dq, lt.h, w.q, false, needInput);
        projBack('k_proj', dn, dk, lt.h, w.k, true, needInput);
        projBack('v_proj', dn, dv, lt.h, w.v, true, needInput);
        if (needInput) {
          rmsnormBackward(dNormIn, null, dn, lt.x, w.attnNorm, lt.rstd1);
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
    const all: (Tensor | null)[] = [tape.rope?.cos, tape.rope?.sin, tape.xFinal,
      tape.xHead === tape.xFinal ? null : tape.xHead, tape.hFinal, tape.rstdFinal, tape.logits, tape.rowLoss, tape.rowLse];
    for (const lt of tape.layers) {
      all.push(lt.x, lt.h, lt.rstd1, lt.q, lt.k, lt.v, lt.att, lt.attRows === lt.att ? null : lt.attRows, lt.lse, lt.o, lt.xMid,
        lt.h2, lt.rstd2, lt.g, lt.up, lt.a);
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
    return new KVCache(this.backend, this.config.nLayers, batch, capacity, this.config.nKvHeads * this.config.headDim);
  }

  /**
   * Runs a chunk through every layer over the cache (no LoRA dropout, no tape) and returns the
   * logits of each sequence's last token of the chunk, [B, vocab] (the caller disposes them).
   */
  decode(cache: KVCache, chunk: DecodeChunk): Tensor {
    const c = this.config, be = this.backend;
    const { B, T } = chunk, N = B * T;
    if (cache.batch !== B || cache.width !== c.nKvHeads * c.headDim || cache.k.length !== c.nLayers) throw new Error('decode: the cache was not made by this model for this batch');
    for (const id of chunk.hostIds) if (id < 0 || id >= c.vocabSize) throw new Error(`decode: token id ${id} outside the vocabulary (${c.vocabSize})`);
    const arena = Arena.of(be);
    const temps: Tensor[] = [];
    const keep = (t: Tensor) => { temps.push(t); return t; };
    const tmp = (shape: number[], key?: string) => keep(arena.take(shape, 'f32', key === undefined ? undefined : 'dec.' + key));
    let logits: Tensor | null = null;
    try {
      const tables = gatherRopeTables(this.rope, chunk.positions, 'dec.rope.');
      temps.push(tables.cos, tables.sin);
      // Nothing is kept for a backward: one set of layer buffers serves every layer, and the
      // residual stream alternates between two tensors.
      let x = tmp([N, c.dim], 'x0'), next = tmp([N, c.dim], 'x1');
      embedding(x, this.embed, chunk.ids);
      const lt = this.layerBuffers(x, B, T, N, false, false, tmp, '');
      const ctx: LayerContext = {
        B, T, N, rope: tables, keyLen: chunk.keyLen, rows: null, decode: { cache, chunk }, mk: tmp, keys: '',
        perturbation: null, dropout: null,
      };
      for (let l = 0; l < c.nLayers; l++) {
        lt.x = x;
        this.layerForward(l, lt, next, ctx);
        // nothing is kept for a backward: the layer's LoRA scratch goes back before the next layer's
        for (const sv of lt.lora.values()) { sv.u.dispose(); sv.mask?.dispose(); }
        lt.lora.clear();
        [x, next] = [next, x];
      }
      // only each sequence's last row goes through the head
      const last = tmp([B, c.dim], 'last'), h = tmp([B, c.dim], 'h'), rstd = tmp([B], 'rstd');
      embedding(last, x, chunk.lastRows);
      rmsnorm(h, rstd, last, this.finalNorm, c.normEps);
      logits = arena.take([B, c.vocabSize]);
      linear(logits, h, this.lmHead);
      return logits;
    } catch (e) {
      logits?.dispose();
      throw e;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  dispose(): void {
    const all = [this.embed, this.finalNorm, this.rope.cos, this.rope.sin];
    if (this.lmHead !== this.embed) all.push(this.lmHead);
    for (const w of this.layers) {
      all.push(w.attnNorm, w.ffnNorm, w.q, w.k, w.v, w.o, w.gate, w.up, w.down);
      for (const b of [w.qBias, w.kBias, w.vBias]) if (b) all.push(b);
    }
    for (const t of all) t.dispose();
    this.layers = [];
    Arena.of(this.backend).trim();
  }
}
const MAX_ROPE_POSITIONS = 16384;

/** Each target's index in the family's list: it seeds the target's dropout masks. */
const TARGET_INDEX: Record<LoraTarget, number> = Object.fromEntries(LLAMA_LORA_TARGETS.map((t, i) => [t.name, i]));

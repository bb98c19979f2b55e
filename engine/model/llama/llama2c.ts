// llama2.c checkpoint (.bin, "v0" format) -> LlamaConfig + f32 host weights with HF names.
// Layout: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a negative
// vocab_size means an untied classifier is stored at the end. Then f32 arrays in llama2.c order.
// The q/k rows stay in llama2.c order (interleaved RoPE pairs): config.ropeInterleaved = true.
import { existsSync } from 'node:fs';
import { fileSource } from '../../io/node_files.ts';
import type { ByteSource } from '../../io/source.ts';
import type { HostWeights } from '../family.ts';
import type { LlamaConfig } from './config.ts';

const HEADER_BYTES = 28;

interface Llama2cHeader { dim: number; hiddenDim: number; nLayers: number; nHeads: number; nKvHeads: number; vocabSize: number; seqLen: number; shared: boolean }

/** [name, shape] in file order; the freq_cis tables are read past (the model computes RoPE itself). */
function layout(h: Llama2cHeader): Array<[string | null, number[]]> {
  const hd = h.dim / h.nHeads, kvDim = h.nKvHeads * hd, L = h.nLayers;
  const perLayer = (suffix: string, shape: number[]): Array<[string, number[]]> =>
    Array.from({ length: L }, (_, i) => [`model.layers.${i}.${suffix}`, shape] as [string, number[]]);
  const out: Array<[string | null, number[]]> = [
    ['model.embed_tokens.weight', [h.vocabSize, h.dim]],
    ...perLayer('input_layernorm.weight', [h.dim]),
    ...perLayer('self_attn.q_proj.weight', [h.dim, h.dim]),
    ...perLayer('self_attn.k_proj.weight', [kvDim, h.dim]),
    ...perLayer('self_attn.v_proj.weight', [kvDim, h.dim]),
    ...perLayer('self_attn.o_proj.weight', [h.dim, h.dim]),
    ...perLayer('post_attention_layernorm.weight', [h.dim]),
    ...perLayer('mlp.gate_proj.weight', [h.hiddenDim, h.dim]),
    ...perLayer('mlp.down_proj.weight', [h.dim, h.hiddenDim]),
    ...perLayer('mlp.up_proj.weight', [h.hiddenDim, h.dim]),
    ['model.norm.weight', [h.dim]],
    [null, [h.seqLen, hd / 2]], // freq_cis_real
    [null, [h.seqLen, hd / 2]], // freq_cis_imag
  ];
  if (!h.shared) out.push(['lm_head.weight', [h.vocabSize, h.dim]]);
  return out;
}

export function loadLlama2cModel(path: string): { config: LlamaConfig; weights: HostWeights } {
  if (!existsSync(path)) throw new Error(`model not found: ${path}`);
  return parseLlama2cModel(fileSource(path));
}

/** A llama2.c checkpoint from its bytes (one weight in memory at a time besides the result). */
export function parseLlama2cModel(src: ByteSource): { config: LlamaConfig; weights: HostWeights } {
  const { name: file, path, size } = src;
  if (size < HEADER_BYTES) throw new Error(`${file}: ${size} bytes, too short for the 28-byte llama2.c header (${path})`);
  const hb = new DataView(src.read(0, HEADER_BYTES).buffer);
  const v = Array.from({ length: 7 }, (_, i) => hb.getInt32(4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = v;
  const h: Llama2cHeader = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(rawVocab), seqLen, shared: rawVocab > 0 };
  const desc = `dim=${dim} hidden_dim=${hiddenDim} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKvHeads} vocab_size=${rawVocab} seq_len=${seqLen}`;
  if (v.some((x, i) => (i === 5 ? x === 0 : x <= 0))) throw new Error(`${file}: invalid llama2.c header (${desc}) (${path})`);
  if (dim % nHeads !== 0) throw new Error(`${file}: dim ${dim} is not divisible by n_heads ${nHeads} (${path})`);
  if (nHeads % nKvHeads !== 0) throw new Error(`${file}: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads} (${path})`);
  if ((dim / nHeads) % 2 !== 0) throw new Error(`${file}: head dim ${dim / nHeads} must be even (${path})`);

  const entries = layout(h);
  const floats = entries.reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
  const expected = HEADER_BYTES + 4 * floats;
  if (size !== expected) {
    throw new Error(`${file}: expected ${expected} bytes for ${desc}, got ${size} (${size < expected ? 'truncated' : 'trailing data'}) (${path})`);
  }
  const weights: HostWeights = new Map();
  let pos = HEADER_BYTES;
  for (const [name, shape] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name !== null) weights.set(name, { shape, data: new Float32Array(src.read(pos, 4 * n).buffer) });
    pos += 4 * n;
  }
  const config: LlamaConfig = {
    family: 'llama', vocabSize: h.vocabSize, dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim: dim / nHeads,
    maxSeqLen: seqLen, ropeTheta: 10000, normEps: 1e-5, ropeInterleaved: true, tiedEmbeddings: h.shared,
    attentionBias: false, bosId: 1, eosId: 2, source: 'llama2c', namePath: path,
  };
  return { config, weights };
}

/**
 * Reorders the rows of a q or k projection [nHeads*hd, inF] from llama2.c order (RoPE pairs at rows
 * 2j, 2j+1 of each head) to HF order (rotate-half: pair j at rows j and j+hd/2), as HF's Llama
 * conversion script does. Returns a new array.
 */
export function permuteQKRowsToHF(w: Float32Array, nHeads: number, hd: number, inF: number): Float32Array {
  return permuteRows(w, nHeads, hd, inF, true);
}

/** The inverse of permuteQKRowsToHF: HF row order back to llama2.c's interleaved order. */
export function permuteQKRowsFromHF(w: Float32Array, nHeads: number, hd: number, inF: number): Float32Array {
  return permuteRows(w, nHeads, hd, inF, false);
}

function permuteRows(w: Float32Array, nHeads: number, hd: number, inF: number, toHF: boolean): Float32Array {
  if (w.length !== nHeads * hd * inF) throw new Error(`permuteQKRows: ${w.length} values, expected ${nHeads}*${hd}*${inF}`);
  if (hd % 2 !== 0) throw new Error(`permuteQKRows: head dim ${hd} must be even`);
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (const [hfRow, l2cRow] of [[j, 2 * j], [j + half, 2 * j + 1]]) {
        const hfOff = (h * hd + hfRow) * inF, l2cOff = (h * hd + l2cRow) * inF;
        if (toHF) out.set(w.subarray(l2cOff, l2cOff + inF), hfOff);
        else out.set(w.subarray(hfOff, hfOff + inF), l2cOff);
      }
    }
  }
  return out;
}

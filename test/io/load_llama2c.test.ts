// llama2.c .bin checkpoints: the real stories260K file, a synthetic untied file whose every value
// encodes its own file position, size validation, and the q/k row permutation to HF order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from '../helpers.ts';
import { loadModel } from '../../engine/model/load.ts';
import { loadLlama2cModel, permuteQKRowsFromHF, permuteQKRowsToHF } from '../../engine/model/llama/llama2c.ts';
import { scratchDir } from './tmp.ts';

const dir = scratchDir('l2c');
const STORIES = join(DATA_DIR, 'models/stories260K/stories260K.bin');
const haveStories = existsSync(STORIES);
if (!haveStories) console.log(`(skipping stories260K tests: ${STORIES} not found)`);

function errorOf(fn: () => unknown): string {
  try { fn(); } catch (e) { return (e as Error).message; }
  assert.unreachable('expected an error');
  return '';
}

if (haveStories) {
  test('stories260K.bin: config and tensor shapes', () => {
    const { config, weights } = loadModel(STORIES);
    assert.equal(
      { ...config, namePath: undefined },
      { family: 'llama', vocabSize: 512, dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, maxSeqLen: 512,
        ropeTheta: 10000, normEps: 1e-5, ropeInterleaved: true, tiedEmbeddings: true, attentionBias: false,
        bosId: 1, eosId: 2, source: 'llama2c', namePath: undefined },
    );
    assert.is(config.namePath, STORIES);
    assert.is(weights.has('lm_head.weight'), false);
    assert.equal(weights.get('model.embed_tokens.weight')!.shape, [512, 64]);
    assert.equal(weights.get('model.norm.weight')!.shape, [64]);
    for (let i = 0; i < 5; i++) {
      const s = (n: string) => weights.get(`model.layers.${i}.${n}`)!.shape;
      assert.equal(s('input_layernorm.weight'), [64]);
      assert.equal(s('self_attn.q_proj.weight'), [64, 64]);
      assert.equal(s('self_attn.k_proj.weight'), [32, 64]);
      assert.equal(s('self_attn.v_proj.weight'), [32, 64]);
      assert.equal(s('self_attn.o_proj.weight'), [64, 64]);
      assert.equal(s('post_attention_layernorm.weight'), [64]);
      assert.equal(s('mlp.gate_proj.weight'), [172, 64]);
      assert.equal(s('mlp.up_proj.weight'), [172, 64]);
      assert.equal(s('mlp.down_proj.weight'), [64, 172]);
    }
    assert.is(weights.size, 2 + 5 * 9);
  });

  test('stories260K.bin: data lands where the file has it (embedding first, final norm before the RoPE tables)', () => {
    const { weights } = loadModel(STORIES);
    const raw = readFileSync(STORIES);
    const f32At = (byte: number, n: number) => Array.from({ length: n }, (_, i) => raw.readFloatLE(byte + 4 * i));
    assert.equal([...weights.get('model.embed_tokens.weight')!.data.subarray(0, 16)], f32At(28, 16)); // exact
    // The file ends with freq_cis_real and freq_cis_imag, each [seq=512, hd/2=4]; rms_final is just before.
    const tables = raw.length - 2 * 512 * 4 * 4;
    assert.equal([...weights.get('model.norm.weight')!.data], f32At(tables - 64 * 4, 64)); // exact
    // Those tables hold cos/sin(pos * 10000^(-2i/hd)): checks the layout (and theta) independently.
    for (const pos of [1, 7, 300]) {
      for (let i = 0; i < 4; i++) {
        const angle = pos * 10000 ** (-(2 * i) / 8);
        assert.ok(Math.abs(raw.readFloatLE(tables + 4 * (pos * 4 + i)) - Math.cos(angle)) < 1e-6, 'cos'); // f32 rounding of cos
        assert.ok(Math.abs(raw.readFloatLE(tables + 512 * 16 + 4 * (pos * 4 + i)) - Math.sin(angle)) < 1e-6, 'sin');
      }
    }
  });

  test('stories260K.bin: a truncated or extended copy is rejected with both sizes', () => {
    const raw = readFileSync(STORIES);
    const cut = join(dir, 'stories.bin');
    writeFileSync(cut, raw.subarray(0, raw.length - 100));
    const msg = errorOf(() => loadModel(cut));
    assert.ok(msg.includes(`stories.bin: expected ${raw.length} bytes for dim=64 hidden_dim=172 n_layers=5 n_heads=8 n_kv_heads=4 vocab_size=512 seq_len=512, got ${raw.length - 100}`), msg);
    writeFileSync(cut, Buffer.concat([raw, Buffer.alloc(4)]));
    assert.ok(errorOf(() => loadModel(cut)).includes(`got ${raw.length + 4}`));
  });
}

test('synthetic untied checkpoint: every tensor read from its place in llama2.c order', () => {
  const [dim, hidden, L, nH, nKv, V, seq] = [8, 12, 2, 2, 1, 10, 4];
  const hd = dim / nH, kv = nKv * hd;
  // llama2.c order, written independently of the loader's table.
  const order: Array<[string, number]> = [['tok', V * dim], ['rms_att', L * dim], ['wq', L * dim * dim], ['wk', L * kv * dim],
    ['wv', L * kv * dim], ['wo', L * dim * dim], ['rms_ffn', L * dim], ['w1', L * hidden * dim], ['w2', L * dim * hidden],
    ['w3', L * hidden * dim], ['rms_final', dim], ['freq_real', seq * hd / 2], ['freq_imag', seq * hd / 2], ['wcls', V * dim]];
  const total = order.reduce((s, [, n]) => s + n, 0);
  const start = new Map<string, number>();
  let o = 0;
  for (const [k, n] of order) { start.set(k, o); o += n; }
  const header = Buffer.alloc(28);
  [dim, hidden, L, nH, nKv, -V, seq].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  const body = Float32Array.from({ length: total }, (_, i) => i); // value = float index in the file
  const p = join(dir, 'untied.bin');
  writeFileSync(p, Buffer.concat([header, new Uint8Array(body.buffer)]));

  const { config, weights } = loadLlama2cModel(p);
  assert.is(config.tiedEmbeddings, false);
  assert.is(config.vocabSize, V);
  const first = (name: string) => weights.get(name)!.data[0];
  assert.is(first('model.embed_tokens.weight'), start.get('tok'));
  assert.is(first('lm_head.weight'), start.get('wcls'));
  assert.equal(weights.get('lm_head.weight')!.shape, [V, dim]);
  assert.is(first('model.norm.weight'), start.get('rms_final'));
  const per: Array<[string, string, number]> = [['input_layernorm.weight', 'rms_att', dim], ['self_attn.q_proj.weight', 'wq', dim * dim],
    ['self_attn.k_proj.weight', 'wk', kv * dim], ['self_attn.v_proj.weight', 'wv', kv * dim], ['self_attn.o_proj.weight', 'wo', dim * dim],
    ['post_attention_layernorm.weight', 'rms_ffn', dim], ['mlp.gate_proj.weight', 'w1', hidden * dim],
    ['mlp.down_proj.weight', 'w2', dim * hidden], ['mlp.up_proj.weight', 'w3', hidden * dim]];
  for (let l = 0; l < L; l++) {
    for (const [hf, l2c, n] of per) {
      const t = weights.get(`model.layers.${l}.${hf}`)!;
      assert.is(t.data.length, n, hf);
      assert.is(t.data[0], start.get(l2c)! + l * n, `${hf} layer ${l}`);
      assert.is(t.data[n - 1], start.get(l2c)! + (l + 1) * n - 1, `${hf} layer ${l} end`);
    }
  }
});

test('missing, too short and invalid-header files', () => {
  assert.ok(errorOf(() => loadModel(join(dir, 'absent.bin'))).includes(`model not found: ${join(dir, 'absent.bin')}`));
  const p = join(dir, 'tiny.bin');
  writeFileSync(p, Buffer.alloc(10));
  assert.ok(errorOf(() => loadModel(p)).includes('tiny.bin: 10 bytes, too short'));
  const h = Buffer.alloc(28);
  [64, 172, 5, 8, 3, 512, 512].forEach((v, i) => h.writeInt32LE(v, 4 * i));
  writeFileSync(p, h);
  assert.ok(errorOf(() => loadModel(p)).includes('tiny.bin: n_heads 8 is not a multiple of n_kv_heads 3'));
  [64, 172, 5, 6, 3, 512, 512].forEach((v, i) => h.writeInt32LE(v, 4 * i));
  writeFileSync(p, h);
  assert.ok(errorOf(() => loadModel(p)).includes('tiny.bin: dim 64 is not divisible by n_heads 6'));
  [64, 172, 0, 8, 4, 512, 512].forEach((v, i) => h.writeInt32LE(v, 4 * i));
  writeFileSync(p, h);
  assert.ok(errorOf(() => loadModel(p)).includes('tiny.bin: invalid llama2.c header (dim=64 hidden_dim=172 n_layers=0'));
  const other = join(dir, 'weights.pt');
  writeFileSync(other, 'x');
  assert.ok(errorOf(() => loadModel(other)).includes(`cannot load model ${other}`));
});

test('q/k row permutation llama2.c <-> HF: explicit rows, inverse, and RoPE equivalence', () => {
  // 2 heads of hd 4, one input column: llama2.c rows 0..7 -> HF rows [0,2,1,3 | 4,6,5,7]
  const w = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal([...permuteQKRowsToHF(w, 2, 4, 1)], [0, 2, 1, 3, 4, 6, 5, 7]);
  const nH = 3, hd = 6, inF = 5;
  const x = Float32Array.from({ length: nH * hd * inF }, (_, i) => Math.sin(i * 1.7));
  assert.equal([...permuteQKRowsFromHF(permuteQKRowsToHF(x, nH, hd, inF), nH, hd, inF)], [...x]); // exact
  // Interleaved RoPE on llama2.c-ordered q must equal rotate-half RoPE on HF-ordered q, permuted.
  const input = Array.from({ length: inF }, (_, i) => Math.cos(i + 0.3));
  const matvec = (m: Float32Array) => Array.from({ length: nH * hd }, (_, r) => input.reduce((s, v, c) => s + m[r * inF + c] * v, 0));
  const pos = 5;
  const theta = (i: number) => pos * 10000 ** (-(2 * i) / hd);
  const qL = matvec(x), qH = matvec(permuteQKRowsToHF(x, nH, hd, inF));
  const ropeL = qL.slice(), ropeH = qH.slice();
  for (let h = 0; h < nH; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const c = Math.cos(theta(i)), s = Math.sin(theta(i));
      const a = h * hd + 2 * i, b = a + 1;                  // interleaved pair
      ropeL[a] = qL[a] * c - qL[b] * s; ropeL[b] = qL[a] * s + qL[b] * c;
      const u = h * hd + i, v = u + hd / 2;                  // rotate-half pair
      ropeH[u] = qH[u] * c - qH[v] * s; ropeH[v] = qH[u] * s + qH[v] * c;
    }
  }
  const back = permuteQKRowsFromHF(Float32Array.from(ropeH), nH, hd, 1);
  for (let i = 0; i < ropeL.length; i++) assert.ok(Math.abs(back[i] - ropeL[i]) < 1e-6, `row ${i}`); // f32 storage of f64 values
});

test.run();

// Batched KV-cache generation: prompts of different lengths decoded together give the same tokens
// as each decoded alone (greedy and sampled), per-row EOS stops and position limits hold, and the
// decode primitive's logits are the training forward's. On the golden tiny models (with their
// LoRA adapters: Llama, and Qwen2-style biases), and on stories260K where ../shared/data has it;
// on WASM and on each WebGPU provider where an adapter exists.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../../engine/backend.ts';
import type { CausalLM } from '../../engine/model/causal_lm.ts';
import { generate } from '../../engine/model/generate.ts';
import { makeChunk } from '../../engine/model/kv_cache.ts';
import { loadModel } from '../../engine/model/load.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';
import { DATA_DIR, randInt, relErr, wasmBackend, webgpuProviders, bytesHeld } from '../helpers.ts';
import { FIXTURES, loadGolden } from './golden_fixture.ts';

/** Prompts of lengths `lengths`, each starting with BOS (1), other ids drawn in [3, vocab). */
function prompts(vocab: number, lengths: number[], seed: number): number[][] {
  return lengths.map((n, i) => [1, ...Array.from(randInt(n - 1, seed + i, vocab - 3), (x) => x + 3)]);
}

async function alone(model: CausalLM, ps: number[][], o: { maxNewTokens: number; temperature?: number; seed?: number; stopAtEos?: boolean; eosId?: number }) {
  const out: number[][] = [];
  for (let i = 0; i < ps.length; i++) out.push((await generate(model, [ps[i]], { ...o, seed: (o.seed ?? 0) + i }))[0]);
  return out;
}

const backends: [string, Backend | null][] = [['wasm', await wasmBackend()], ...(await webgpuProviders()).map(({ provider, backend }) => [provider, backend] as [string, Backend])];
for (const [label, be] of backends) {
  if (!be) { console.warn(`generate (${label}): no adapter, not run`); continue; }
  const t = suite(`generate (${label})`);

  for (const fixture of FIXTURES) {
    t(`${fixture}: a batch of prompts decodes to the tokens each gives alone (greedy and sampled), in any grouping`, async () => {
      const before = bytesHeld(be);
      const { model, config } = loadGolden(be, fixture);
      const ps = prompts(config.vocabSize, [5, 1, 9, 3, 7, 2], 40);
      const greedyAlone = await alone(model, ps, { maxNewTokens: 8 });
      assert.ok(greedyAlone.every((o) => o.length === 8));
      for (const batchSize of [6, 4, 1]) {
        assert.equal(await generate(model, ps, { maxNewTokens: 8, batchSize }), greedyAlone, `greedy, batchSize ${batchSize}`);
      }
      const o = { maxNewTokens: 8, temperature: 1.5, seed: 100 };
      const sampledAlone = await alone(model, ps, o);
      assert.equal(await generate(model, ps, { ...o, batchSize: 6 }), sampledAlone, 'sampled: prompt i in the batch draws as prompt i alone with seed + i');
      assert.not.equal(sampledAlone, greedyAlone);
      model.lora!.dispose(); model.dispose();
      assert.is(bytesHeld(be), before, 'every buffer is returned');
    });

    t(`${fixture}: greedy tokens are the argmax of the training forward's logits over prompt + output (teacher forcing)`, async () => {
      const { model, config } = loadGolden(be, fixture);
      const ps = prompts(config.vocabSize, [4, 7, 2], 50);
      const outs = await generate(model, ps, { maxNewTokens: 6 });
      const seqs = ps.map((p, b) => [...p, ...outs[b]]);
      const T = Math.max(...seqs.map((s) => s.length));
      const ids = new Int32Array(seqs.length * T);
      seqs.forEach((s, b) => ids.set(s, b * T));
      const tape = model.forward({ B: seqs.length, T, ids, labels: new Int32Array(ids.length).fill(-100), lengths: Int32Array.from(seqs, (s) => s.length) }, { training: false });
      const logits = await model.logits(tape).toFloat32();
      model.disposeTape(tape);
      const V = config.vocabSize;
      ps.forEach((p, b) => outs[b].forEach((tok, k) => {
        const row = logits.subarray((b * T + p.length - 1 + k) * V, (b * T + p.length + k) * V);
        const best = row.indexOf(Math.max(...row));
        assert.is(tok, best, `prompt ${b}, token ${k}`);
      }));
      model.lora!.dispose(); model.dispose();
    });

    t(`${fixture}: decode's last-token logits equal the training forward's (rel 1e-5), prompt chunk then single tokens`, async () => {
      const { model, config } = loadGolden(be, fixture);
      const ps = prompts(config.vocabSize, [6, 3], 60);
      const T = 6, B = 2, V = config.vocabSize;
      const ids = new Int32Array(B * T);
      ps.forEach((p, b) => ids.set(p, b * T));
      const tape = model.forward({ B, T, ids, labels: new Int32Array(B * T).fill(-100), lengths: Int32Array.of(6, 3) }, { training: false });
      const full = await model.logits(tape).toFloat32();
      model.disposeTape(tape);
      const want = (b: number, t: number) => full.subarray((b * T + t) * V, (b * T + t + 1) * V);
      const cache = model.createKVCache(B, 8);
      // prompt 0's first 4 tokens and prompt 1's first 2, as one chunk from position 0
      const run = async (ids: Int32Array, T: number, start: Int32Array, lengths: Int32Array) => {
        const chunk = makeChunk(cache, ids, T, start, lengths);
        const logits = model.decode(cache, chunk);
        const out = await logits.toFloat32();
        logits.dispose(); chunk.dispose();
        return out;
      };
      let got = await run(Int32Array.of(...ps[0].slice(0, 4), ...ps[1].slice(0, 2), 0, 0), 4, Int32Array.of(0, 0), Int32Array.of(4, 2));
      assert.ok(relErr(got.subarray(0, V), want(0, 3)) <= 1e-5, `chunk, row 0: ${relErr(got.subarray(0, V), want(0, 3))}`);
      assert.ok(relErr(got.subarray(V), want(1, 1)) <= 1e-5, `chunk, row 1: ${relErr(got.subarray(V), want(1, 1))}`);
      // then one token each at different positions (4 and 2)
      got = await run(Int32Array.of(ps[0][4], ps[1][2]), 1, Int32Array.of(4, 2), Int32Array.of(1, 1));
      assert.ok(relErr(got.subarray(0, V), want(0, 4)) <= 1e-5, `step, row 0: ${relErr(got.subarray(0, V), want(0, 4))}`);
      assert.ok(relErr(got.subarray(V), want(1, 2)) <= 1e-5, `step, row 1: ${relErr(got.subarray(V), want(1, 2))}`);
      cache.dispose();
      model.lora!.dispose(); model.dispose();
    });
  }

  t('per-row stop at EOS, and the position limit, each row on its own', async () => {
    const { model, config } = loadGolden(be, 'golden');
    const ps = prompts(config.vocabSize, [3, 6, 2, 5], 70);
    const free = await alone(model, ps, { maxNewTokens: 10 });
    // an "EOS" that row 0 emits as its 3rd token: each row must stop right after its first one
    const eosId = free[0][2];
    const stopped = await generate(model, ps, { maxNewTokens: 10, stopAtEos: true, eosId });
    free.forEach((f, b) => {
      const k = f.indexOf(eosId);
      assert.equal(stopped[b], k < 0 ? f : f.slice(0, k + 1), `row ${b}`);
    });
    assert.ok(stopped[0].length <= 3);
    assert.ok(stopped.some((s) => s.length === 10), 'some row runs to maxNewTokens while others stop');
    // the model has 64 positions: a 60-token prompt gets 4 new tokens, batched beside short ones
    const long = prompts(config.vocabSize, [60, 2], 80);
    const lim = await generate(model, long, { maxNewTokens: 10 });
    assert.equal(lim.map((o) => o.length), [4, 10]);
    assert.equal(lim, await alone(model, long, { maxNewTokens: 10 }));
    const rejects = (p: Promise<unknown>, re: RegExp) => p.then(() => assert.unreachable('accepted'), (e: Error) => assert.match(e.message, re));
    await rejects(generate(model, [Array(65).fill(3)], { maxNewTokens: 1 }), /beyond the model's 64 positions/);
    await rejects(generate(model, [[1, 999]], { maxNewTokens: 1 }), /token id 999, outside the vocabulary/);
    model.lora!.dispose(); model.dispose();
  });

  t('a chunk is checked against its cache: capacity, lengths, and one token per sequence where starts differ', () => {
    const { model } = loadGolden(be, 'golden');
    const before = bytesHeld(be);
    const cache = model.createKVCache(2, 4);
    assert.throws(() => makeChunk(cache, new Int32Array(4), 2, Int32Array.of(0, 1), Int32Array.of(2, 2)), /different positions must come one token at a time/);
    assert.throws(() => makeChunk(cache, new Int32Array(2), 1, Int32Array.of(4, 0), Int32Array.of(1, 1)), /sequence 0 puts 1 tokens at positions 4\.\. in a cache of 4/);
    assert.throws(() => makeChunk(cache, new Int32Array(2), 1, Int32Array.of(0, 0), Int32Array.of(2, 1)), /sequence 0 puts 2 tokens/);
    assert.throws(() => makeChunk(cache, new Int32Array(3), 1, Int32Array.of(0, 0), Int32Array.of(1, 1)), /3 ids/);
    assert.throws(() => model.createKVCache(1, 65), /exceeds the model's 64 positions/);
    cache.dispose();
    assert.is(bytesHeld(be), before);
    model.lora!.dispose(); model.dispose();
  });

  const MODEL = join(DATA_DIR, 'models', 'stories260K', 'stories260K.bin');
  const TOKENIZER = join(DATA_DIR, 'models', 'stories260K', 'tok512.bin');
  if (existsSync(MODEL) && existsSync(TOKENIZER)) {
    t('stories260K: story openings decoded as one batch give the tokens each gives alone (greedy, 30 tokens)', async () => {
      const { config, weights } = loadModel(MODEL);
      const tok = loadTokenizer(TOKENIZER);
      const model = buildModel(be as Backend, config, weights);
      const ps = ['Once upon a time', 'Tom had a', 'The sun', 'One day, a little bird named', 'Lily'].map((s) => tok.encode(s, { bos: true }));
      const one = await alone(model, ps, { maxNewTokens: 30 });
      assert.equal(await generate(model, ps, { maxNewTokens: 30 }), one);
      const text = tok.decode([...ps[0], ...one[0]]);
      assert.ok(text.startsWith('Once upon a time'), text);
      model.dispose();
    });
  } else {
    console.warn(`generate: ${MODEL} not found: stories260K batch check not run`);
  }
  t.run();
}

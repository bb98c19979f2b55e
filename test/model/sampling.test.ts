// Host-side token choice in engine/model/generate.ts: nucleus (top-p) sampling against its
// definition (which tokens can be drawn, with what frequencies; topP 1 draws as plain sampling
// always did), and generate()'s per-step callback (each prompt's tokens, in order, as they come)
// and its stop signal, on the golden tiny Llama with its adapter (WASM).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, sample, type NewToken } from '../../engine/model/generate.ts';
import { Rng } from '../../engine/random.ts';
import { randInt, wasmBackend } from '../helpers.ts';
import { loadGolden } from './golden_fixture.ts';

/** Probabilities softmax(logits / temperature), in f64. */
function softmax(logits: number[], temperature: number): number[] {
  const m = Math.max(...logits), e = logits.map((v) => Math.exp((v - m) / temperature)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const LOGITS = Float32Array.from([0.5, 2.0, -1.0, 1.2, 2.0, 0.0, -3.0, 1.9]);

test('topP 1: the inverse CDF over every token in id order (the draws plain sampling made)', () => {
  const p = softmax([...LOGITS], 0.7);
  const rng = new Rng(5), ref = new Rng(5);
  for (let n = 0; n < 500; n++) {
    let r = ref.next(), want = p.length - 1;
    for (let i = 0; i < p.length; i++) { r -= p[i]; if (r <= 0) { want = i; break; } }
    assert.is(sample(LOGITS, 0.7, 1, rng), want, `draw ${n}`);
  }
});

test('topP: only the nucleus is drawn, with renormalized frequencies (20000 draws, within 4 sigma)', () => {
  const T = 1.0, p = softmax([...LOGITS], T);
  // ids by probability: 1 and 4 tie (lower id first), then 7, 3, 0, 5, 2, 6
  const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b);
  assert.equal(order.slice(0, 4), [1, 4, 7, 3]);
  for (const topP of [0.05, p[1] + p[4] - 1e-9, p[1] + p[4] + p[7] - 1e-9, 0.999]) {
    // the nucleus: the most probable tokens up to and including the one that reaches topP
    const nucleus: number[] = [];
    let mass = 0;
    for (const i of order) { if (nucleus.length > 0 && mass >= topP) break; nucleus.push(i); mass += p[i]; }
    const counts = new Map<number, number>();
    const rng = new Rng(77), N = 20000;
    for (let n = 0; n < N; n++) { const t = sample(LOGITS, T, topP, rng); counts.set(t, (counts.get(t) ?? 0) + 1); }
    assert.equal([...counts.keys()].sort(), [...nucleus].sort(), `topP ${topP}: the tokens drawn`);
    for (const i of nucleus) {
      const q = p[i] / mass, sd = Math.sqrt(q * (1 - q) / N);
      assert.ok(Math.abs(counts.get(i)! / N - q) <= 4 * sd + 1e-12, `topP ${topP}, token ${i}: ${counts.get(i)! / N} vs ${q}`);
    }
  }
  // a nucleus of one token is greedy (the tie goes to the lower id, as argmax)
  const rng = new Rng(1);
  for (let n = 0; n < 50; n++) assert.is(sample(LOGITS, 2, 1e-6, rng), 1);
});

const be = await wasmBackend();

test('generate: topP is checked; sampled with topP, a batch draws as each prompt alone, and a small topP is greedy', async () => {
  const { model, config } = loadGolden(be, 'golden');
  const ps = [5, 2, 8].map((n, i) => [1, ...Array.from(randInt(n - 1, 30 + i, config.vocabSize - 3), (x) => x + 3)]);
  for (const topP of [0, -1, 1.5, NaN]) {
    await generate(model, ps, { maxNewTokens: 2, temperature: 1, topP }).then(() => assert.unreachable(`topP ${topP}`), (e: Error) => assert.match(e.message, /topP must be in \(0, 1\]/));
  }
  const o = { maxNewTokens: 10, temperature: 1.3, topP: 0.8, seed: 9 };
  const batch = await generate(model, ps, o);
  for (let i = 0; i < ps.length; i++) assert.equal((await generate(model, [ps[i]], { ...o, seed: o.seed + i }))[0], batch[i], `prompt ${i}`);
  assert.equal(await generate(model, ps, o), batch, 'same seed, same tokens');
  assert.not.equal(await generate(model, ps, { ...o, topP: 1 }), batch, 'the nucleus changes the draws');
  assert.equal(await generate(model, ps, { ...o, topP: 1e-7 }), await generate(model, ps, { maxNewTokens: 10 }), 'a one-token nucleus is greedy');
  model.lora!.dispose(); model.dispose();
});

test('generate: onTokens gets each unfinished prompt\'s new token per step, in prompt order within a step, the last one flagged', async () => {
  const { model, config } = loadGolden(be, 'golden');
  const ps = [3, 7, 1, 4, 6].map((n, i) => [1, ...Array.from(randInt(n - 1, 50 + i, config.vocabSize - 3), (x) => x + 3)]);
  // two groups of two and one, sampled, stopping at EOS where a row draws it
  const steps: NewToken[][] = [];
  const out = await generate(model, ps, { maxNewTokens: 6, batchSize: 2, temperature: 1, seed: 3, stopAtEos: true, onTokens: (t) => { steps.push([...t]); } });
  const seen = ps.map(() => [] as number[]);
  for (const step of steps) {
    const rows = step.map((t) => t.prompt);
    assert.equal(new Set(rows).size, rows.length, 'one token per prompt per step');
    for (const t of step) {
      seen[t.prompt].push(t.token);
      assert.is(t.last, seen[t.prompt].length === out[t.prompt].length, `prompt ${t.prompt}: last flag`);
    }
  }
  assert.equal(seen, out, 'the streamed tokens are the returned ones');
  model.lora!.dispose(); model.dispose();
});

test('generate: an aborted signal stops after the current step; groups not started get no tokens', async () => {
  const { model, config } = loadGolden(be, 'golden');
  const ps = [4, 4, 4].map((n, i) => [1, ...Array.from(randInt(n - 1, 70 + i, config.vocabSize - 3), (x) => x + 3)]);
  const full = await generate(model, ps, { maxNewTokens: 8, batchSize: 2 });
  const ctl = new AbortController();
  let steps = 0;
  const out = await generate(model, ps, { maxNewTokens: 8, batchSize: 2, signal: ctl.signal, onTokens: () => { if (++steps === 3) ctl.abort(); } });
  // prompts 0 and 1 (the first group) stop after 3 tokens, a prefix of the full run; prompt 2 never started
  assert.equal(out, [full[0].slice(0, 3), full[1].slice(0, 3), []]);
  model.lora!.dispose(); model.dispose();
});

test.run();

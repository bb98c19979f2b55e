// Rows 'loss' (engine/model/rows.ts): the forward computes only what can reach the loss. Its plan
// on small batches, then the whole model of each family (Llama, OPT with project_in/out): the
// loss, every LoRA gradient and every attention-output gradient of rows 'loss' against rows 'all'
// on padded batches with prompt masking (rel 1e-6), with and without dropout, q/k/v bias and a
// Vaccine pass; all with the arena poisoning every buffer it hands out (NaN), so that a read of
// something not written first shows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Arena } from '../../engine/arena.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import { planRows, scatterRows } from '../../engine/model/rows.ts';
import { Tensor } from '../../engine/tensor.ts';
import { passSeed, vaccineStep } from '../../engine/vaccine.ts';
import type { CausalLM } from '../../engine/model/causal_lm.ts';
import { randomBatch, randomLora, readGrads, tinyConfig, tinyModel, tinyOPTConfig, tinyOPTModel } from '../align/helpers_align.ts';
import { bytesHeld, relErr, wasmBackend } from '../helpers.ts';

const be = await wasmBackend();
const I = -100;

test('planRows: rows up to each sequence\'s last label, attention layout, head rows; no label falls back to all', () => {
  // B 3, T 5. Labels are unshifted: row t's label is labels[t + 1].
  const batch: Batch = {
    B: 3, T: 5,
    ids: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 9, 10, 11, 12, 13]),
    labels: Int32Array.from([I, I, 3, 4, I, I, 7, I, I, I, I, I, I, I, 13]),
    lengths: Int32Array.from([5, 3, 5]),
  };
  const p = planRows(batch, 'loss');
  // sequence 0: labels at rows 1, 2 -> reach 3; sequence 1: row 0 -> reach 1; sequence 2: row 3 -> reach 4
  assert.is(p.mode, 'loss');
  assert.is(p.n, 8);
  assert.equal(Array.from(p.index!), [0, 1, 2, 5, 10, 11, 12, 13]);
  assert.equal(Array.from(p.ids), [1, 2, 3, 6, 9, 10, 11, 12]);
  assert.equal(Array.from(p.positions), [0, 1, 2, 0, 0, 1, 2, 3]);
  assert.is(p.tAtt, 4);
  assert.equal(Array.from(p.attIndex!), [0, 1, 2, 4, 8, 9, 10, 11]);
  assert.equal(Array.from(p.keyLen), [3, 1, 4]);
  assert.equal(Array.from(p.headRows!), [1, 2, 3, 7]);
  assert.equal(Array.from(p.labels), [3, 4, 7, 13]);
  assert.is(p.count, 4);

  const all = planRows(batch, 'all');
  assert.is(all.n, 15);
  assert.is(all.index, null);
  assert.is(all.headRows, null);
  assert.is(all.count, 4);
  assert.equal(Array.from(all.labels), [I, 3, 4, I, I, 7, I, I, I, I, I, I, I, 13, I]);

  const none = planRows({ ...batch, labels: new Int32Array(15).fill(I) }, 'loss');
  assert.is(none.mode, 'all');
  assert.is(none.n, 15);
  assert.is(none.count, 0);
});

/** The model under test: Llama (GQA; q/k/v bias or not) or OPT (biases everywhere, project_in/out). */
function makeModel(family: 'llama' | 'opt', bias: boolean): CausalLM {
  return family === 'opt' ? tinyOPTModel(be, tinyOPTConfig()) : tinyModel(be, tinyConfig({ attentionBias: bias, nHeads: 4, nKvHeads: 2, headDim: 4 }));
}

/** Loss, LoRA grads and attention-output grads (spread over every position) of one forward + backward. */
async function pass(batch: Batch, rows: 'all' | 'loss', dropout: number, bias: boolean, perturb: (n: number) => Tensor[] | undefined,
  family: 'llama' | 'opt' = 'llama') {
  const model = makeModel(family, bias);
  const config = model.config;
  model.lora = randomLora(be, config, 4, 8, dropout);
  model.lora.zeroGrad();
  const plan = planRows(batch, rows);
  const e = perturb(plan.n);
  const tape = model.forward(batch, { rows, training: true, dropoutSeed: 99, perturbations: e });
  const loss = await model.loss(tape);
  const g = model.backward(tape, { attnOutGrads: true }).attnOutGrads!;
  const full: Float32Array[] = [];
  for (const t of g) { const f = scatterRows(be, tape.rows, t); full.push(await f.toFloat32()); f.dispose(); t.dispose(); }
  model.disposeTape(tape);
  const grads = await readGrads(model.lora);
  e?.forEach((t) => t.dispose());
  model.lora.dispose(); model.dispose();
  return { loss, grads, attnGrads: full };
}

const flat = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));

test('rows loss = rows all on padded, prompt-masked batches: loss, LoRA grads, attention-output grads (rel 1e-6)', async () => {
  const arena = Arena.of(be);
  arena.poison = true;
  try {
    const cfg = tinyConfig();
    // sequences of different reach (scatter into attention's layout), a labelled row count below
    // n (head rows), and one batch whose last labels stop short of the sequence's end
    const b1 = randomBatch(cfg, 3, 11, [11, 7, 4], 2);
    const b2 = randomBatch(cfg, 2, 9, [9, 9], 3);
    b2.labels[7] = b2.labels[8] = I; // sequence 0 ends labelled at 6, sequence 1 at 8
    const b3 = randomBatch(cfg, 2, 6, [6, 6], 0); // every row labelled but the last: same layout
    for (const batch of [b1, b2, b3]) {
      for (const dropout of [0, 0.2]) {
        for (const [family, bias] of [['llama', false], ['llama', true], ['opt', true]] as const) {
          const what = `${family} B ${batch.B} T ${batch.T} dropout ${dropout} bias ${bias}`;
          const a = await pass(batch, 'all', dropout, bias, () => undefined, family);
          const l = await pass(batch, 'loss', dropout, bias, () => undefined, family);
          assert.ok(Math.abs(l.loss - a.loss) <= 1e-6 * Math.abs(a.loss), `${what}: loss ${l.loss} vs ${a.loss}`);
          const eg = relErr(flat(l.grads), flat(a.grads));
          assert.ok(eg <= 1e-6, `${what}: LoRA grads rel err ${eg}`);
          const ea = relErr(flat(l.attnGrads), flat(a.attnGrads));
          assert.ok(ea <= 1e-6, `${what}: attention-output grads rel err ${ea}`);
          assert.ok(flat(a.grads).some((x) => x !== 0), 'grads are not all zero');
        }
      }
    }
  } finally { arena.poison = false; }
});

test('a perturbed forward: rows loss with the perturbation at its rows = rows all with it everywhere (rel 1e-6)', async () => {
  const cfg = tinyConfig();
  const batch = randomBatch(cfg, 3, 10, [10, 6, 3], 2);
  const plan = planRows(batch, 'loss');
  const dim = cfg.dim;
  const noise = (l: number) => Float32Array.from({ length: batch.B * batch.T * dim }, (_, i) => Math.sin(i * 0.37 + l));
  const a = await pass(batch, 'all', 0.1, false, () => [0, 1].map((l) => Tensor.from(be, [batch.B * batch.T, dim], noise(l))));
  const l = await pass(batch, 'loss', 0.1, false, (n) => [0, 1].map((k) => {
    const full = noise(k), rows = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) rows.set(full.subarray(plan.index![i] * dim, (plan.index![i] + 1) * dim), i * dim);
    return Tensor.from(be, [n, dim], rows);
  }));
  assert.ok(Math.abs(l.loss - a.loss) <= 1e-6 * Math.abs(a.loss), `loss ${l.loss} vs ${a.loss}`);
  assert.ok(relErr(flat(l.grads), flat(a.grads)) <= 1e-6, 'LoRA grads');
});

for (const family of ['llama', 'opt'] as const) test(`${family}: a Vaccine step (rows loss) equals one assembled by hand with rows all (rel 1e-6); no buffer left behind`, async () => {
  const model = makeModel(family, false);
  const cfg = model.config;
  const batch = randomBatch(cfg, 3, 9, [9, 6, 4], 2);
  model.lora = randomLora(be, cfg, 4, 8, 0.2);
  const before = bytesHeld(be);
  model.lora.zeroGrad();
  const res = await vaccineStep(model, batch, { rho: 2, dropoutSeed: 5 });
  const got = await readGrads(model.lora);
  model.lora.zeroGrad();
  const t1 = model.forward(batch, { rows: 'all', dropoutSeed: passSeed(5, 1) });
  const g = model.backward(t1, { loraGrads: false, attnOutGrads: true }).attnOutGrads!;
  const loss1 = await model.loss(t1);
  model.disposeTape(t1);
  let sq = 0;
  for (const t of g) for (const x of await t.toFloat32()) sq += x * x;
  const e = [];
  for (const t of g) e.push(Tensor.from(be, t.shape, (await t.toFloat32()).map((x) => x * 2 / (Math.sqrt(sq) + 1e-7))));
  const t2 = model.forward(batch, { rows: 'all', dropoutSeed: passSeed(5, 2), perturbations: e });
  const loss2 = await model.loss(t2);
  model.backward(t2);
  model.disposeTape(t2);
  const want = await readGrads(model.lora);
  for (const t of [...g, ...e]) t.dispose();
  assert.ok(Math.abs(res.loss - loss1) <= 1e-6 * loss1, `pass-1 loss ${res.loss} vs ${loss1}`);
  assert.ok(Math.abs(res.perturbedLoss! - loss2) <= 1e-6 * loss2, `pass-2 loss ${res.perturbedLoss} vs ${loss2}`);
  assert.ok(Math.abs(res.gradNorm! - Math.sqrt(sq)) <= 1e-6 * Math.sqrt(sq), 'grad norm');
  const err = relErr(flat(got), flat(want));
  assert.ok(err <= 1e-6, `LoRA grads rel err ${err}`);
  assert.is(bytesHeld(be), before, 'no buffer left behind');
  model.lora.dispose(); model.dispose();
});

for (const family of ['llama', 'opt'] as const) test(`${family}: rows loss refuses logits, attention outputs, hidden states and a second backward`, () => {
  const model = makeModel(family, false);
  const tape = model.forward(randomBatch(model.config, 2, 6, [6, 4], 2), { rows: 'loss' });
  assert.throws(() => model.logits(tape), /rows 'loss'/);
  assert.throws(() => model.attnOutputs(tape), /rows 'loss'/);
  assert.throws(() => model.hiddenStates(tape), /rows 'loss'/);
  model.backward(tape);
  assert.throws(() => model.backward(tape), /has run/);
  model.disposeTape(tape);
  model.dispose();
});

test.run();

// The trainer's loop (engine/jobs/trainer.ts trainLoop) with a toy step function and no model:
// micro-batch k pulls two parameter vectors toward targets t_k (loss 0.5 ||p - t_k||^2, gradient
// p - t_k). Followed by hand in f64: accumulation averages the micro-batch gradients, clipping
// scales them to the max norm, the schedule sets each step's lr, SGD steps; and the metrics, the
// seeds handed to the step, the epoch and a resumed start all come out as documented.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Batch } from '../../engine/model/causal_lm.ts';
import { createOptimizer, lrLambda, type Param } from '../../engine/optim.ts';
import { mixSeed } from '../../engine/random.ts';
import { Tensor } from '../../engine/tensor.ts';
import { totalStepsFor, trainLoop, warmupFor, type StepContext, type StepMetrics } from '../../engine/jobs/trainer.ts';
import { relErr, wasmBackend } from '../helpers.ts';

const be = await wasmBackend();
const SIZES = [3, 2];
const P0 = [[0.5, -1, 2], [1.5, 0.25]];
/** the targets of micro-batch k, per parameter tensor */
const target = (k: number) => SIZES.map((n, i) => Array.from({ length: n }, (_, j) => Math.sin(k + 2 * i + j) * 2));
const BATCHES_PER_EPOCH = 3;
const batchOf = (k: number): Batch => ({ B: 1, T: 2 + (k % 2), ids: new Int32Array(2 + (k % 2)), labels: new Int32Array(2 + (k % 2)), lengths: Int32Array.from([2 + (k % 2)]) });

interface Run { params: Param[]; metrics: StepMetrics[]; ctxs: StepContext[]; final: number[][] }

async function run(o: { steps: number; accum: number; maxGradNorm: number; lr: number; scheduler: 'cosine' | 'constant'; startStep?: number; start?: number[][] }): Promise<Run> {
  const params: Param[] = (o.start ?? P0).map((v) => ({ p: Tensor.from(be, [v.length], Float32Array.from(v)), g: Tensor.zeros(be, [v.length]) }));
  const optimizer = createOptimizer('sgd', be, params, 0);
  const ctxs: StepContext[] = [];
  const seen: number[] = [];
  const warmup = warmupFor({ scheduler: o.scheduler, warmupRatio: 0.5 }, o.steps);
  const metrics = await trainLoop({
    backend: be, params, optimizer, lr: o.lr, scheduler: o.scheduler, warmup, gradAccum: o.accum, maxGradNorm: o.maxGradNorm,
    seed: 7, startStep: o.startStep ?? 0, totalSteps: o.steps,
    microBatch: (k) => ({ batch: batchOf(k), epoch: Math.floor(k / BATCHES_PER_EPOCH) + (k % BATCHES_PER_EPOCH + 1) / BATCHES_PER_EPOCH }),
    step: async (_batch, ctx) => {
      ctxs.push(ctx);
      const t = target(ctx.microBatch);
      let loss = 0;
      for (let i = 0; i < params.length; i++) {
        const p = await params[i].p.toFloat32(), g = await params[i].g.toFloat32();
        for (let j = 0; j < p.length; j++) { g[j] += p[j] - t[i][j]; loss += 0.5 * (p[j] - t[i][j]) ** 2; }
        be.write(params[i].g.buf, g);
      }
      return { loss, perturbedLoss: 2 * loss, gradNorm: null };
    },
    onStep: async (m) => { await new Promise((r) => setTimeout(r, 1)); seen.push(m.step); },
  });
  assert.equal(seen, metrics.map((m) => m.step), 'onStep once per step, in order, awaited');
  const final: number[][] = [];
  for (const q of params) final.push(Array.from(await q.p.toFloat32()));
  return { params, metrics, ctxs, final };
}

/** The same run in f64 on the host. */
function byHand(o: { steps: number; accum: number; maxGradNorm: number; lr: number; scheduler: 'cosine' | 'constant' }) {
  const p = P0.map((v) => [...v]);
  const warmup = warmupFor({ scheduler: o.scheduler, warmupRatio: 0.5 }, o.steps);
  const out: { lr: number; loss: number; norm: number }[] = [];
  for (let k = 0; k < o.steps; k++) {
    const g = p.map((v) => v.map(() => 0));
    let loss = 0;
    for (let a = 0; a < o.accum; a++) {
      const t = target(k * o.accum + a);
      p.forEach((v, i) => v.forEach((x, j) => { g[i][j] += (x - t[i][j]) / o.accum; loss += 0.5 * (x - t[i][j]) ** 2 / o.accum; }));
    }
    const norm = Math.sqrt(g.flat().reduce((s, x) => s + x * x, 0));
    const coef = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (norm + 1e-6)) : 1;
    const lr = o.lr * lrLambda(o.scheduler, k, warmup, o.steps);
    p.forEach((v, i) => v.forEach((_, j) => { v[j] -= lr * coef * g[i][j]; }));
    out.push({ lr, loss, norm });
  }
  return { p, steps: out };
}

test('accumulation, clipping and the schedule: the parameters and metrics follow the hand computation (rel 1e-5)', async () => {
  for (const o of [
    { steps: 4, accum: 1, maxGradNorm: 0, lr: 0.3, scheduler: 'constant' as const },
    { steps: 4, accum: 3, maxGradNorm: 0, lr: 0.3, scheduler: 'cosine' as const },
    { steps: 5, accum: 2, maxGradNorm: 0.5, lr: 0.4, scheduler: 'cosine' as const }, // clips: the norms are ~2-4
  ]) {
    const r = await run(o);
    const want = byHand(o);
    const what = JSON.stringify(o);
    assert.ok(relErr(r.final.flat(), want.p.flat()) < 1e-5, `${what}: parameters ${r.final} vs ${want.p}`);
    assert.is(r.metrics.length, o.steps);
    r.metrics.forEach((m, k) => {
      assert.is(m.step, k + 1);
      assert.is(m.lr, want.steps[k].lr, `${what}: lr of step ${k + 1}`);
      assert.ok(Math.abs(m.loss - want.steps[k].loss) <= 1e-5 * want.steps[k].loss, `${what}: loss ${m.loss} vs ${want.steps[k].loss}`);
      assert.ok(Math.abs(m.perturbed_loss! - 2 * m.loss) <= 1e-12 * m.loss, 'perturbed loss averaged like the loss');
      assert.is(m.grad_norm, null, 'a step without a perturbation norm logs null');
      assert.ok(Math.abs(m.lora_grad_norm - want.steps[k].norm) <= 1e-5 * want.steps[k].norm, `${what}: norm before clipping`);
      // tokens: the batches' lengths (2 or 3, alternating) over the step's micro-batches
      let tokens = 0;
      for (let a = 0; a < o.accum; a++) tokens += 2 + ((k * o.accum + a) % 2);
      assert.is(m.tokens, tokens);
      const last = k * o.accum + o.accum - 1;
      assert.ok(Math.abs(m.epoch - (Math.floor(last / 3) + (last % 3 + 1) / 3)) < 1e-6, 'epoch at the step\'s last micro-batch');
    });
    if (o.maxGradNorm > 0) assert.ok(want.steps.some((s) => s.norm > o.maxGradNorm), 'the clipping case clips');
    // each micro-batch is told its global index and its dropout seed
    assert.equal(r.ctxs.map((c) => c.microBatch), Array.from({ length: o.steps * o.accum }, (_, i) => i));
    assert.ok(r.ctxs.every((c) => c.dropoutSeed === mixSeed(7, c.microBatch, 0xd5) && c.seed === 7));
    for (const q of r.params) { q.p.dispose(); q.g.dispose(); }
  }
});

test('a resumed loop (startStep) runs only the remaining steps and reaches the uninterrupted result', async () => {
  const o = { steps: 5, accum: 2, maxGradNorm: 0.5, lr: 0.4, scheduler: 'cosine' as const };
  const full = await run(o);
  const resumed = await run({ ...o, startStep: 3, start: await killedAfter(o, 3) });
  assert.equal(resumed.metrics.map((m) => m.step), [4, 5]);
  assert.equal(resumed.ctxs.map((c) => c.microBatch), [6, 7, 8, 9]);
  assert.ok(relErr(resumed.final.flat(), full.final.flat()) < 1e-6, `resumed ${resumed.final} vs full ${full.final}`);
  for (const r of [full, resumed]) for (const q of r.params) { q.p.dispose(); q.g.dispose(); }
});

/** The parameters of a run of o.steps stopped (by an error thrown from onStep) after step n. */
async function killedAfter(o: { steps: number; accum: number; maxGradNorm: number; lr: number; scheduler: 'cosine' }, n: number): Promise<number[][]> {
  const params: Param[] = P0.map((v) => ({ p: Tensor.from(be, [v.length], Float32Array.from(v)), g: Tensor.zeros(be, [v.length]) }));
  const optimizer = createOptimizer('sgd', be, params, 0);
  const STOP = new Error('stop');
  const err = await trainLoop({
    backend: be, params, optimizer, lr: o.lr, scheduler: o.scheduler, warmup: warmupFor({ scheduler: o.scheduler, warmupRatio: 0.5 }, o.steps),
    gradAccum: o.accum, maxGradNorm: o.maxGradNorm, seed: 7, startStep: 0, totalSteps: o.steps,
    microBatch: (mb) => ({ batch: batchOf(mb), epoch: 0 }),
    step: async (_b, ctx) => {
      const t = target(ctx.microBatch);
      for (let i = 0; i < params.length; i++) {
        const p = await params[i].p.toFloat32(), g = await params[i].g.toFloat32();
        for (let j = 0; j < p.length; j++) g[j] += p[j] - t[i][j];
        be.write(params[i].g.buf, g);
      }
      return { loss: 0, perturbedLoss: null, gradNorm: null };
    },
    onStep: (m) => { if (m.step === n) throw STOP; },
  }).then(() => null, (e) => e);
  assert.is(err, STOP);
  const out: number[][] = [];
  for (const q of params) { out.push(Array.from(await q.p.toFloat32())); q.p.dispose(); q.g.dispose(); }
  return out;
}

test('totalStepsFor counts as HF Trainer; warmupFor gives the constant schedule none', () => {
  assert.is(totalStepsFor({ maxSteps: null, epochs: 2, gradAccum: 2 }, 7), 6); // floor(7/2) = 3 per epoch
  assert.is(totalStepsFor({ maxSteps: null, epochs: 1.5, gradAccum: 4 }, 2), 2); // at least 1 per epoch: ceil(1.5)
  assert.is(totalStepsFor({ maxSteps: 9, epochs: 1, gradAccum: 1 }, 100), 9);
  assert.is(warmupFor({ scheduler: 'cosine', warmupRatio: 0.1 }, 25), 3);
  assert.is(warmupFor({ scheduler: 'constant', warmupRatio: 0.5 }, 25), 0);
});

test.run();

// The trainer's loop on non-finite values and interrupts, with a toy step (no model): micro-batch k
// pulls the parameters toward targets, and chosen micro-batches inject a NaN or Inf into the loss
// or a gradient. Checks: --on-nonfinite stop throws NonFiniteError naming the step and the first
// tensor, before the optimizer touches the weights; skip drops exactly that step's update and
// counts it; ten skips in a row, or non-finite weights after an update, stop in either mode;
// an aborted signal ends the loop after the step it is in; metrics lines never hold null for a
// non-finite number.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { metricsJson, NonFiniteError } from '../../engine/jobs/finite.ts';
import { MAX_SKIPS_IN_A_ROW, trainLoop, type LoopOptions, type StepMetrics } from '../../engine/jobs/trainer.ts';
import type { Batch } from '../../engine/model/causal_lm.ts';
import { createOptimizer, type Param } from '../../engine/optim.ts';
import { Tensor } from '../../engine/tensor.ts';
import { wasmBackend } from '../helpers.ts';

const be = await wasmBackend();
const P0 = [[0.5, -1, 2], [1.5, 0.25]];
const NAMES = ['layers.0.q_proj.lora_A', 'layers.0.q_proj.lora_B'];
const batch: Batch = { B: 1, T: 2, ids: new Int32Array(2), labels: new Int32Array(2), lengths: Int32Array.from([2]) };

type Inject = { loss?: number; grad?: { param: number; index: number; value: number } };

/** Runs the toy loop; `inject(mb)` says what micro-batch mb corrupts. Returns the params after each step (host copies). */
async function toy(o: { steps: number; lr?: number; inject?: (mb: number) => Inject | null } & Partial<LoopOptions>) {
  const params: Param[] = P0.map((v) => ({ p: Tensor.from(be, [v.length], Float32Array.from(v)), g: Tensor.zeros(be, [v.length]) }));
  const optimizer = createOptimizer('sgd', be, params, 0);
  const after: number[][][] = [];
  const lines: StepMetrics[] = [];
  const stopped: StepMetrics[] = [];
  const snapshot = async () => { const s: number[][] = []; for (const q of params) s.push(Array.from(await q.p.toFloat32())); return s; };
  const before = await snapshot();
  let error: unknown = null;
  try {
    await trainLoop({
      backend: be, params, names: NAMES, optimizer, lr: o.lr ?? 0.1, scheduler: 'constant', warmup: 0, gradAccum: o.gradAccum ?? 1,
      maxGradNorm: 0, seed: 1, startStep: 0, totalSteps: o.steps, onNonFinite: o.onNonFinite, signal: o.signal,
      microBatch: () => ({ batch, epoch: 0 }),
      step: async (_b, ctx) => {
        const inj = o.inject?.(ctx.microBatch) ?? null;
        let loss = 0;
        for (let i = 0; i < params.length; i++) {
          const p = await params[i].p.toFloat32(), g = await params[i].g.toFloat32();
          for (let j = 0; j < p.length; j++) { g[j] += p[j] - 1; loss += 0.5 * (p[j] - 1) ** 2; }
          if (inj?.grad && inj.grad.param === i) g[inj.grad.index] = inj.grad.value;
          be.write(params[i].g.buf, g);
        }
        return { loss: inj?.loss ?? loss, perturbedLoss: null, gradNorm: null };
      },
      onStep: async (m) => { lines.push(m); after.push(await snapshot()); o.onStep?.(m); },
      onNonFiniteStop: (m) => { stopped.push(m); },
    });
  } catch (e) { error = e; }
  const final = await snapshot();
  for (const q of params) { q.p.dispose(); q.g.dispose(); }
  return { before, after, final, lines, stopped, error };
}

test('stop: a NaN loss at step 3 throws NonFiniteError naming the step, before the weights change', async () => {
  const r = await toy({ steps: 5, inject: (mb) => (mb === 2 ? { loss: NaN } : null) });
  assert.instance(r.error, NonFiniteError);
  const e = r.error as NonFiniteError;
  assert.is(e.step, 3);
  assert.is(e.exitCode, 1);
  assert.is(e.message, 'step 3 of 5: the loss is NaN');
  assert.equal(r.lines.map((m) => m.step), [1, 2]);
  assert.equal(r.final, r.after[1], 'the failing step did not update the weights');
  assert.is(r.stopped.length, 1);
  assert.is(r.stopped[0].step, 3);
  assert.is(r.stopped[0].nonfinite, 'the loss is NaN');
  // the metrics line says NaN, never null
  const json = metricsJson(r.stopped[0]);
  assert.match(json, /"loss":"NaN"/);
  assert.match(json, /"lora_grad_norm":"NaN"/);
  // (perturbed_loss and grad_norm are null because this step has no perturbation, as for SFT)
  assert.not.match(json, /"(loss|lora_grad_norm|lr|tokens_per_s)":null/);
});

test('stop: an Inf in one gradient names that tensor and element; with accumulation, the micro-batch of a bad loss', async () => {
  const r = await toy({ steps: 3, inject: (mb) => (mb === 1 ? { grad: { param: 1, index: 1, value: Infinity } } : null) });
  assert.is((r.error as NonFiniteError).message, 'step 2 of 3: the gradients are not finite: layers.0.q_proj.lora_B grad is Infinity at element 1');
  assert.equal(r.final, r.after[0]);
  const nan = await toy({ steps: 3, inject: (mb) => (mb === 0 ? { grad: { param: 0, index: 2, value: NaN } } : null) });
  assert.is((nan.error as NonFiniteError).message, 'step 1 of 3: the gradients are not finite: layers.0.q_proj.lora_A grad is NaN at element 2');
  assert.equal(nan.final, nan.before, 'no update at all');
  const acc = await toy({ steps: 3, gradAccum: 2, inject: (mb) => (mb === 3 ? { loss: -Infinity } : null) });
  assert.is((acc.error as NonFiniteError).message, 'step 2 of 3: the loss is -Infinity (micro-batch 2 of 2)');
});

test('skip: the bad step\'s update is dropped and counted, the next steps go on as without it', async () => {
  const bad = new Set([1, 3]);
  const r = await toy({ steps: 5, onNonFinite: 'skip', inject: (mb) => (bad.has(mb) ? { grad: { param: 0, index: 0, value: NaN } } : null) });
  assert.is(r.error, null);
  assert.equal(r.lines.map((m) => m.step), [1, 2, 3, 4, 5]);
  assert.equal(r.lines.map((m) => m.skipped_nonfinite), [0, 1, 1, 2, 2]);
  assert.equal(r.lines.map((m) => m.nonfinite ?? null), [null, 'the gradients are not finite: layers.0.q_proj.lora_A grad is NaN at element 0', null,
    'the gradients are not finite: layers.0.q_proj.lora_A grad is NaN at element 0', null]);
  assert.equal(r.after[1], r.after[0], 'step 2 changed nothing');
  assert.equal(r.after[3], r.after[2], 'step 4 changed nothing');
  // three clean SGD steps toward 1 from P0, with lr 0.1: p' = p - 0.1 (p - 1)
  const want = P0.map((v) => v.map((x) => { let p = Math.fround(x); for (let i = 0; i < 3; i++) p = Math.fround(p - Math.fround(0.1 * Math.fround(p - 1))); return p; }));
  r.final.flat().forEach((x, i) => assert.ok(Math.abs(x - want.flat()[i]) < 1e-6, `${x} vs ${want.flat()[i]}`));
  for (const m of r.lines) assert.not.match(metricsJson(m), /"(loss|lora_grad_norm)":null/);
});

test(`skip: ${MAX_SKIPS_IN_A_ROW} skipped steps in a row stop the run; non-finite weights after an update stop even in skip mode`, async () => {
  const r = await toy({ steps: 30, onNonFinite: 'skip', inject: (mb) => (mb >= 4 ? { loss: NaN } : null) });
  const e = r.error as NonFiniteError;
  assert.instance(e, NonFiniteError);
  assert.is(e.step, 4 + MAX_SKIPS_IN_A_ROW);
  assert.match(e.message, new RegExp(`the loss is NaN, and so were the ${MAX_SKIPS_IN_A_ROW - 1} steps before: the run has diverged`));
  // an lr that sends the weights past f32's range: caught on the step that did it
  const w = await toy({ steps: 3, lr: 3e38, onNonFinite: 'skip' });
  assert.match((w.error as NonFiniteError).message, /^step 1 of 3: the updated weights are not finite: layers\.0\.q_proj\.lora_A is -?Infinity at element \d/);
  const big = await toy({ steps: 3, lr: 1e25 });
  assert.match((big.error as NonFiniteError).message, /^step 1 of 3: the updated weights diverged: layers\.0\.q_proj\.lora_A reaches -?\d\.\d{3}e\+25 \(finite, but beyond 1\.8e19/);
});

test('an aborted signal ends the loop after the step it is in', async () => {
  const ctl = new AbortController();
  const r = await toy({ steps: 6, signal: ctl.signal, onStep: (m) => { if (m.step === 2) ctl.abort(); } });
  assert.is(r.error, null);
  assert.equal(r.lines.map((m) => m.step), [1, 2]);
  const pre = new AbortController();
  pre.abort();
  const none = await toy({ steps: 6, signal: pre.signal });
  assert.equal(none.lines, []);
  assert.equal(none.final, none.before);
});

test.run();

// Schedules against Hugging Face's formulas (written out here in f64, independently of
// engine/optim.ts), and AdamW / SGD against an f64 torch.optim.AdamW reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdamW, lrLambda, SGD, warmupSteps } from '../../engine/optim.ts';
import { Tensor } from '../../engine/tensor.ts';
import { rand, relErr, wasmBackend, bytesHeld } from '../helpers.ts';

// transformers.optimization: _get_cosine_schedule_with_warmup_lr_lambda and the linear one.
function hfCosine(step: number, warm: number, total: number, cycles = 0.5): number {
  if (step < warm) return step / Math.max(1, warm);
  const progress = (step - warm) / Math.max(1, total - warm);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
}
function hfLinear(step: number, warm: number, total: number): number {
  if (step < warm) return step / Math.max(1, warm);
  return Math.max(0, (total - step) / Math.max(1, total - warm));
}

test('warmup steps = ceil(ratio * total)', () => {
  assert.is(warmupSteps(0.1, 200), 20);
  assert.is(warmupSteps(0.1, 25), 3);
  assert.is(warmupSteps(0, 25), 0);
  assert.is(warmupSteps(0.1, 0), 0);
});

test('cosine, linear and constant lambdas match HF at every step', () => {
  for (const [total, ratio] of [[200, 0.1], [25, 0.1], [7, 0.5], [10, 0], [1, 0.1]] as const) {
    const w = warmupSteps(ratio, total);
    for (let k = 0; k <= total; k++) {
      // exact formula, same f64 arithmetic order: equality to 1e-15 absolute
      assert.ok(Math.abs(lrLambda('cosine', k, w, total) - hfCosine(k, w, total)) < 1e-15, `cosine k=${k}`);
      assert.ok(Math.abs(lrLambda('linear', k, w, total) - hfLinear(k, w, total)) < 1e-15, `linear k=${k}`);
      // HF's get_constant_schedule: 1 at every step, whatever the warmup
      assert.is(lrLambda('constant', k, w, total), 1, `constant k=${k} warmup ${w}`);
    }
  }
  // the warmup branch, by hand: step / warmup; the first step of a warmed-up run has lr 0, as in HF Trainer
  for (const kind of ['cosine', 'linear'] as const) {
    assert.is(lrLambda(kind, 0, 20, 200), 0);
    assert.is(lrLambda(kind, 5, 20, 200), 0.25);
    assert.is(lrLambda(kind, 19, 20, 200), 0.95);
    assert.is(lrLambda(kind, 20, 20, 200), 1);
  }
  assert.is(lrLambda('constant', 0, 20, 200), 1);
  assert.is(lrLambda('constant', 5, 20, 200), 1);
});

test('AdamW follows torch.optim.AdamW for 3 steps (f64 reference, rel 1e-5)', async () => {
  const be = await wasmBackend();
  const n = 37;
  const p0 = rand(n, 1, 0.5);
  const grads = [rand(n, 2), rand(n, 3, 2), rand(n, 4, 0.01)];
  const p = Tensor.from(be, [n], p0), g = Tensor.zeros(be, [n]);
  const before = bytesHeld(be);
  const opt = new AdamW(be, [{ p, g }], { weightDecay: 0.1 });
  const lrs = [1e-3, 5e-4, 2e-3];
  // torch.optim.AdamW (amsgrad=False): p *= 1 - lr*wd; m,v updated; p -= lr * (m/bc1) / (sqrt(v)/sqrt(bc2) + eps)
  const ref = Float64Array.from(p0), m = new Float64Array(n), v = new Float64Array(n);
  for (let t = 1; t <= 3; t++) {
    be.write(g.buf, grads[t - 1]);
    opt.step(lrs[t - 1]);
    const lr = lrs[t - 1], bc1 = 1 - 0.9 ** t, bc2 = 1 - 0.999 ** t;
    for (let i = 0; i < n; i++) {
      const gi = grads[t - 1][i];
      ref[i] *= 1 - lr * 0.1;
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.999 * v[i] + 0.001 * gi * gi;
      ref[i] -= lr * (m[i] / bc1) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + 1e-8);
    }
  }
  assert.is(opt.stepCount, 3);
  // the update is small next to p: compare the change (p - p0) so the tolerance means something
  const got = await p.toFloat32();
  const dGot = got.map((x, i) => x - p0[i]), dRef = ref.map((x, i) => x - p0[i]);
  const err = relErr(dGot, dRef);
  // f32 p - p0 keeps about 1e-5 of an update 500x smaller than p: 1e-4 relative on the update
  assert.ok(err < 1e-4, `AdamW update rel err ${err} (1e-4)`);
  assert.ok(relErr(got, ref) < 1e-6, `AdamW params rel err ${relErr(got, ref)} (1e-6)`);
  opt.dispose();
  assert.is(bytesHeld(be), before);
  p.dispose(); g.dispose();
});

test('SGD is p -= lr * g (rel 1e-6)', async () => {
  const be = await wasmBackend();
  const n = 11, p0 = rand(n, 5), g0 = rand(n, 6);
  const p = Tensor.from(be, [n], p0), g = Tensor.from(be, [n], g0);
  const opt = new SGD([{ p, g }]);
  opt.step(0.25);
  const want = Array.from(p0, (x, i) => x - 0.25 * g0[i]);
  assert.ok(relErr(await p.toFloat32(), want) < 1e-6);
  assert.is(opt.stateTensors().size, 0);
  p.dispose(); g.dispose();
});

test.run();

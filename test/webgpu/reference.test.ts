// WebGPU against f64 JavaScript references directly (not through WASM): the dropout mask
// against the JS twin of the hash (bit for bit), matmul and attention forward against f64
// references, and the attention backward against central finite differences of the f64
// forward (scalar loss = dot(out, w), so dout = w).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AttentionDims } from '../../engine/backend.ts';
import { dot, rand, relErr, webgpuProviders } from '../helpers.ts';
import { attentionRef } from '../reference/attention.ts';
import { dropoutMaskRef } from '../reference/dropout_hash.ts';
import { matmulRef } from '../reference/matmul.ts';
import { finiteDiffAt, pick, spreadIndices } from '../reference/sampled_grad.ts';
import { bitIdentical, runCase } from './harness.ts';

const gpus = await webgpuProviders();
if (!gpus.length) console.warn('test/webgpu/reference: NOT RUN, no WebGPU adapter on this machine (no test was registered)');
for (const { provider, backend: gpu } of gpus) {
  const test = suite(`reference (${provider})`);
  test('dropout: WGSL mask equals the JS twin of the hash bit for bit', async () => {
    for (const [n, p, seed] of [[5000, 0.1, 1], [1234, 0.3, 0xffffffff], [100, 0.999, 3]]) {
      const got = await runCase(gpu, { buffers: { m: new Float32Array(n) }, outputs: ['m'], run: (be, b) => be.dropoutMask(b.m, n, p, seed) });
      assert.ok(bitIdentical(got.m, dropoutMaskRef(n, p, seed)), `n=${n} p=${p} seed=${seed}`);
    }
  });

  test('matmul: WebGPU vs f64 reference, all transposes, off-tile sizes', async () => {
    // scalar-load kernel, then the vec4-load kernel (every dimension a multiple of 4)
    for (const [M, N, K] of [[67, 41, 83], [68, 44, 84]]) {
      const a = rand(M * K, 1), b = rand(K * N, 2), c0 = rand(M * N, 3);
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const p = { M, N, K, transA, transB, alpha: 0.5, beta: -2 };
          const got = await runCase(gpu, { buffers: { c: c0, a, b }, outputs: ['c'], run: (be, x) => be.matmul(x.c, x.a, x.b, p) });
          const want = matmulRef(a, b, c0, M, N, K, transA, transB, 0.5, -2);
          const e = relErr(got.c, want);
          assert.ok(e <= 1e-5, `${M}x${N}x${K} transA=${transA} transB=${transB}: relErr ${e} (tol 1e-5, f32 vs f64 with K=84)`);
        }
      }
    }
  });

  const d: AttentionDims = { B: 2, Tq: 5, Tk: 9, Hq: 4, Hkv: 2, hd: 6, qPos0: 2, scale: 1 / Math.sqrt(6) };
  const keyLen = Int32Array.of(7, 4);
  const nq = d.B * d.Tq * d.Hq * d.hd, nk = d.B * d.Tk * d.Hkv * d.hd;
  const q = rand(nq, 10), k = rand(nk, 11), v = rand(nk, 12), w = rand(nq, 13);

  test('attention forward: WebGPU vs f64 reference (GQA, padding, qPos0 > 0)', async () => {
    const got = await runCase(gpu, {
      buffers: { out: new Float32Array(nq), lse: new Float32Array(d.B * d.Hq * d.Tq), q, k, v, keyLen },
      outputs: ['out', 'lse'],
      run: (be, b) => be.attention(b.out, b.lse, b.q, b.k, b.v, b.keyLen, d),
    });
    const ref = attentionRef(q, k, v, keyLen, d);
    assert.ok(relErr(got.out, ref.out) <= 1e-5, `out relErr ${relErr(got.out, ref.out)} (tol 1e-5)`);
    assert.ok(relErr(got.lse, ref.lse) <= 1e-5, `lse relErr ${relErr(got.lse, ref.lse)} (tol 1e-5)`);
  });

  test('attention backward: WebGPU dq, dk, dv vs finite differences of the f64 forward', async () => {
    const got = await runCase(gpu, {
      buffers: {
        out: new Float32Array(nq), lse: new Float32Array(d.B * d.Hq * d.Tq), q, k, v, keyLen, dout: w,
        dq: new Float32Array(nq), dk: new Float32Array(nk), dv: new Float32Array(nk),
      },
      outputs: ['dq', 'dk', 'dv'],
      run: (be, b) => {
        be.attention(b.out, b.lse, b.q, b.k, b.v, b.keyLen, d);
        be.attentionBackward(b.dq, b.dk, b.dv, b.dout, b.q, b.k, b.v, b.out, b.lse, b.keyLen, d);
      },
    });
    const inputs = { q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v) };
    const loss = (): number => dot(attentionRef(inputs.q, inputs.k, inputs.v, keyLen, d).out, w);
    for (const [name, grad] of [['q', got.dq], ['k', got.dk], ['v', got.dv]] as const) {
      const x = inputs[name];
      // every coordinate: the shapes are tiny
      const idx = spreadIndices(x.length, x.length);
      const fd = finiteDiffAt(() => loss(), x, idx);
      const e = relErr(pick(grad, idx), fd);
      assert.ok(e <= 1e-4, `d${name} relErr ${e} vs finite differences (tol 1e-4: f32 kernel vs f64 central differences)`);
    }
  });
  test.run();
}

// WebGPU vs WASM parity: every Backend op runs on the same inputs on both backends and the
// results must agree to relative error <= 1e-5 (relErr: max abs difference over max |ref|),
// dropout masks bit for bit. Shapes are deliberately not multiples of the WGSL tile sizes, and
// the attention cases cover GQA, right padding (keyLen < Tk), qPos0 > 0 and Tq = 1 decoding.
// Buffers that an op "writes" start out filled with garbage, so a kernel that skips an element
// cannot pass by luck.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AttentionDims, Backend, LoraDims, MatmulParams } from '../../engine/backend.ts';
import { rand, randInt, relErr, wasmBackend, webgpuProviders, createGpu } from '../helpers.ts';
import { bitIdentical, runCase, type Case } from './harness.ts';

const TOL = 1e-5; // f32 kernels with different summation orders

const gpus = await webgpuProviders();
if (!gpus.length) console.warn('test/webgpu/parity: NOT RUN, no WebGPU adapter on this machine (no test was registered)');
for (const { provider, backend: gpu } of gpus) {
  const test = suite(`parity (${provider})`);
  const cpu = await wasmBackend();

  /** Runs the case on both backends and checks every output within tol. */
  const parity = async (c: Case, what: string, tol = TOL): Promise<void> => {
    const ref = await runCase(cpu, c);
    const got = await runCase(gpu, c);
    for (const name of c.outputs) {
      const e = relErr(got[name], ref[name]);
      assert.ok(e <= tol, `${what}: ${name} relErr ${e.toExponential(2)} > ${tol} (tol ${tol})`);
    }
  };
  const garbage = (n: number, seed: number): Float32Array => rand(n, seed, 1e3);

  test('matmul: every transA/transB, sizes off the 64x64 tile, alpha and beta', async () => {
    // the last three are multiples of 4 (the vec4-load kernel), only one a multiple of the tile
    for (const [M, N, K] of [[37, 70, 45], [130, 67, 17], [1, 5, 3], [36, 70, 44], [64, 64, 16], [36, 68, 44], [100, 132, 20]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [alpha, beta] of [[1, 0], [0.7, 0.3], [-1.5, 1]]) {
            const p: MatmulParams = { M, N, K, transA, transB, alpha, beta };
            await parity({
              buffers: { c: rand(M * N, 1), a: rand(M * K, 2), b: rand(K * N, 3) },
              outputs: ['c'],
              run: (be, x) => be.matmul(x.c, x.a, x.b, p),
            }, `matmul ${JSON.stringify(p)}`);
          }
        }
      }
    }
  });

  test('matmul: beta = 0 never reads C (C full of NaN)', async () => {
    const p: MatmulParams = { M: 33, N: 19, K: 21, transA: false, transB: true, alpha: 1, beta: 0 };
    const a = rand(33 * 21, 4), b = rand(19 * 21, 5);
    const ref = await runCase(cpu, { buffers: { c: new Float32Array(33 * 19), a, b }, outputs: ['c'], run: (be, x) => be.matmul(x.c, x.a, x.b, p) });
    const got = await runCase(gpu, { buffers: { c: new Float32Array(33 * 19).fill(NaN), a, b }, outputs: ['c'], run: (be, x) => be.matmul(x.c, x.a, x.b, p) });
    assert.ok(relErr(got.c, ref.c) <= TOL, `relErr ${relErr(got.c, ref.c)} (tol ${TOL}; NaN gives Infinity)`);
  });

  const loraCase = (d: LoraDims, withMask: boolean, withGrads: boolean): Case => {
    const { T, inF, outF, r } = d;
    const mask = withMask ? Float32Array.from(rand(T * inF, 9), (u) => (u > -0.6 ? 1 / 0.8 : 0)) : null;
    return {
      buffers: {
        y: rand(T * outF, 10), u: garbage(T * r, 11), x: rand(T * inF, 12), a: rand(r * inF, 13), b: rand(outF * r, 14),
        dx: rand(T * inF, 15), dA: rand(r * inF, 16), dB: rand(outF * r, 17), du: garbage(T * r, 18), dy: rand(T * outF, 19),
        mask: mask ?? new Float32Array(1),
      },
      outputs: ['y', 'u', 'dx', 'du', 'dA', 'dB'],
      run: (be, x) => {
        const m = withMask ? x.mask : null;
        be.loraForward(x.y, x.u, x.x, x.a, x.b, m, d);
        be.loraBackward(x.dx, withGrads ? x.dA : null, withGrads ? x.dB : null, x.du, x.dy, x.x, x.a, x.b, x.u, m, d);
      },
    };
  };

  test('lora: forward and backward, with and without a dropout mask, with and without dA/dB', async () => {
    const d: LoraDims = { T: 13, inF: 37, outF: 29, r: 5, scale: 16 / 5 };
    for (const withMask of [false, true]) {
      for (const withGrads of [true, false]) await parity(loraCase(d, withMask, withGrads), `lora mask=${withMask} grads=${withGrads}`);
    }
  });

  test('dropout: masks bit-identical to WASM for several p and seeds', async () => {
    for (const [n, p, seed] of [[1000, 0.1, 0], [4099, 0.5, 12345], [777, 0.05, 0xdeadbeef], [300, 0, 7]]) {
      const c: Case = { buffers: { m: garbage(n, 20) }, outputs: ['m'], run: (be, x) => be.dropoutMask(x.m, n, p, seed) };
      const ref = await runCase(cpu, c), got = await runCase(gpu, c);
      assert.ok(bitIdentical(got.m, ref.m), `dropout n=${n} p=${p} seed=${seed}: masks differ`);
      const kept = Array.from(got.m).filter((v) => v !== 0).length / n;
      assert.ok(Math.abs(kept - (1 - p)) < 0.06, `kept fraction ${kept} for p=${p} (tolerance 0.06)`);
    }
  });

  test('dropout with a row index: bit-identical to WASM', async () => {
    const width = 29, rows = Int32Array.from([5, 0, 77, 3, 3, 140, 9]);
    const c: Case = { buffers: { m: garbage(rows.length * width, 26), idx: rows }, outputs: ['m'],
      run: (be, x) => be.dropoutMask(x.m, rows.length * width, 0.25, 99, { index: x.idx, width }) };
    const ref = await runCase(cpu, c), got = await runCase(gpu, c);
    assert.ok(bitIdentical(got.m, ref.m), 'row-indexed dropout masks differ');
  });

  test('embedding: forward and backward with repeated ids', async () => {
    const V = 11, D = 19, N = 23;
    const ids = randInt(N, 21, V);
    ids[3] = ids[7] = ids[8] = 4; // repeats must add up
    await parity({
      buffers: { out: garbage(N * D, 22), table: rand(V * D, 23), ids, dTable: rand(V * D, 24), dOut: rand(N * D, 25) },
      outputs: ['out', 'dTable'],
      run: (be, x) => { be.embedding(x.out, x.table, x.ids, N, D); be.embeddingBackward(x.dTable, x.dOut, x.ids, N, D, V); },
    }, 'embedding');
  });

  test('rmsnorm: forward and backward (dw adds into), D above the workgroup size', async () => {
    for (const [rows, D] of [[7, 300], [3, 5], [2, 1000]]) {
      await parity({
        buffers: {
          out: garbage(rows * D, 30), rstd: garbage(rows, 31), x: rand(rows * D, 32), w: rand(D, 33, 2),
          dx: garbage(rows * D, 34), dw: rand(D, 35), dy: rand(rows * D, 36),
        },
        outputs: ['out', 'rstd', 'dx', 'dw'],
        run: (be, b) => {
          be.rmsnorm(b.out, b.rstd, b.x, b.w, rows, D, 1e-5);
          be.rmsnormBackward(b.dx, b.dw, b.dy, b.x, b.w, b.rstd, rows, D);
        },
      }, `rmsnorm rows=${rows} D=${D}`);
    }
  });

  test('layernorm: forward and backward, D above the workgroup size, mean far from 0', async () => {
    for (const [rows, D] of [[7, 300], [3, 5], [2, 1000]]) {
      await parity({
        buffers: {
          out: garbage(rows * D, 37), mean: garbage(rows, 38), rstd: garbage(rows, 39),
          x: Float32Array.from(rand(rows * D, 41), (v) => v + 2), w: rand(D, 42, 2), b: rand(D, 43),
          dx: garbage(rows * D, 44), dy: rand(rows * D, 45),
        },
        outputs: ['out', 'mean', 'rstd', 'dx'],
        run: (be, b) => {
          be.layernorm(b.out, b.mean, b.rstd, b.x, b.w, b.b, rows, D, 1e-5);
          be.layernormBackward(b.dx, b.dy, b.x, b.w, b.mean, b.rstd, rows, D);
        },
      }, `layernorm rows=${rows} D=${D}`);
    }
  });

  test('rope: both conventions, forward and inverse, pos0 > 0', async () => {
    const T = 5, rows = 2 * T, H = 3, hd = 8, maxPos = 16, half = hd / 2;
    const cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
    for (let p = 0; p < maxPos; p++) {
      for (let j = 0; j < half; j++) {
        const ang = p * Math.pow(10000, -2 * j / hd);
        cos[p * half + j] = Math.cos(ang); sin[p * half + j] = Math.sin(ang);
      }
    }
    for (const interleaved of [false, true]) {
      for (const inverse of [false, true]) {
        await parity({
          buffers: { x: rand(rows * H * hd, 40), cos, sin },
          outputs: ['x'],
          run: (be, b) => be.rope(b.x, b.cos, b.sin, rows, T, H, hd, 3, interleaved, inverse),
        }, `rope interleaved=${interleaved} inverse=${inverse}`);
      }
    }
  });

  const attnCase = (d: AttentionDims, keyLen: number[], seed: number): Case => {
    const nq = d.B * d.Tq * d.Hq * d.hd, nk = d.B * d.Tk * d.Hkv * d.hd;
    return {
      buffers: {
        out: garbage(nq, seed), lse: garbage(d.B * d.Hq * d.Tq, seed + 1),
        q: rand(nq, seed + 2), k: rand(nk, seed + 3), v: rand(nk, seed + 4), keyLen: Int32Array.from(keyLen),
        dq: garbage(nq, seed + 5), dk: garbage(nk, seed + 6), dv: garbage(nk, seed + 7), dout: rand(nq, seed + 8),
      },
      outputs: ['out', 'lse', 'dq', 'dk', 'dv'],
      run: (be, b) => {
        be.attention(b.out, b.lse, b.q, b.k, b.v, b.keyLen, d);
        be.attentionBackward(b.dq, b.dk, b.dv, b.dout, b.q, b.k, b.v, b.out, b.lse, b.keyLen, d);
      },
    };
  };
  const attn = (B: number, Tq: number, Tk: number, Hq: number, Hkv: number, hd: number, qPos0: number): AttentionDims =>
    ({ B, Tq, Tk, Hq, Hkv, hd, qPos0, scale: 1 / Math.sqrt(hd) });

  test('attention: GQA (Hq=4, Hkv=2) with right padding, forward and backward', async () => {
    await parity(attnCase(attn(2, 19, 19, 4, 2, 16, 0), [19, 11], 50), 'attention GQA padded');
  });
  test('attention: more than one 64-query block, hd not a multiple of 4', async () => {
    await parity(attnCase(attn(1, 70, 70, 2, 1, 12, 0), [70], 60), 'attention 70 queries hd=12');
  });
  test('attention: qPos0 > 0 chunk against a KV cache (Tk > keys used)', async () => {
    await parity(attnCase(attn(2, 5, 12, 4, 2, 8, 3), [8, 6], 70), 'attention qPos0=3');
  });
  test('attention: Tq = 1 decode step', async () => {
    await parity(attnCase(attn(2, 1, 24, 4, 2, 16, 9), [10, 7], 80), 'attention decode');
  });
  test('attention: multi-head without GQA, hd = 64', async () => {
    await parity(attnCase(attn(1, 9, 9, 3, 3, 64, 0), [9], 90), 'attention MHA hd=64');
  });

  test('attention: a batch element with keyLen = 0 (out 0, lse -inf, zero gradients)', async () => {
    const c = attnCase(attn(2, 4, 6, 2, 1, 8, 0), [0, 5], 97);
    const ref = await runCase(cpu, c), got = await runCase(gpu, c);
    const half = got.lse.length / 2; // lse [B,Hq,Tq]: batch 0 first
    assert.ok(Array.from(got.lse.subarray(0, half)).every((x) => x === -Infinity), 'lse of key-less rows is -inf');
    assert.ok(relErr(got.lse.subarray(half), ref.lse.subarray(half)) <= TOL, `lse relErr (tol ${TOL})`);
    for (const name of ['out', 'dq', 'dk', 'dv']) {
      assert.ok(relErr(got[name], ref[name]) <= TOL, `${name} relErr ${relErr(got[name], ref[name])} (tol ${TOL})`);
    }
  });
  test('attention: skipPadQueries (padded query rows: out 0, lse -inf, nothing added to dk, dv)', async () => {
    for (const seed of [99, 199]) {
      const c = attnCase({ ...attn(3, 70, 70, 4, 2, 12, 0), skipPadQueries: true }, [70, 41, 9], seed);
      const ref = await runCase(cpu, c), got = await runCase(gpu, c);
      const fin = (a: ArrayLike<number>) => Array.from(a, (x) => (x === -Infinity ? 0 : x));
      assert.ok(Array.from(got.lse).every((x, i) => (x === -Infinity) === (ref.lse[i] === -Infinity)), 'the same rows are padding');
      assert.ok(relErr(fin(got.lse), fin(ref.lse)) <= TOL, `lse relErr (tol ${TOL})`);
      for (const name of ['out', 'dq', 'dk', 'dv']) {
        assert.ok(relErr(got[name], ref[name]) <= TOL, `${name} relErr ${relErr(got[name], ref[name])} (tol ${TOL})`);
      }
    }
  });
  test('attention: decode chunk deep into a KV cache (qPos0 = 20, Tq = 3, Tk = 32)', async () => {
    await parity(attnCase(attn(2, 3, 32, 4, 2, 16, 20), [23, 22], 98), 'attention chunk at qPos0=20');
  });

  test('attention: the 8-row tile variant used where workgroup memory is 16 KiB', async () => {
    const small = await createGpu(provider, { attentionTile: 8 });
    try {
      const c = attnCase(attn(2, 19, 21, 4, 2, 16, 2), [21, 9], 95);
      const ref = await runCase(cpu, c), got = await runCase(small, c);
      for (const name of c.outputs) {
        assert.ok(relErr(got[name], ref[name]) <= TOL, `${name} relErr ${relErr(got[name], ref[name])} (tol ${TOL})`);
      }
    } finally {
      await small.destroy();
    }
  });

  test('swiglu: forward and backward', async () => {
    const n = 1001;
    await parity({
      buffers: { out: garbage(n, 100), gate: rand(n, 101, 4), up: rand(n, 102), dGate: garbage(n, 103), dUp: garbage(n, 104), dOut: rand(n, 105) },
      outputs: ['out', 'dGate', 'dUp'],
      run: (be, b) => { be.swiglu(b.out, b.gate, b.up, n); be.swigluBackward(b.dGate, b.dUp, b.dOut, b.gate, b.up, n); },
    }, 'swiglu');
  });

  test('relu: forward and backward (zeros included)', async () => {
    const n = 1001;
    const x = rand(n, 106, 2);
    x[0] = 0; x[7] = -0;
    await parity({
      buffers: { out: garbage(n, 107), x, dx: garbage(n, 108), dy: rand(n, 109) },
      outputs: ['out', 'dx'],
      run: (be, b) => { be.relu(b.out, b.x, n); be.reluBackward(b.dx, b.dy, b.x, n); },
    }, 'relu', 0); // no arithmetic: bit for bit
  });

  test('bias-add: rows of a width off the workgroup size', async () => {
    for (const [rows, D] of [[13, 37], [1, 300], [70, 4]]) {
      await parity({
        buffers: { y: rand(rows * D, 115), b: rand(D, 116, 3) },
        outputs: ['y'],
        run: (be, b) => be.biasAdd(b.y, b.b, rows, D),
      }, `biasAdd rows=${rows} D=${D}`, 0); // one f32 addition per element: bit for bit
    }
  });

  test('cross-entropy: forward and backward, -100 and out-of-range labels ignored', async () => {
    for (const [N, V] of [[9, 300], [4, 50]]) {
      const labels = randInt(N, 110, V);
      labels[2] = -100; if (N > 5) labels[5] = V + 3;
      await parity({
        buffers: { loss: garbage(N, 111), lse: garbage(N, 114), logits: rand(N * V, 112, 5), labels, dLogits: garbage(N * V, 113) },
        outputs: ['loss', 'dLogits'],
        run: (be, b) => { be.crossEntropy(b.loss, b.lse, b.logits, b.labels, N, V); be.crossEntropyBackward(b.dLogits, b.logits, b.lse, b.labels, N, V, 0.25); },
      }, `cross-entropy N=${N} V=${V}`);
      // in place: the gradient written over the logits
      await parity({
        buffers: { loss: garbage(N, 111), lse: garbage(N, 114), logits: rand(N * V, 112, 5), labels },
        outputs: ['loss', 'logits'],
        run: (be, b) => { be.crossEntropy(b.loss, b.lse, b.logits, b.labels, N, V); be.crossEntropyBackward(b.logits, b.logits, b.lse, b.labels, N, V, 0.25); },
      }, `cross-entropy in place N=${N} V=${V}`);
    }
  });

  test('sum of squares: adds into out[0], sizes below and above one pass of partials', async () => {
    for (const n of [1, 300, 100003]) {
      await parity({
        buffers: { out: Float32Array.of(1.5), x: rand(n, 120 + n) },
        outputs: ['out'],
        run: (be, b) => be.sumSquares(b.out, b.x, n),
      }, `sumSquares n=${n}`);
    }
  });

  // The update (p_after - p_before, about lr = 1e-3) is compared, not p: with |p| ~ 1 the f32
  // rounding of p (6e-8) would hide a 1e-5 relative error in the update. p is kept at |p| ~ 0.02
  // so its ulp (2e-9) resolves the update to 2e-6 relative. m and v start at 0 as in training,
  // where v after step 1 is exactly (1 - beta2) g^2, so the rounding of 1 - beta2 shows directly.
  test('adamw: the update, m and v over 3 steps with weight decay', async () => {
    const n = 1003, steps = 3;
    const [lr, beta1, beta2, eps, weightDecay] = [1e-3, 0.9, 0.999, 1e-8, 0.1];
    const p0 = rand(n, 130, 0.02);
    const grads = Array.from({ length: steps }, (_, s) => rand(n, 131 + s));
    /** per step: update = p_after - p_before (in f64 from the f32 values), m and v */
    const trajectory = async (be: Backend): Promise<{ update: Float64Array; m: Float32Array; v: Float32Array }[]> => {
      const [p, g, m, v] = [be.alloc('f32', n), be.alloc('f32', n), be.alloc('f32', n), be.alloc('f32', n)];
      be.write(p, p0);
      be.fill(m, 0, n);
      be.fill(v, 0, n);
      let before = p0;
      const out = [];
      for (let t = 1; t <= steps; t++) {
        be.write(g, grads[t - 1]);
        be.adamw(p, g, m, v, {
          n, lr, beta1, beta2, eps, weightDecay, biasCorrection1: 1 - beta1 ** t, biasCorrection2: 1 - beta2 ** t,
        });
        const after = await be.read(p, 'f32', n) as Float32Array;
        out.push({
          update: Float64Array.from(after, (x, i) => x - before[i]),
          m: await be.read(m, 'f32', n) as Float32Array,
          v: await be.read(v, 'f32', n) as Float32Array,
        });
        before = after;
      }
      for (const b of [p, g, m, v]) be.free(b);
      return out;
    };
    const ref = await trajectory(cpu), got = await trajectory(gpu);
    // every step's errors are listed when any is over, to show how far off a failing kernel is
    const errs = ref.flatMap((r, s) => (['update', 'm', 'v'] as const).map((name) => ({ what: `step ${s + 1} ${name}`, e: relErr(got[s][name], r[name]) })));
    const report = errs.map(({ what, e }) => `${what} ${e.toExponential(2)}`).join(', ');
    assert.ok(errs.every(({ e }) => e <= TOL), `adamw relErr over ${TOL} (tol ${TOL}): ${report}`);
  });

  test('elementwise: fill, axpy, scale (also in place), scaleByInverseNorm (also in place)', async () => {
    const n = 777;
    await parity({
      buffers: {
        f: garbage(n, 140), y: rand(n, 141), x: rand(n, 142), s1: garbage(n, 143), s2: rand(n, 144),
        s: Float32Array.of(2.25), n1: garbage(n, 145), n2: rand(n, 146),
      },
      outputs: ['f', 'y', 's1', 's2', 'n1', 'n2'],
      run: (be, b) => {
        be.fill(b.f, -0.5, n - 2);
        be.axpy(b.y, b.x, 0.3, n);
        be.scale(b.s1, b.x, -2, n);
        be.scale(b.s2, b.s2, 3, n);
        be.scaleByInverseNorm(b.n1, b.x, b.s, 0.1, 1e-6, n);
        be.scaleByInverseNorm(b.n2, b.n2, b.s, 0.1, 1e-6, n);
      },
    }, 'elementwise');
  });

  test('memory: copy and offset write/read behave as on WASM, bytesInUse counts live buffers', async () => {
    const c: Case = {
      buffers: { a: rand(100, 150), b: garbage(100, 151) },
      outputs: ['a', 'b'],
      run: (be, b) => {
        be.copy(b.b, b.a, 40, 10, 5);
        be.write(b.a, Float32Array.of(7, 8, 9), 50);
        be.copy(b.a, b.a, 20, 60, 0); // overlapping ranges of one buffer
      },
    };
    await parity(c, 'copy/write');
    const before = gpu.bytesInUse();
    const buf = gpu.alloc('f32', 1000);
    assert.is(gpu.bytesInUse(), before + 4000);
    const z = await gpu.read(buf, 'f32', 10, 990);
    assert.ok(z.every((v) => v === 0), 'new buffers are zero-filled');
    gpu.free(buf);
    assert.is(gpu.bytesInUse(), before);
  });

  test('grid: more workgroups than one dimension allows (2D dispatch)', async () => {
    const n = 65535 * 256 + 300;
    const b = gpu.alloc('f32', n);
    gpu.fill(b, 2.5, n);
    gpu.scale(b, b, 2, n);
    const tail = await gpu.read(b, 'f32', 400, n - 400);
    const head = await gpu.read(b, 'f32', 4, 0);
    gpu.free(b);
    assert.ok(tail.every((v) => v === 5) && head.every((v) => v === 5), 'every element past 65535 workgroups written');
  });

  test.run();
}

// The kernels are built twice (build.mjs): with fused multiply-add (relaxed SIMD) and without.
// The backend loads the FMA build where the engine accepts it; both must compute the same thing
// (relative 1e-6: fusing changes only the last bit of each product's rounding).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWasmBackend } from '../../bindings/wasm/backend.ts';
import { rand, relErr } from '../helpers.ts';

test('the FMA and plain kernel builds agree on matmul, lora and attention', async () => {
  const fused = await createWasmBackend({ threads: 2, parallelMinWork: 1 << 12 });
  process.env.VACCINE_WASM_FMA = '0';
  const plain = await createWasmBackend({ threads: 2, parallelMinWork: 1 << 12 });
  delete process.env.VACCINE_WASM_FMA;
  assert.match(fused.description, /FMA/);
  assert.not.match(plain.description, /FMA/);
  const run = async (be: typeof fused) => {
    // N = 512: B [K,N] rows 2 KiB apart take matmul's packed path, the main user of FMA
    const [M, N, K] = [37, 512, 75];
    const a = be.alloc('f32', M * K), b = be.alloc('f32', N * K), c1 = be.alloc('f32', M * N), c2 = be.alloc('f32', M * N);
    be.write(a, rand(M * K, 1)); be.write(b, rand(N * K, 2));
    be.matmul(c1, a, b, { M, N, K, transA: false, transB: true, alpha: 1, beta: 0 });
    // the same b read as [K, N]: the broadcast form (dX = dY W in the model)
    be.matmul(c2, a, b, { M, N, K, transA: false, transB: false, alpha: 1, beta: 0 });
    const hd = 16, T = 9, H = 2;
    const q = be.alloc('f32', T * H * hd), k = be.alloc('f32', T * H * hd), v = be.alloc('f32', T * H * hd);
    const o = be.alloc('f32', T * H * hd), lse = be.alloc('f32', H * T), len = be.alloc('i32', 1);
    be.write(q, rand(T * H * hd, 3)); be.write(k, rand(T * H * hd, 4)); be.write(v, rand(T * H * hd, 5)); be.write(len, Int32Array.of(T));
    be.attention(o, lse, q, k, v, len, { B: 1, Tq: T, Tk: T, Hq: H, Hkv: H, hd, qPos0: 0, scale: 0.25 });
    // LoRA: forward (U and Y) and backward (dX, dA, dB) with a dropout mask
    const [LT, inF, outF, r] = [33, 40, 24, 4];
    const x = be.alloc('f32', LT * inF), la = be.alloc('f32', r * inF), lb = be.alloc('f32', outF * r), mask = be.alloc('f32', LT * inF);
    const y = be.alloc('f32', LT * outF), u = be.alloc('f32', LT * r), dy = be.alloc('f32', LT * outF), dx = be.alloc('f32', LT * inF);
    const dA = be.alloc('f32', r * inF), dB = be.alloc('f32', outF * r), du = be.alloc('f32', LT * r);
    be.write(x, rand(LT * inF, 6)); be.write(la, rand(r * inF, 7)); be.write(lb, rand(outF * r, 8)); be.write(dy, rand(LT * outF, 9));
    be.dropoutMask(mask, LT * inF, 0.1, 3);
    const d = { T: LT, inF, outF, r, scale: 2 };
    be.loraForward(y, u, x, la, lb, mask, d);
    be.loraBackward(dx, dA, dB, du, dy, x, la, lb, u, mask, d);
    const out = [await be.read(c1, 'f32', M * N), await be.read(c2, 'f32', M * N), await be.read(o, 'f32', T * H * hd),
      await be.read(y, 'f32', LT * outF), await be.read(dx, 'f32', LT * inF), await be.read(dA, 'f32', r * inF), await be.read(dB, 'f32', outF * r)];
    for (const t of [a, b, c1, c2, q, k, v, o, lse, len, x, la, lb, mask, y, u, dy, dx, dA, dB, du]) be.free(t);
    return out;
  };
  const f = await run(fused), p = await run(plain);
  f.forEach((x, i) => assert.ok(relErr(x, p[i]) <= 1e-6, `output ${i}: ${relErr(x, p[i])}`));
  await fused.destroy(); await plain.destroy();
});

test.run();

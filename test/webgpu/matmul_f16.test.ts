// WebGPU-only matmul with B stored as f16: must equal the f32 matmul run on B rounded to f16
// (the same kernel, so the same summation order), for every transpose.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { f16BitsToF32, f32ToF16Bits } from '../../engine/io/dtype.ts';
import { rand, relErr, webgpuProviders } from '../helpers.ts';

const gpus = await webgpuProviders();
if (!gpus.length) console.warn('test/webgpu/matmul_f16: NOT RUN, no WebGPU adapter on this machine (no test was registered)');
for (const { provider, backend: gpu } of gpus) {
  const test = suite(`matmul_f16 (${provider})`);
  if (!gpu.hasF16) {
    test('matmulF16B: refuses clearly without shader-f16', () => {
      const b = gpu.allocF16(4);
      assert.throws(() => gpu.matmulF16B(b, b, b, { M: 1, N: 1, K: 1, transA: false, transB: false, alpha: 1, beta: 0 }), /shader-f16/);
      gpu.free(b);
    });
  } else {
    test('matmulF16B equals f32 matmul on f16-rounded B, every transpose, odd sizes', async () => {
      const [M, N, K] = [37, 29, 51]; // odd element count: the last f16 shares a word with padding
      const a = rand(M * K, 1), b = rand(K * N, 2, 3), c0 = rand(M * N, 3);
      const bRounded = Float32Array.from(b, (x) => f16BitsToF32(f32ToF16Bits(x)));
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const p = { M, N, K, transA, transB, alpha: 0.5, beta: 1 };
          const A = gpu.alloc('f32', M * K), C1 = gpu.alloc('f32', M * N), C2 = gpu.alloc('f32', M * N);
          const B32 = gpu.alloc('f32', K * N), B16 = gpu.allocF16(K * N);
          gpu.write(A, a); gpu.write(C1, c0); gpu.write(C2, c0); gpu.write(B32, bRounded); gpu.writeF16(B16, b);
          gpu.matmul(C1, A, B32, p);
          gpu.matmulF16B(C2, A, B16, p);
          const want = await gpu.read(C1, 'f32', M * N), got = await gpu.read(C2, 'f32', M * N);
          for (const x of [A, C1, C2, B32, B16]) gpu.free(x);
          const e = relErr(got, want);
          assert.ok(e <= 1e-6, `transA=${transA} transB=${transB}: relErr ${e} (tol 1e-6: same kernel, same order)`);
        }
      }
    });
  }
  test.run();
}

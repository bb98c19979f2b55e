// The WebGPU backend's device handling: errors surface as thrown Errors naming what failed,
// kernel timing works where timestamp-query exists, the backend selector falls back, and a
// process exits by itself after destroy().
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isSoftwareRenderer, selectBackend } from '../../bindings/select.ts';
import { rand, relErr, webgpuProviders, createGpu } from '../helpers.ts';

const gpus = await webgpuProviders();
if (!gpus.length) console.warn('test/webgpu/device: NOT RUN, no WebGPU adapter on this machine (no test was registered)');
for (const { provider, backend: gpu } of gpus) {
  const test = suite(`device (${provider})`);
  test('provider: a shader error in a scope becomes an Error naming the kernel', async () => {
    const be = await createGpu(provider);
    const ctx = be.port;
    try {
      ctx.scoped('kernel broken_on_purpose', () => ctx.compile('broken', 'fn main( {'));
      let message = '';
      try { await ctx.checkScopes(); } catch (e) { message = (e as Error).message; }
      assert.match(message, /validation error in kernel broken_on_purpose/);
      await ctx.checkScopes(); // the error was consumed: the next check is clean
    } finally {
      await be.destroy();
    }
  });

  test('backend: an impossible allocation fails at the next sync with a clear message', async () => {
    const be = await createGpu(provider);
    try {
      be.alloc('f32', 2 ** 31); // 8 GiB: above maxBufferSize on every adapter
      let message = '';
      try { await be.sync(); } catch (e) { message = (e as Error).message; }
      assert.match(message, /alloc\(f32\[2147483648\]/);
    } finally {
      await be.destroy();
    }
    let after = '';
    try { be.alloc('f32', 4); } catch (e) { after = (e as Error).message; }
    assert.match(after, /used after destroy/);
  });

  test('backend: using a freed buffer fails at the next sync, naming the kernel', async () => {
    const be = await createGpu(provider);
    try {
      const b = be.alloc('f32', 8);
      be.free(b);
      be.fill(b, 1, 8);
      let message = '';
      try { await be.sync(); } catch (e) { message = (e as Error).message; }
      assert.match(message, /fill/);
    } finally {
      await be.destroy();
    }
  });

  test('backend: a buffer of another device is an error at sync, and the backend stays usable', async () => {
    const a = await createGpu(provider);
    const b = await createGpu(provider);
    try {
      const foreign = a.alloc('f32', 8);
      b.fill(foreign, 1, 8);
      let message = '';
      try { await b.sync(); } catch (e) { message = (e as Error).message; }
      assert.match(message, /fill/);
      // reported once, with the failed batch dropped: valid work afterwards runs normally
      const own = b.alloc('f32', 4);
      b.fill(own, 2, 4);
      assert.equal(Array.from(await b.read(own, 'f32', 4)), [2, 2, 2, 2]);
    } finally {
      await a.destroy();
      await b.destroy();
    }
  });

  test('bytesInUse counts the caller\'s buffers only, not the backend\'s scratch', async () => {
    const before = gpu.bytesInUse();
    const n = 2 * 3 * 2 * 8; // B=2, T=3, H=2, hd=8
    const bufs = Array.from({ length: 10 }, () => gpu.alloc('f32', n));
    const keyLen = gpu.alloc('i32', 2);
    gpu.write(keyLen, Int32Array.of(3, 2));
    assert.is(gpu.bytesInUse(), before + 10 * n * 4 + 16); // 2 i32 round up to the 16-byte minimum
    const [out, lse, q, k, v, dq, dk, dv, dout] = bufs;
    const d = { B: 2, Tq: 3, Tk: 3, Hq: 2, Hkv: 2, hd: 8, qPos0: 0, scale: 0.35 };
    gpu.attention(out, lse, q, k, v, keyLen, d);
    gpu.attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, keyLen, d); // allocates scratch
    await gpu.sync();
    for (const b of [...bufs, keyLen]) gpu.free(b);
    assert.is(gpu.bytesInUse(), before);
  });

  test('backend: attention with head_dim above the kernel limit throws at once', () => {
    const b = gpu.alloc('f32', 16);
    assert.throws(() => gpu.attention(b, b, b, b, b, b, { B: 1, Tq: 1, Tk: 1, Hq: 1, Hkv: 1, hd: 256, qPos0: 0, scale: 1 }), /head_dim/);
    gpu.free(b);
  });

  test('timing: per-kernel GPU times are summed by kernel name', async () => {
    const be = await createGpu(provider, { timing: true });
    try {
      if (!be.timingEnabled) { console.warn('(timing test: adapter has no timestamp-query; only checked that times stay empty)'); }
      const a = be.alloc('f32', 40 * 30), c = be.alloc('f32', 40 * 40);
      be.write(a, rand(40 * 30, 1));
      for (let i = 0; i < 3; i++) be.matmul(c, a, a, { M: 40, N: 40, K: 30, transA: false, transB: true, alpha: 1, beta: 0 });
      be.fill(c, 0, 40 * 40);
      await be.sync();
      const t = be.kernelTimes();
      if (be.timingEnabled) {
        assert.is(t.get('matmul')?.count, 3);
        assert.is(t.get('fill')?.count, 1);
        assert.ok((t.get('matmul')?.ms ?? 0) > 0, 'matmul took some GPU time');
      } else {
        assert.is(t.size, 0);
      }
    } finally {
      await be.destroy();
    }
  });

  test('many dispatches: more than one submit batch, results still in program order', async () => {
    const n = 100;
    const b = gpu.alloc('f32', n);
    gpu.fill(b, 1, n);
    for (let i = 0; i < 600; i++) gpu.axpy(b, b, 0.001, n); // y += 0.001 y, in place
    const got = await gpu.read(b, 'f32', n);
    gpu.free(b);
    const want = new Float32Array(n).fill(1.001 ** 600);
    assert.ok(relErr(got, want) <= 1e-4, `relErr ${relErr(got, want)} (tol 1e-4: 600 f32 roundings)`);
  });

  test('select: wasm on request, this provider when asked, auto picks a hardware adapter, else wasm', async () => {
    const w = await selectBackend('wasm', { quiet: true, threads: 1 });
    assert.is(w.name, 'wasm');
    await w.destroy();
    const forced = await selectBackend(provider, { quiet: true });
    assert.is(forced.name, 'webgpu');
    assert.is(/via webgpu\.h/.test(forced.description), provider === 'webgpu-native', forced.description);
    const software = isSoftwareRenderer(forced.description);
    await forced.destroy();
    // auto looks at dawn.node's adapter; both providers see the same one here
    const g = await selectBackend('auto', { quiet: true });
    // lavapipe (CI, machines without a GPU) is a CPU renderer: auto prefers the WASM kernels there
    assert.is(g.name, software ? 'wasm' : 'webgpu', `auto with adapter '${forced.description}'`);
    await g.destroy();
    assert.ok(isSoftwareRenderer('mesa / software / llvmpipe-llvm-15 / llvmpipe: Mesa 25.0.7'));
    assert.not.ok(isSoftwareRenderer('nvidia / hopper / NVIDIA H100 80GB HBM3'));
    let err = '';
    try { await selectBackend('cuda' as never, { quiet: true }); } catch (e) { err = (e as Error).message; }
    assert.match(err, /unknown backend/);
  });

  test('process exits by itself after destroy()', () => {
    const probe = fileURLToPath(new URL('./exit_probe.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', probe, provider], { encoding: 'utf8', timeout: 30000 });
    assert.is(r.signal, null, `probe was killed (${r.signal}): it did not exit within 30 s`);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /probe ok 1/);
  });
  test.run();
}

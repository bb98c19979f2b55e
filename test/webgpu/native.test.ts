// The native provider (webgpu.h over FFI) beyond the shared WebGPU tests: finding and checking
// the library (each way of failing is one clear line and exit code 2 at the command line, with
// nothing written), results bit-identical to dawn.node's on the same adapter for a training step,
// and no handle or buffer that grows with the number of steps.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkWgpuNativeVersion, locateLibrary, WebGPULibraryError } from '../../bindings/native/library.ts';
import type { NativePort } from '../../bindings/native/provider.ts';
import type { WebGPUBackend } from '../../bindings/webgpu/backend.ts';
import { Arena } from '../../engine/arena.ts';
import type { Backend } from '../../engine/backend.ts';
import { demoAlignmentRows, randomLlamaWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { align, type AlignOptions, type StepMetrics } from '../../engine/jobs/align.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { webgpuProviders } from '../helpers.ts';
import { bitIdentical } from './harness.ts';
import { createNativeBackend } from '../../bindings/native/index.ts';

const root = new URL('../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'native-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// ---- finding and checking the library (no adapter needed) ----------------------------------------
const lib = suite('native library');

lib('the library comes from --webgpu-lib, else WEBGPU_LIB, else the default package, else a clear error', () => {
  assert.equal(locateLibrary('/x/lib.so', { WEBGPU_LIB: '/y/lib.so' }, () => '/pkg'), { path: '/x/lib.so', from: '--webgpu-lib' });
  assert.equal(locateLibrary(undefined, { WEBGPU_LIB: '/y/lib.so' }, () => '/pkg'), { path: '/y/lib.so', from: 'WEBGPU_LIB' });
  let err: unknown = null;
  try { locateLibrary(undefined, {}, () => null); } catch (e) { err = e; }
  assert.instance(err, WebGPULibraryError);
  assert.is((err as WebGPULibraryError).exitCode, 2);
  assert.match((err as Error).message, /bun-webgpu-linux-x64 .* is not installed.*--webgpu-lib PATH/);
  err = null;
  try { locateLibrary(undefined, {}, () => work); } catch (e) { err = e; }
  assert.match((err as Error).message, /no webgpu\.h library in .*libwebgpu_dawn\.so/);
});

lib('wgpu-native reports its version: v29 (the stable header) or later is accepted, older is a clear error', () => {
  assert.is(checkWgpuNativeVersion((29 << 24) | (0 << 16) | (1 << 8) | 2, '/l.so'), 'wgpu-native 29.0.1.2');
  let err: unknown = null;
  try { checkWgpuNativeVersion((25 << 24) | (0 << 16) | (2 << 8) | 1, '/l.so'); } catch (e) { err = e; }
  assert.instance(err, WebGPULibraryError);
  assert.match((err as Error).message, /\/l\.so is wgpu-native 25\.0\.2\.1, which implements an older webgpu\.h; this engine needs wgpu-native v29/);
});

lib('importing the engine loads neither koffi nor a webgpu.h library; createNativeBackend() loads them', () => {
  const probe = `
    const koffiLoaded = () => process.report.getReport().sharedObjects.some((s) => s.endsWith('koffi.node'));
    const before = koffiLoaded();
    const engine = await import(${JSON.stringify(new URL('../../engine/index.ts', import.meta.url).href)});
    const afterImport = koffiLoaded();
    const be = await engine.createNativeBackend({ quiet: true }).catch(() => null);
    const afterCreate = koffiLoaded();
    await be?.destroy();
    process.stdout.write(JSON.stringify({ before, afterImport, afterCreate }) + '\\n');`;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const r = JSON.parse(out.stdout.trim().split('\n').pop()!);
  assert.is(r.before, false);
  assert.is(r.afterImport, false, 'koffi was loaded by importing the engine');
  let haveLibrary = true;
  try { locateLibrary(undefined); } catch { haveLibrary = false; }
  // the positive control: the probe can see koffi (where a library is there to load it for)
  if (haveLibrary) assert.is(r.afterCreate, true, 'createNativeBackend() did not load koffi: the probe cannot see it');
});

/** A real shared library that is not webgpu.h: the C library this process runs on. */
function libcPath(): string {
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => /\/libc[.-][^/]*\.so/.test(l) || l.endsWith('/libc.so.6'));
  return line!.slice(line!.indexOf('/'));
}

const CLI = join(root, 'runtime', 'align-main.ts');
function align1(webgpuLib: string, out: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, '--backend', 'webgpu-native', '--webgpu-lib', webgpuLib,
    '--max-steps', '1', '--out', out], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}

for (const [what, path, message] of [
  ['a missing library', join(work, 'no-such-lib.so'), /webgpu\.h library not found: .*no-such-lib\.so \(from --webgpu-lib\)/],
  ['a wrong path (a directory)', work, /is not a file: give the path of the shared library/],
  ['a wrong path (not a shared library)', join(root, 'package.json'), /cannot load .*package\.json .* as a shared library/],
  ['a library without the needed functions', libcPath(), /is not a webgpu\.h library this engine can use: it lacks \d+ of the \d+ functions needed \(wgpuCreateInstance, /],
] as const) {
  lib(`command line: ${what} is one clear line on stderr, exit code 2, nothing written`, () => {
    const out = join(work, `out-${what.replace(/\W+/g, '-')}`);
    const r = align1(path, out);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
    assert.not.ok(existsSync(out), 'nothing written to --out');
  });
}
lib.run();

// ---- on an adapter ---------------------------------------------------------------------------------
const gpus = await webgpuProviders();
const dawn = gpus.find((g) => g.provider === 'webgpu')?.backend;
const native = gpus.find((g) => g.provider === 'webgpu-native')?.backend;
if (!native) console.warn('test/webgpu/native: the native provider has no adapter or library here: its device tests are not run');

/** `steps` Vaccine steps of the demo model on `backend` (the job's own loop: data, step, clip, AdamW, adapter). */
async function demoRun(backend: Backend, out: string, steps: number, onStep?: (m: StepMetrics) => void): Promise<StepMetrics[]> {
  const config = tinyLlamaConfig();
  const opts: Partial<AlignOptions> = {
    model: { config, weights: randomLlamaWeights(config, 43) }, tokenizer: new ByteTokenizer(), data: demoAlignmentRows(40, 43),
    out, method: 'vaccine', maxSteps: steps, batchSize: 2, maxLength: 256, lr: 1e-2, backend,
  };
  return (await align(opts, { onStep })).metrics;
}

if (native && dawn) {
  const t = suite('native vs dawn.node');
  t('one Vaccine training step is bit-identical on both providers (losses, norms, the saved adapter)', async () => {
    assert.match(native.description, /via webgpu\.h/);
    assert.not.match(dawn.description, /via webgpu\.h/);
    const runs = [];
    for (const [name, be] of [['dawn.node', dawn], ['native', native]] as const) {
      const out = join(work, `bits-${name}`);
      const metrics = await demoRun(be, out, 1);
      runs.push({ metrics, adapter: readFileSync(join(out, 'adapter_model.safetensors')) });
    }
    const [d, n] = runs;
    for (const k of ['loss', 'perturbed_loss', 'grad_norm', 'lora_grad_norm'] as const) {
      assert.ok(Object.is(d.metrics[0][k], n.metrics[0][k]), `${k}: dawn.node ${d.metrics[0][k]} vs native ${n.metrics[0][k]}`);
    }
    assert.ok(d.adapter.equals(n.adapter), 'adapter_model.safetensors: the same bytes');
    // the step did move the adapter (it is not two untouched initialisations being compared)
    assert.ok(d.metrics[0].lora_grad_norm > 0, `gradient norm ${d.metrics[0].lora_grad_norm}`);
  });
  t.run();
}

if (native) {
  const t = suite('native handles');
  t('training steps leave no handle or buffer behind: counts are the same after every step', async () => {
    const port = (native as WebGPUBackend).port as NativePort;
    const seen: { handles: string; bytes: number }[] = [];
    // The arena's idle buffers and the recorder's readback buffers are kept for the next step
    // (and grow when a batch is longer than any before it): they are returned before counting.
    const release = () => { Arena.of(native).trim(); (native as WebGPUBackend).releaseStaging(); };
    release();
    const before = { handles: JSON.stringify(port.liveHandles()), bytes: native.bytesInUse() };
    await demoRun(native, join(work, 'handles'), 12, () => {
      release();
      seen.push({ handles: JSON.stringify(port.liveHandles()), bytes: native.bytesInUse() });
    });
    release();
    // the first step compiles the pipelines; from the second on nothing may grow
    for (let i = 2; i < seen.length; i++) {
      assert.is(seen[i].handles, seen[1].handles, `step ${i + 1} vs step 2`);
      assert.is(seen[i].bytes, seen[1].bytes, `bytes of live tensors at step ${i + 1} vs step 2`);
    }
    // after the job the model, adapter and optimizer are freed: back to the buffers held before
    assert.is(native.bytesInUse(), before.bytes);
    const after = port.liveHandles(), was = JSON.parse(before.handles) as Record<string, number>;
    assert.is(after.buffer, was.buffer, 'buffers');
    for (const kind of ['bindGroup', 'commandEncoder', 'computePass', 'commandBuffer']) assert.is(after[kind], undefined, `${kind}: none alive between steps`);
  });
  t.run();
}

if (native) {
  const t = suite('native waits');
  t('without timed waits (polling, as with a library that lacks them) results are the same', async () => {
    assert.ok(((native as WebGPUBackend).port as NativePort).timedWaits, 'the default library offers timed waits');
    const polling = await createNativeBackend({ quiet: true, waits: 'poll' });
    try {
      assert.not.ok((polling.port as NativePort).timedWaits);
      const run = async (be: Backend) => {
        const a = be.alloc('f32', 300), c = be.alloc('f32', 300);
        be.write(a, Float32Array.from({ length: 300 }, (_, i) => Math.sin(i)));
        be.matmul(c, a, a, { M: 10, N: 30, K: 30, transA: false, transB: false, alpha: 1, beta: 0 });
        await be.sync();
        const out = await be.read(c, 'f32', 300);
        be.free(a); be.free(c);
        return out;
      };
      assert.ok(bitIdentical(await run(polling), await run(native)), 'the same bits either way');
    } finally {
      await polling.destroy();
    }
  });
  t.run();
}

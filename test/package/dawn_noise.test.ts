// Dawn's two native warnings stay off the user's terminal unless --verbose is given
// (bindings/webgpu/dawn_noise.ts: fd 2 points at /dev/null around the adapter request, where Dawn
// prints them). The redirect on its own in a child process (any machine: it needs no GPU), then
// the library and the command end to end where a WebGPU adapter exists.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSoftwareRenderer } from '../../bindings/select.ts';
import { webgpuBackend } from '../helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const NOISE = /artificially reduced/;

/** Runs an ES module body (with tsx, so it may import the sources) in a child; its stdout and stderr. */
function child(body: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NOISE_MODULE = JSON.stringify(new URL('../../bindings/webgpu/dawn_noise.ts', import.meta.url).href);

test('quietNativeStderr: what native code writes to fd 2 inside the call is dropped; stderr before and after it is kept', () => {
  const r = child(`
    import { writeSync } from 'node:fs';
    const { quietNativeStderr, showDawnWarnings } = await import(${NOISE_MODULE});
    process.stderr.write('before\\n');
    const v = await quietNativeStderr(() => { writeSync(2, 'native 1\\n'); return 7; });
    process.stderr.write('after ' + v + '\\n');
    // fd 2 comes back also when the call throws
    await quietNativeStderr(() => { writeSync(2, 'native 2\\n'); throw new Error('x'); }).catch((e) => process.stderr.write('threw ' + e.message + '\\n'));
    // shown (--verbose): the call's output passes
    showDawnWarnings(true);
    await quietNativeStderr(() => writeSync(2, 'native 3\\n'));
    showDawnWarnings(false);
    // no koffi or libc: the call runs as it is, its output shows, nothing fails
    await quietNativeStderr(() => writeSync(2, 'native 4\\n'), { load: async () => { throw new Error('no koffi'); } });
    await quietNativeStderr(() => writeSync(2, 'native 5\\n'), { load: async () => null });
    process.stderr.write('end\\n');
  `);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, 'before\nafter 7\nthrew x\nnative 3\nnative 4\nnative 5\nend\n');
});

// End to end where a WebGPU adapter exists (under CI a missing adapter makes webgpuBackend() throw).
const gpu = await webgpuBackend();
// Dawn prints them where the driver reports limits above its own (lavapipe does; GPUs may not)
const prints = gpu !== null && isSoftwareRenderer(gpu.description);
if (!gpu) console.warn('test/package/dawn_noise: the library and the command are NOT run on WebGPU here (no adapter)');
else {
  test('the library: createWebGPUBackend() keeps Dawn\'s warnings off stderr; showDawnWarnings(true) lets them through', () => {
    const body = (show: boolean) => `
      const { createWebGPUBackend } = await import(${JSON.stringify(new URL('../../engine/index.ts', import.meta.url).href)});
      const { showDawnWarnings } = await import(${NOISE_MODULE});
      showDawnWarnings(${show});
      process.stderr.write('before\\n');
      const be = await createWebGPUBackend({ quiet: true });
      process.stderr.write('after\\n');
      await be.destroy();
    `;
    const quiet = child(body(false));
    assert.is(quiet.status, 0, quiet.stderr);
    assert.is(quiet.stderr, 'before\nafter\n');
    const shown = child(body(true));
    assert.is(shown.status, 0, shown.stderr);
    if (prints) assert.match(shown.stderr, /^before\nWarning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced .*\nafter\n$/s);
  });

  test('vaccine-align on WebGPU: Dawn\'s warnings only with --verbose', () => {
    const work = mkdtempSync(join(tmpdir(), 'dawn-noise-'));
    try {
      const align = new URL('../../runtime/align.js', import.meta.url).pathname;
      const run = (extra: string[]) => spawnSync(process.execPath, [align, '--backend', 'webgpu', '--max-steps', '0', '--out', join(work, `o${extra.length}`), ...extra],
        { encoding: 'utf8', timeout: 120_000 });
      const quiet = run([]);
      assert.is(quiet.status, 0, quiet.stderr);
      assert.not.match(quiet.stderr, NOISE);
      const verbose = run(['--verbose']);
      assert.is(verbose.status, 0, verbose.stderr);
      if (prints) assert.match(verbose.stderr, /maxDynamicUniformBuffersPerPipelineLayout artificially reduced/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}

test.run();

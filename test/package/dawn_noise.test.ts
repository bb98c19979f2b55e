// Dawn's two native warnings stay off the user's terminal unless --verbose is given
// (runtime/dawn-noise.js says where they come from and why a line filter on the command's stderr
// is the way to drop them). The filter on its own, chunk by chunk, and the command end to end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSoftwareRenderer } from '../../bindings/select.ts';
import { createLineFilter, DAWN_NOISE } from '../../runtime/dawn-noise.js';
import { webgpuBackend } from '../helpers.ts';

const UNIFORM = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
const STORAGE = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';

/** Everything the filter writes, for `text` cut into pieces of `size` characters. */
function filtered(text: string, size: number): { out: string; writes: string[] } {
  const writes: string[] = [];
  const f = createLineFilter((t) => writes.push(t));
  for (let i = 0; i < text.length; i += size) f.push(text.slice(i, i + size));
  f.end();
  return { out: writes.join(''), writes };
}

test('the filter drops exactly Dawn\'s limit warnings, however the text is cut', () => {
  const whole = UNIFORM + 'backend: webgpu\n' + STORAGE + 'Warning: something else entirely\nalign: --lr must be a number\nno newline at the end';
  for (const size of [1, 3, 7, 40, whole.length]) {
    assert.is(filtered(whole, size).out, 'backend: webgpu\nWarning: something else entirely\nalign: --lr must be a number\nno newline at the end', `pieces of ${size}`);
  }
  assert.ok(DAWN_NOISE.test(UNIFORM.trim()) && DAWN_NOISE.test(STORAGE.trim()));
});

test('the filter does not hold back a partial line that cannot be Dawn\'s', () => {
  const writes: string[] = [];
  const f = createLineFilter((t) => writes.push(t));
  f.push('step 1/2 ');
  assert.equal(writes, ['step 1/2 '], 'written at once');
  f.push('loss 3.2\nWarn');
  assert.equal(writes, ['step 1/2 ', 'loss 3.2\n'], '"Warn" may still become a warning: held');
  f.push('ing: the end');
  f.end();
  assert.equal(writes.join(''), 'step 1/2 loss 3.2\nWarning: the end');
});

// End to end where a WebGPU adapter exists (under CI a missing adapter makes webgpuBackend() throw).
const gpu = await webgpuBackend();
if (!gpu) console.warn('test/package/dawn_noise: the command is NOT run on WebGPU here (no adapter)');
else test('vaccine-align on WebGPU: Dawn\'s warnings only with --verbose', () => {
  const work = mkdtempSync(join(tmpdir(), 'dawn-noise-'));
  try {
    const align = new URL('../../runtime/align.js', import.meta.url).pathname;
    const run = (extra: string[]) => spawnSync(process.execPath, [align, '--backend', 'webgpu', '--max-steps', '0', '--out', join(work, `o${extra.length}`), ...extra],
      { encoding: 'utf8', timeout: 120_000 });
    const quiet = run([]);
    assert.is(quiet.status, 0, quiet.stderr);
    assert.not.match(quiet.stderr, /artificially reduced/);
    const verbose = run(['--verbose']);
    assert.is(verbose.status, 0, verbose.stderr);
    // Dawn prints them where the driver reports limits above its own (lavapipe does; GPUs may not)
    if (isSoftwareRenderer(gpu.description)) assert.match(verbose.stderr, /maxDynamicUniformBuffersPerPipelineLayout artificially reduced/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();

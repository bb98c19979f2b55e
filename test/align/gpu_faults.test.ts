// GPU faults during training, injected on a real WebGPU device (lavapipe here): an allocation past
// the device's limit, a kernel given a freed buffer (a validation error), and the device destroyed
// mid-step (device loss). Each must end the run with an Error that names the op and its sizes and
// the step, keep the last checkpoint (and write no adapter), and never hang: every run is raced
// against a timer, and the session closes afterwards.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWebGPUBackend } from '../../bindings/webgpu/backend.ts';
import type { Backend } from '../../engine/backend.ts';
import { demoAlignmentRows, randomLlamaWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { readSafetensors } from '../../engine/io/safetensors.ts';
import { prepareData } from '../../engine/jobs/dataset.ts';
import { normalizeOptions } from '../../engine/jobs/options.ts';
import { Session } from '../../engine/jobs/session.ts';
import { TRAIN_OPTIONS } from '../../engine/jobs/train-options.ts';
import { train, type StepFunction } from '../../engine/jobs/trainer.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { sftStep } from '../../engine/vaccine.ts';
import { webgpuBackend } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'gpu-faults-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const config = tinyLlamaConfig({ dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 16, maxSeqLen: 256 });
const weights = randomLlamaWeights(config, 5);
const tokenizer = new ByteTokenizer();
const rows = demoAlignmentRows(8, 5);
const HANG_MS = 120_000;

/**
 * Trains 4 SFT steps (checkpoint every step) on a fresh WebGPU device; micro-batch 2 (step 3)
 * first runs `inject(backend)`. Returns the error the run ended with and what --out holds.
 */
async function faultyRun(name: string, inject: (be: Backend) => void | Promise<void>): Promise<{ error: Error; out: string; files: string[] }> {
  const be = await createWebGPUBackend({ quiet: true });
  const session = await Session.open({ model: { config, weights }, tokenizer, backend: be });
  const out = join(work, name);
  const settings = { ...normalizeOptions(TRAIN_OPTIONS, { maxSteps: 4, saveEvery: 1, batchSize: 2, maxLength: 224, loraDropout: 0 }), out };
  const data = prepareData(rows, tokenizer, config, settings);
  const step: StepFunction = async (model, batch, ctx) => {
    if (ctx.microBatch === 2) await inject(be);
    return sftStep(model, batch, { dropoutSeed: ctx.dropoutSeed });
  };
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`hung: no result after ${HANG_MS} ms`)), HANG_MS); });
  let error: Error | null = null;
  try {
    await Promise.race([train({ session, data, step, settings, fingerprint: {}, method: 'sft' }), hung]);
  } catch (e) {
    error = e as Error;
  }
  try {
    await Promise.race([session.close(), hung]);
    await Promise.race([be.destroy(), hung]);
  } finally {
    clearTimeout(timer);
  }
  assert.ok(error, `${name}: the run did not fail`);
  console.log(`(gpu_faults ${name}: ${error!.message})`);
  assert.not.match(error!.message, /^hung/, `${name}: ${error!.message}`);
  return { error: error!, out, files: readdirSync(out).sort() };
}

/** The run stopped at step 3 with the message's op, kept checkpoint-1 and -2 (finite), wrote no adapter. */
function keptCheckpoints(r: { error: Error; out: string; files: string[] }): void {
  assert.match(r.error.message, /^at step 3 of 4: /);
  assert.match(r.error.message, new RegExp(`The run is stopped and no adapter was written; the last checkpoint is ${join(r.out, 'checkpoint-2').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(--resume continues from it\\)$`));
  assert.equal(r.files, ['checkpoint-1', 'checkpoint-2', 'metrics.jsonl']);
  assert.not.ok(existsSync(join(r.out, 'adapter_model.safetensors')));
  for (const [, t] of readSafetensors(join(r.out, 'checkpoint-2', 'adapter_model.safetensors')).tensors) assert.ok(t.data.every(Number.isFinite));
}

const gpu = await webgpuBackend();
if (!gpu) {
  console.warn('test/align/gpu_faults: NOT RUN, no WebGPU adapter on this machine (no test was registered)');
} else {
  test('out of memory: an allocation past the device limit mid-step names the allocation and its size', async () => {
    const r = await faultyRun('oom', (be) => { be.alloc('f32', 2 ** 31); }); // 8 GiB: beyond maxBufferSize
    keptCheckpoints(r);
    assert.match(r.error.message, /WebGPU (validation error|out of memory) in alloc\(f32\[2147483648\], 8589934592 bytes\)/);
  });

  test('validation error: a kernel given a freed buffer names the kernel and its buffers\' sizes', async () => {
    const r = await faultyRun('validation', async (be) => {
      const b = be.alloc('f32', 24);
      be.free(b);
      await be.sync(); // the buffer is destroyed once no recorded work can use it
      be.fill(b, 1, 24);
    });
    keptCheckpoints(r);
    assert.match(r.error.message, /WebGPU validation error in submit of \[fill\(24\)/);
  });

  test('device loss: the device destroyed mid-step names what the backend was asked for; nothing hangs', async () => {
    const r = await faultyRun('lost', async (be) => {
      (be as unknown as { port: { device: GPUDevice } }).port.device.destroy(); // the dawn.node port's device
      await new Promise((res) => setTimeout(res, 50)); // let the loss be reported
    });
    keptCheckpoints(r);
    assert.match(r.error.message, /WebGPU device lost \(destroyed\): .*\((asked for [a-z_]+\([\d, ]+\)|asked for (alloc|write|read|copy)\([^)]*\)|while waiting for (read\(\d+ values\)|sync))\)/);
  });
}

test.run();

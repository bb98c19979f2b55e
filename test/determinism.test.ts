// Determinism of the threaded WASM backend: the same work, with the same seed and the same thread
// count, gives the same bits. Thread counts go past this machine's cores (8 on 2 cores), where a
// thread is often descheduled in the middle of the pool's protocol.
//
// The race this guards against (fixed in bindings/wasm/worker.js): a worker took any return from
// Atomics.wait as a new job. The pool's notify for job k can arrive after a worker has already
// seen generation k (without sleeping), run its share and gone back to waiting on k: that worker
// then ran job k a second time, adding its share twice to accumulating outputs (matmul with
// beta = 1, the LoRA gradients) and counting itself done twice, so the pool returned while another
// worker was still writing. It needs the main thread to stall between publishing a job and
// notifying (preemption, or V8's process-wide futex lock held by another thread), so it showed
// up about once in 10^5 jobs, and more often under load.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Allocator } from '../bindings/wasm/allocator.ts';
import { WasmBackend } from '../bindings/wasm/backend.ts';
import type { BufferHandle } from '../engine/backend.ts';
import { loadKernels, MAX_PAGES } from '../bindings/wasm/loader.ts';
import { ThreadPool } from '../bindings/wasm/pool.ts';
import { Waiter } from '../bindings/wasm/worker_loop.js';
import { Worker } from 'node:worker_threads';
import { demoAlignmentRows, randomLlamaWeights } from '../engine/demo.ts';
import { align } from '../engine/jobs/align.ts';
import { Lora, loraTargetNames } from '../engine/lora.ts';
import type { Batch } from '../engine/model/causal_lm.ts';
import { LlamaModel } from '../engine/model/llama/model.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';
import { vaccineStep } from '../engine/vaccine.ts';
import { randomBatch, tinyConfig } from './align/helpers_align.ts';
import { rand } from './helpers.ts';

const THREADS = [2, 3, 4, 8];
const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cores = availableParallelism();

/** A bare pool (no backend) over a fresh memory, with y and x of n floats; x[i] = i mod 7 + 1. */
function poolWithVectors(threads: number, n: number) {
  const k = loadKernels();
  const exports = k.instance.exports as Record<string, unknown>;
  const alloc = new Allocator(k.memory, (exports.heap_base as () => number)(), MAX_PAGES * 65536);
  const pool = new ThreadPool(threads, k.module, k.memory, exports);
  const x = alloc.alloc(n * 4), y = alloc.alloc(n * 4);
  new Float32Array(k.memory.buffer, x, n).set(Float32Array.from({ length: n }, (_, i) => i % 7 + 1));
  /** indices where y != times * x (exact: small integers) */
  const wrong = (times: number) => {
    const got = new Float32Array(k.memory.buffer, y, n);
    let bad = 0;
    for (let i = 0; i < n; i++) if (got[i] !== times * (i % 7 + 1)) bad++;
    return bad;
  };
  return { pool, x, y, wrong };
}

const pool = suite(`thread pool: each job runs exactly once (threads ${THREADS.join(', ')} on ${cores} cores)`);

pool('a wake-up that publishes no job runs nothing (a late notify)', async () => {
  const n = 4096, jobs = 12;
  for (const threads of THREADS) {
    const { pool: p, x, y, wrong } = poolWithVectors(threads, n);
    let woken = 0;
    try {
      for (let j = 0; j < jobs; j++) {
        p.run('axpy', [y, x, 1, n]);
        await idle(3); // the workers are back waiting on this generation
        woken += p.wakeIdleWorkers();
        await idle(3); // a worker that took the wake-up for a job has run it by now
      }
      // The injection reached waiting workers (else this test would prove nothing).
      assert.ok(woken > 0, `threads ${threads}: no worker was woken`);
      assert.is(wrong(jobs), 0, `threads ${threads}: y != ${jobs} x after ${jobs} axpy jobs and ${woken} spurious wake-ups`);
    } finally {
      await p.destroy();
    }
  }
});

pool('a waiter polls less after it had to sleep, and back up after polls that found the change', async () => {
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const w = new Waiter(64); // at least 64 >> 6 = 1 poll
  // the value has changed already: found by polling, the budget stays at its most
  Atomics.store(ctl, 0, 1);
  assert.is(w.until(ctl, 0, 0), 1);
  assert.is(w.budget, 64);
  // nothing changes it within 64 polls: a thread changes it 20 ms later, while this one sleeps
  const changeLater = () => new Worker(
    `const { workerData: c } = require('node:worker_threads'); const v = new Int32Array(c);
     Atomics.wait(v, 1, 0, 20); Atomics.add(v, 0, 1); Atomics.notify(v, 0);`, { eval: true, workerData: ctl.buffer });
  const budgets: number[] = [];
  for (let k = 0; k < 8; k++) {
    const before = Atomics.load(ctl, 0);
    const worker = changeLater();
    assert.is(w.until(ctl, 0, before), before + 1);
    budgets.push(w.budget);
    await worker.terminate();
  }
  assert.equal(budgets, [32, 16, 8, 4, 2, 1, 1, 1], 'halved per sleep, never below max / 64');
  // polls that find the change double it back, up to the most
  const regrow: number[] = [];
  for (let k = 0; k < 8; k++) {
    Atomics.add(ctl, 0, 1);
    w.until(ctl, 0, Atomics.load(ctl, 0) - 1);
    regrow.push(w.budget);
  }
  assert.equal(regrow, [3, 7, 15, 31, 63, 64, 64, 64]);
});

pool('many tiny jobs back to back: none is lost, repeated, or returned early', async () => {
  // Tiny jobs keep the workers between their last job and their next wait, where the pool's
  // notify for the next job can find them already done with it.
  const n = 256, jobs = 1500;
  for (const threads of THREADS) {
    const { pool: p, x, y, wrong } = poolWithVectors(threads, n);
    try {
      for (let j = 0; j < jobs; j++) p.run('axpy', [y, x, 1, n]);
      assert.is(wrong(jobs), 0, `threads ${threads}: y != ${jobs} x`);
    } finally {
      await p.destroy();
    }
  }
});

pool('a worker instantiated late (on memory already in use) changes no byte of it', async () => {
  // Every worker instantiates the kernels module on the shared memory, which copies the module's
  // data segments into it, and a worker may start while the main thread already runs kernels.
  // That is harmless only while the segments hold constants that nothing writes (the math
  // tables): no kernel keeps scratch or state in static memory (the kernels' scratch is on the
  // heap). Run kernels that write scratch on every thread, then instantiate once more.
  const threads = 4;
  const k = loadKernels();
  const exports = k.instance.exports as Record<string, unknown>;
  const alloc = new Allocator(k.memory, (exports.heap_base as () => number)(), MAX_PAGES * 65536);
  const p = new ThreadPool(threads, k.module, k.memory, exports);
  try {
    // B [K, N] with N a multiple of 512 takes the packed path (kernels/as/matmul.ts)
    const M = 64, N = 512, K = 64;
    const scratch = alloc.alloc(threads * (exports.scratch_bytes as () => number)());
    const a = alloc.alloc(M * K * 4), b = alloc.alloc(K * N * 4), c = alloc.alloc(M * N * 4);
    new Float32Array(k.memory.buffer, a, M * K).fill(1.5);
    new Float32Array(k.memory.buffer, b, K * N).fill(-0.25);
    p.run('matmul', [c, a, b, M, N, K, 0, 0, 1, 0, scratch]);
    const parts = alloc.alloc(8 * 4);
    p.run('sum_squares_partial', [parts, c, M * N]);
    // hd 8 with 32 query rows takes attention's keys-in-lanes path (kernels/as/attention/small_hd.ts),
    // which copies keys into the scratch: B * Hkv = 4 units, one per thread
    const B = 2, T = 32, Hq = 4, Hkv = 2, hd = 8;
    const q = alloc.alloc(B * T * Hq * hd * 4), kv = alloc.alloc(B * T * Hkv * hd * 4), keyLen = alloc.alloc(B * 4);
    const out = alloc.alloc(B * T * Hq * hd * 4), lse = alloc.alloc(B * Hq * T * 4);
    new Float32Array(k.memory.buffer, q, B * T * Hq * hd).fill(0.25);
    new Float32Array(k.memory.buffer, kv, B * T * Hkv * hd).fill(0.5);
    new Int32Array(k.memory.buffer, keyLen, B).fill(T);
    p.run('attention', [out, lse, q, kv, kv, keyLen, B, T, T, Hq, Hkv, hd, 0, 0.35, 0, scratch]);
    const before = new Uint8Array(k.memory.buffer.slice(0));
    new WebAssembly.Instance(k.module, { env: { memory: k.memory, abort: () => { throw new Error('abort'); }, seed: () => 0 } });
    const after = new Uint8Array(k.memory.buffer, 0, before.length);
    let changed = 0;
    for (let i = 0; i < before.length; i++) if (after[i] !== before[i]) changed++;
    assert.is(changed, 0, `${changed} bytes of memory changed`);
    assert.is(new Float32Array(k.memory.buffer, c, 1)[0], 1.5 * -0.25 * K, 'the packed matmul ran');
    assert.ok(Math.abs(new Float32Array(k.memory.buffer, out + (B * T * Hq * hd - 1) * 4, 1)[0] - 0.5) < 1e-6, 'attention ran');
  } finally {
    await p.destroy();
  }
});

pool.run();

// ---- across thread counts: every op gives the same bits on 1 to 12 threads ----

const ACROSS = [1, 2, 3, 5, 8, 12];

/**
 * Runs `ops` on a fresh backend (every op threaded) for each thread count and returns, per op,
 * the bits of its outputs. Inputs are the same seeded data for every thread count.
 */
async function opBits(threads: number): Promise<Map<string, Uint32Array>> {
  const be = new WasmBackend({ threads, parallelMinWork: 0 });
  const out = new Map<string, Uint32Array>();
  let seed = 100;
  const input = (n: number, scale = 1) => { const b = be.alloc('f32', n); be.write(b, rand(n, seed++, scale)); return b; };
  const read = (name: string, ...bufs: [BufferHandle, number][]) => {
    const parts = bufs.map(([b, n]) => new Uint32Array((be.readSync(b, 'f32', n) as Float32Array).buffer));
    const all = new Uint32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    out.set(name, all);
  };
  try {
    // matmul: the dot form, the broadcast form with beta = 1, and the packed path (N >= 128: every
    // layout, ragged 6 x 8 tiles, M or N split)
    for (const [M, N, K, tA, tB, beta] of [[37, 50, 70, false, true, 0], [61, 44, 29, true, false, 1], [45, 512, 300, false, false, 1],
      [50, 300, 70, false, true, 1], [97, 133, 20, true, true, 0], [13, 700, 9, true, false, 1]] as const) {
      const a = input(M * K), b = input(K * N), c = input(M * N);
      be.matmul(c, a, b, { M, N, K, transA: tA, transB: tB, alpha: 0.7, beta });
      read(`matmul ${M}x${N}x${K} transA=${tA} transB=${tB}`, [c, M * N]);
    }
    // LoRA forward (rows split) and backward (rows split; dA's columns and dB's rows split), with
    // a dropout mask; the second shape has ragged in, out and r and more than one block of T
    for (const [T, inF, outF, r] of [[53, 44, 36, 4], [131, 45, 37, 9]]) {
      const name = `lora T=${T} in=${inF} out=${outF} r=${r}`;
      const dx = input(T * inF), dA = input(r * inF), dB = input(outF * r), du = be.alloc('f32', T * r);
      const dy = input(T * outF), x = input(T * inF), A = input(r * inF), B = input(outF * r), u = be.alloc('f32', T * r);
      const mask = be.alloc('f32', T * inF);
      be.dropoutMask(mask, T * inF, 0.25, 7);
      const y = input(T * outF);
      be.loraForward(y, u, x, A, B, mask, { T, inF, outF, r, scale: 2 });
      read(`${name} forward`, [y, T * outF], [u, T * r]);
      be.loraBackward(dx, dA, dB, du, dy, x, A, B, u, mask, { T, inF, outF, r, scale: 2 });
      read(`${name} backward`, [dx, T * inF], [dA, r * inF], [dB, outF * r], [du, T * r]);
    }
    // Elementwise with a vector body and a scalar tail (exp4 vs Mathf.exp in SwiGLU: about 4% of
    // values differ between the two), at sizes that put thread boundaries in many places.
    for (const n of [1001, 2018, 4099, 777]) {
      const g = input(n, 4), up = input(n), d = input(n), o = be.alloc('f32', n), dg = be.alloc('f32', n), du = be.alloc('f32', n);
      be.swiglu(o, g, up, n);
      be.swigluBackward(dg, du, d, g, up, n);
      read(`swiglu n=${n}`, [o, n], [dg, n], [du, n]);
    }
    {
      const n = 1001, d = input(n);
      const p = input(n), m = input(n, 0.1), v = be.alloc('f32', n);
      be.write(v, rand(n, 9).map((x) => x * x));
      be.adamw(p, d, m, v, { n, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, biasCorrection1: 0.19, biasCorrection2: 0.002 });
      read('adamw', [p, n], [m, n], [v, n]);
    }
    { // OPT's ops: LayerNorm and its backward, ReLU and its backward, bias-add
      const rows = 29, D = 70, n = rows * D;
      const x = input(n, 2), w = input(D), b = input(D), dy = input(n);
      const y = be.alloc('f32', n), mean = be.alloc('f32', rows), rstd = be.alloc('f32', rows), dx = be.alloc('f32', n);
      be.layernorm(y, mean, rstd, x, w, b, rows, D, 1e-5);
      be.layernormBackward(dx, dy, x, w, mean, rstd, rows, D);
      read('layernorm', [y, n], [mean, rows], [rstd, rows], [dx, n]);
      const r = be.alloc('f32', n), dr = be.alloc('f32', n);
      be.relu(r, x, n);
      be.reluBackward(dr, dy, x, n);
      be.biasAdd(r, b, rows, D);
      read('relu, bias-add', [r, n], [dr, n]);
    }
    { // a reduction over many blocks
      const n = 300007, x = input(n, 3), s = be.alloc('f32', 1);
      be.sumSquares(s, x, n);
      read('sumSquares', [s, 1]);
    }
    { // attention (GQA, padding) forward and backward, cross-entropy
      const B = 2, T = 21, Hq = 4, Hkv = 2, hd = 8, dims = { B, Tq: T, Tk: T, Hq, Hkv, hd, qPos0: 0, scale: 0.35 };
      const q = input(B * T * Hq * hd), k = input(B * T * Hkv * hd), v = input(B * T * Hkv * hd), keyLen = be.alloc('i32', B);
      be.write(keyLen, Int32Array.from([21, 13]));
      const o = be.alloc('f32', B * T * Hq * hd), lse = be.alloc('f32', B * Hq * T);
      be.attention(o, lse, q, k, v, keyLen, dims);
      const dout = input(B * T * Hq * hd), dq = be.alloc('f32', B * T * Hq * hd), dk = be.alloc('f32', B * T * Hkv * hd), dv = be.alloc('f32', B * T * Hkv * hd);
      be.attentionBackward(dq, dk, dv, dout, q, k, v, o, lse, keyLen, dims);
      read('attention', [o, B * T * Hq * hd], [lse, B * Hq * T], [dq, B * T * Hq * hd], [dk, B * T * Hkv * hd], [dv, B * T * Hkv * hd]);
      // padded query rows skipped (a forward over the rows that reach the loss)
      const skip = { ...dims, skipPadQueries: true };
      be.attention(o, lse, q, k, v, keyLen, skip);
      be.attentionBackward(dq, dk, dv, dout, q, k, v, o, lse, keyLen, skip);
      read('attention skipPadQueries', [o, B * T * Hq * hd], [lse, B * Hq * T], [dq, B * T * Hq * hd], [dk, B * T * Hkv * hd], [dv, B * T * Hkv * hd]);
      const N = 37, V = 301, logits = input(N * V, 5), labels = be.alloc('i32', N), loss = be.alloc('f32', N), l = be.alloc('f32', N), dl = be.alloc('f32', N * V);
      be.write(labels, Int32Array.from({ length: N }, (_, i) => i % 5 === 0 ? -100 : (i * 37) % V));
      be.crossEntropy(loss, l, logits, labels, N, V);
      be.crossEntropyBackward(dl, logits, l, labels, N, V, 1 / N);
      read('cross-entropy', [loss, N], [l, N], [dl, N * V]);
    }
  } finally {
    await be.destroy();
  }
  return out;
}

const across = suite('across thread counts: the same bits on 1 to 12 threads');

across(`every op, threaded at ${ACROSS.join(', ')} threads, matches 1 thread bit for bit`, async () => {
  const ref = await opBits(1);
  const differ: string[] = [];
  for (const threads of ACROSS.slice(1)) {
    const got = await opBits(threads);
    for (const [name, bits] of ref) {
      const g = got.get(name)!;
      let first = -1, count = 0;
      for (let i = 0; i < bits.length; i++) if (g[i] !== bits[i]) { if (first < 0) first = i; count++; }
      if (count) differ.push(`${name} at ${threads} threads: ${count} of ${bits.length} values (first at ${first})`);
    }
  }
  assert.equal(differ, [], `differ from 1 thread:\n${differ.join('\n')}`);
});

across.run();

// ---- whole Vaccine steps: the same step, repeated, gives the same bits ----

/** Everything a step produces, as bits: the three scalars and every LoRA gradient. */
async function stepBits(model: LlamaModel, lora: Lora, batch: Batch): Promise<Uint32Array<ArrayBufferLike>[]> {
  lora.zeroGrad();
  const r = await vaccineStep(model, batch, { dropoutSeed: 1234, rho: 2 });
  const bits = (a: Float32Array | Float64Array) => new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
  const out = [bits(new Float64Array([r.loss, r.perturbedLoss!, r.gradNorm!]))];
  for (const m of lora.modules) out.push(bits(await m.dA.toFloat32()), bits(await m.dB.toFloat32()));
  return out;
}

function firstDifference(a: Uint32Array<ArrayBufferLike>[], b: Uint32Array<ArrayBufferLike>[]): string | null {
  const names = ['loss / perturbed loss / grad norm'];
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++) {
      if (a[i][j] !== b[i][j]) return `${names[i] ?? `LoRA gradient tensor ${i - 1}`}, element ${j}`;
    }
  }
  return null;
}

const steps = suite('Vaccine step: identical steps give identical bits');

steps('a tiny Llama, every op threaded, repeated 25 times at 2, 3 and 8 threads', async () => {
  // Shapes where every kernel has work for every thread; parallelMinWork 0 threads every op.
  const config = tinyConfig({ vocabSize: 96, dim: 32, hiddenDim: 48, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, maxSeqLen: 32 });
  const weights = randomLlamaWeights(config, 5);
  const batch = randomBatch(config, 3, 24, [24, 17, 9], 4);
  for (const threads of [2, 3, 8]) {
    const be = new WasmBackend({ threads, parallelMinWork: 0 });
    try {
      const model = LlamaModel.fromHost(be, config, weights);
      const lora = Lora.create(be, config, { r: 4, alpha: 8, dropout: 0.1, targets: loraTargetNames(config), seed: 9 });
      // B = 0 at initialisation would leave half the LoRA paths without signal
      for (const m of lora.modules) be.write(m.B.buf, Float32Array.from({ length: m.B.size }, (_, i) => Math.sin(i + m.layer) * 0.1));
      model.lora = lora;
      const ref = await stepBits(model, lora, batch);
      for (let rep = 1; rep < 25; rep++) {
        const diff = firstDifference(ref, await stepBits(model, lora, batch));
        assert.is(diff, null, `threads ${threads}, repetition ${rep}: ${diff}`);
      }
    } finally {
      await be.destroy();
    }
  }
});

steps('the alignment job: two runs with the same seed and threads write the same adapter bytes', async () => {
  const tok = new ByteTokenizer();
  const config = tinyConfig({ vocabSize: 258, bosId: 256, eosId: 257, maxSeqLen: 512, dim: 32, hiddenDim: 48, nHeads: 4, nKvHeads: 2 });
  const weights = randomLlamaWeights(config, 21);
  const outs = [mkdtempSync(join(tmpdir(), 'det-a-')), mkdtempSync(join(tmpdir(), 'det-b-'))];
  try {
    const metrics: string[] = [];
    for (const out of outs) {
      // a fresh backend (new workers) for each run, as two runs of the command line get
      const r = await align({
        model: { config, weights }, tokenizer: tok, data: demoAlignmentRows(12, 5), out, method: 'vaccine',
        backend: 'wasm', threads: 3, maxSteps: 12, batchSize: 3, maxLength: 320, seed: 7,
      });
      // every step trained on something (response tokens within --max-length)
      assert.ok(r.metrics.length === 12 && r.metrics.every((m) => m.loss > 0 && m.lora_grad_norm > 0), 'every step has a loss and LoRA gradients');
      metrics.push(JSON.stringify(r.metrics.map(({ step, loss, perturbed_loss, grad_norm, lora_grad_norm }) =>
        [step, loss, perturbed_loss, grad_norm, lora_grad_norm])));
    }
    assert.is(metrics[1], metrics[0]);
    const [a, b] = outs.map((o) => readFileSync(join(o, 'adapter_model.safetensors')));
    assert.ok(a.equals(b), 'adapter_model.safetensors differs between the two runs');
  } finally {
    for (const o of outs) rmSync(o, { recursive: true, force: true });
  }
});

steps.run();

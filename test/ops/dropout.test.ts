// dropout masks (WASM backend, 2 threads): values, keep rate, determinism, and bit-for-bit
// agreement with the JS mirror of the hash (test/reference/dropout_hash.ts), itself checked
// against values computed independently in Python.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor } from '../../engine/tensor.ts';
import { dropoutMask } from '../../engine/ops/dropout.ts';
import { wasmBackend } from '../helpers.ts';
import { dropoutHash, dropoutMaskRef } from '../reference/dropout_hash.ts';

const backend = await wasmBackend();

async function mask(n: number, p: number, seed: number): Promise<Float32Array> {
  const t = Tensor.from(backend, [n], new Float32Array(n).fill(NaN));
  dropoutMask(t, p, seed);
  const m = await t.toFloat32();
  t.dispose();
  return m;
}

test('JS hash matches values computed independently (Python, arbitrary-precision ints masked to 32 bits)', () => {
  const known: [number, number, number][] = [
    [0, 0, 2610615433], [0, 1, 1197063220], [1, 0, 3611765655],
    [12345, 7, 3532857143], [0xffffffff, 123456789, 918322460], [42, 99999, 920739802],
  ];
  for (const [seed, i, h] of known) assert.is(dropoutHash(seed, i), h, `hash(${seed}, ${i})`);
});

test('values are 0 or 1/(1-p); zero fraction within 3 sigma of p (n = 100000)', async () => {
  const n = 100000;
  for (const p of [0.1, 0.5]) {
    const m = await mask(n, p, 1234);
    const keep = Math.fround(1 / Math.fround(1 - Math.fround(p)));
    let zeros = 0;
    for (const v of m) {
      if (v === 0) zeros++;
      else assert.is(v, keep, `p=${p}: a kept value must be exactly f32(1/(1-p))`);
    }
    const sigma = Math.sqrt(p * (1 - p) / n);
    assert.ok(Math.abs(zeros / n - p) < 3 * sigma, `p=${p}: zero fraction ${zeros / n} (3 sigma = ${3 * sigma})`);
  }
});

test('bit-for-bit equal to the JS mirror of the hash (several seeds, odd n; p = 0.5 and 0.75, whose thresholds fall on whole steps of u)', async () => {
  for (const [n, p, seed] of [[100003, 0.1, 7], [37, 0.3, 0], [70001, 0.05, 0xdeadbeef], [4099, 0.5, 3], [4099, 0.75, 11]] as const) {
    const m = await mask(n, p, seed), ref = dropoutMaskRef(n, p, seed);
    let diff = 0;
    for (let i = 0; i < n; i++) if (m[i] !== ref[i]) diff++;
    assert.is(diff, 0, `n=${n} p=${p} seed=${seed}: ${diff} elements differ`);
  }
});

test('same seed gives the same mask; a different seed a different one', async () => {
  const a = await mask(5000, 0.2, 99), b = await mask(5000, 0.2, 99), c = await mask(5000, 0.2, 100);
  assert.equal(Array.from(a), Array.from(b));
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) diff++;
  // Independent masks at p = 0.2 differ in 2 * 0.2 * 0.8 = 32% of places; require at least 25%.
  assert.ok(diff > 0.25 * a.length, `seeds 99 and 100 differ in only ${diff} of ${a.length}`);
});

test('rows: a mask of some rows equals those rows of the whole mask, bit for bit (threads split mid-row)', async () => {
  const width = 37, total = 4001, p = 0.3, seed = 4242;
  const whole = dropoutMaskRef(total * width, p, seed);
  for (const rows of [[0, 1, 2, 3000, 17, 4000], Array.from({ length: 2000 }, (_, i) => (i * 7) % total)]) {
    const idx = Tensor.from(backend, [rows.length], Int32Array.from(rows));
    const t = Tensor.from(backend, [rows.length, width], new Float32Array(rows.length * width).fill(NaN));
    dropoutMask(t, p, seed, idx);
    const m = await t.toFloat32();
    let diff = 0;
    rows.forEach((r, i) => { for (let j = 0; j < width; j++) if (m[i * width + j] !== whole[r * width + j]) diff++; });
    assert.is(diff, 0, `${rows.length} rows: ${diff} elements differ from the whole mask's`);
    assert.throws(() => dropoutMask(Tensor.zeros(backend, [rows.length + 1, width]), p, seed, idx), /must be \[/);
    idx.dispose(); t.dispose();
  }
});

test('p = 0 keeps everything with scale 1; bad p is rejected', async () => {
  const m = await mask(1001, 0, 5);
  assert.ok(m.every((v) => v === 1), 'p = 0: all ones');
  const t = Tensor.zeros(backend, [4]);
  assert.throws(() => dropoutMask(t, 1, 0), /p must be in/);
  assert.throws(() => dropoutMask(t, -0.1, 0), /p must be in/);
  t.dispose();
});

test.run();

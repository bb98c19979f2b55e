// safetensors: reading hand-assembled files, writer round trips (F32/F16/BF16), sharded indexes,
// and a clear error naming the file and the problem for each kind of corruption.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, readShardedSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import type { HostTensor } from '../../engine/model/family.ts';
import { f32Bytes, scratchDir, writeRawSafetensors } from './tmp.ts';

const dir = scratchDir('st');

function throwsWith(fn: () => unknown, ...parts: string[]): void {
  try { fn(); } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) assert.ok(msg.includes(p), `expected "${p}" in: ${msg}`);
    return;
  }
  assert.unreachable(`no error (expected one mentioning ${parts.join(', ')})`);
}

test('reads a hand-assembled file: F32, F16, BF16, I32, metadata, unaligned offsets', () => {
  const p = join(dir, 'hand.safetensors');
  // a: F32 [2,2] at 0..16; h: F16 [3] at 16..22; b: BF16 [1] at 22..24; i: I32 [2] at 24..32
  const data = new Uint8Array(32);
  data.set(f32Bytes([1, -2.5, 3e-3, 1e6]), 0);
  data.set([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00], 16);  // f16 1, -2, 2^-24
  data.set([0x49, 0x40], 22);                          // bf16 3.140625
  data.set(new Uint8Array(Int32Array.from([-7, 123456]).buffer), 24);
  writeRawSafetensors(p, {
    __metadata__: { format: 'pt' },
    h: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
    a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    b: { dtype: 'BF16', shape: [1], data_offsets: [22, 24] },
    i: { dtype: 'I32', shape: [2], data_offsets: [24, 32] },
  }, data);
  const { tensors, metadata } = readSafetensors(p);
  assert.equal(metadata, { format: 'pt' });
  assert.equal(tensors.get('a')!.shape, [2, 2]);
  assert.equal([...tensors.get('a')!.data], [...Float32Array.from([1, -2.5, 3e-3, 1e6])]); // exact
  assert.equal([...tensors.get('h')!.data], [1, -2, 2 ** -24]);                          // exact
  assert.equal([...tensors.get('b')!.data], [3.140625]);                                 // exact
  assert.equal([...tensors.get('i')!.data], [-7, 123456]);                               // exact
});

test('writer round trip: F32 exact, header padded to 8 bytes, no temp file left', () => {
  const sub = scratchDir('stw');
  const p = join(sub, 'w.safetensors');
  const t = new Map<string, HostTensor>([
    ['x', { shape: [2, 3], data: Float32Array.from([0.1, -0.2, 0.3, 4, 5e-8, -6e7]) }],
    ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ['s', { shape: [], data: Float32Array.from([42]) }],
  ]);
  writeSafetensors(p, t, { note: 'hi' });
  const back = readSafetensors(p);
  assert.equal(back.metadata, { note: 'hi' });
  for (const [k, v] of t) {
    assert.equal(back.tensors.get(k)!.shape, v.shape);
    assert.equal([...back.tensors.get(k)!.data], [...v.data]); // exact
  }
  const bytes = readFileSync(p);
  assert.is(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  assert.equal(readdirSync(sub), ['w.safetensors']);
});

test('F16 and BF16 files load to the right f32 values (exact for representable values)', () => {
  const values = [1, -2, 0.5, 0.333251953125, 65504, 2 ** -24, -0.0009765625, 0];
  const t = new Map<string, HostTensor>([['v', { shape: [2, 4], data: Float32Array.from(values) }]]);
  const p16 = join(dir, 'f16.safetensors');
  writeSafetensors(p16, t, undefined, { dtype: 'F16' });
  assert.equal([...readSafetensors(p16).tensors.get('v')!.data], values); // exact
  const bfValues = [1, -2, 0.5, 3.140625, 2 ** 100, -(2 ** -100), 0.0078125, 0];
  const pbf = join(dir, 'bf16.safetensors');
  writeSafetensors(pbf, new Map([['v', { shape: [8], data: Float32Array.from(bfValues) }]]), undefined, { dtype: 'BF16' });
  assert.equal([...readSafetensors(pbf).tensors.get('v')!.data], bfValues); // exact
  // Not representable: rounded to the nearest half (1/3 -> 0x3555 = 0.333251953125).
  writeSafetensors(p16, new Map([['v', { shape: [1], data: Float32Array.from([1 / 3]) }]]), undefined, { dtype: 'F16' });
  assert.equal([...readSafetensors(p16).tensors.get('v')!.data], [0.333251953125]);
});

test('corrupt files: each a clear error naming the file and the problem', () => {
  const p = join(dir, 'bad.safetensors');
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  writeRawSafetensors(p, ok, new Uint8Array(8), { lengthOverride: 10_000n });
  throwsWith(() => readSafetensors(p), 'bad.safetensors', 'header length 10000', 'beyond');
  writeFileSync(p, Buffer.from([1, 2, 3]));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', 'too short');
  writeRawSafetensors(p, null, new Uint8Array(8), { headerText: '{"w": {"dtype": "F32",' });
  throwsWith(() => readSafetensors(p), 'bad.safetensors', 'not valid JSON');
  writeRawSafetensors(p, { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', "tensor 'w'", 'data_offsets [0,8] beyond', '4 data bytes');
  writeRawSafetensors(p, { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', "tensor 'w'", 'shape [3]', '12 bytes', 'span 8 bytes');
  writeRawSafetensors(p, { w: { dtype: 'Q4_K', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', "tensor 'w'", 'unknown dtype "Q4_K"');
  writeRawSafetensors(p, { w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, new Uint8Array(8));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', "tensor 'w'", 'begin after end');
  writeRawSafetensors(p, { w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, new Uint8Array(8));
  throwsWith(() => readSafetensors(p), "tensor 'w'", 'invalid shape');
  writeRawSafetensors(p, { __metadata__: { n: 3 } }, new Uint8Array(0));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', '__metadata__ must be an object of strings');
  writeRawSafetensors(p, [1, 2], new Uint8Array(0));
  throwsWith(() => readSafetensors(p), 'bad.safetensors', 'not a JSON object');
  throwsWith(() => readSafetensors(join(dir, 'nope.safetensors')), 'not found', 'nope.safetensors');
});

test('the tensors must tile the data section: overlaps, gaps and trailing bytes are refused', () => {
  const p = join(dir, 'tile.safetensors');
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
  throwsWith(() => readSafetensors(p), 'tile.safetensors', "tensor 'b' (data_offsets [4,12]) overlaps 'a' ([0,8])");
  // two names over the same bytes (a file that aliases one tensor under two names)
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  throwsWith(() => readSafetensors(p), 'overlaps');
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12));
  throwsWith(() => readSafetensors(p), 'tile.safetensors', "4 bytes of the data section before tensor 'b' (at 4) belong to no tensor");
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(9));
  throwsWith(() => readSafetensors(p), '5 bytes after the last tensor belong to no tensor (the data section is 9 bytes)');
  // zero-size tensors may sit anywhere in the tiling; the header alone is checked (no data read)
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, e: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] }, b: { dtype: 'F16', shape: [2], data_offsets: [4, 8] } }, new Uint8Array(8));
  assert.equal([...readSafetensors(p).tensors.keys()].sort(), ['a', 'b', 'e']);
  // a shape whose element count is not a safe integer cannot match any span
  writeRawSafetensors(p, { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, new Uint8Array(4));
  throwsWith(() => readSafetensors(p), "tensor 'a'", 'span 4 bytes');
});

test('sharded index: loads every shard; a missing shard is named', () => {
  const sub = scratchDir('shard');
  const a = { shape: [2], data: Float32Array.from([1, 2]) }, b = { shape: [1, 3], data: Float32Array.from([3, 4, 5]) };
  writeSafetensors(join(sub, 'model-00001-of-00002.safetensors'), new Map([['a', a]]));
  writeSafetensors(join(sub, 'model-00002-of-00002.safetensors'), new Map([['b', b]]));
  const index = join(sub, 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
  const { tensors } = readShardedSafetensors(index);
  assert.equal([...tensors.keys()].sort(), ['a', 'b']);
  assert.equal([...tensors.get('b')!.data], [3, 4, 5]);
  assert.equal(tensors.get('b')!.shape, [1, 3]);
  writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00003-of-00003.safetensors' } }));
  throwsWith(() => readShardedSafetensors(index), 'model.safetensors.index.json', "shard 'model-00003-of-00003.safetensors'", "'b'", 'not found');
  writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } }));
  throwsWith(() => readShardedSafetensors(index), "tensor 'c'", 'does not contain it');
  writeFileSync(index, '{"weight_map": ');
  throwsWith(() => readShardedSafetensors(index), 'model.safetensors.index.json', 'not valid JSON');
});

test.run();

// safetensors read/write. Format: u64 little-endian header length N, N bytes of JSON
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {str: str} }, then the data
// section; offsets are relative to the data section. Every header entry is validated before any data
// is read, so a corrupt file fails with a message naming the file and the tensor, not with garbage.
// The readers take a ByteSource (a file on disk, a File dropped on the web page, bytes) and the
// writer returns bytes; the path-taking functions are thin Node wrappers.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from './atomic.ts';
import { basename, dirname } from 'node:path';
import type { HostTensor, HostWeights } from '../model/family.ts';
import { bf16ToF32Array, f16ToF32Array, f32ToBf16Array, f32ToF16Array } from './dtype.ts';
import { dirFileSet, fileSource } from './node_files.ts';
import { readAll, type ByteSource, type FileSet } from './source.ts';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

export interface SafetensorsEntry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }
export interface SafetensorsHeader { entries: SafetensorsEntry[]; metadata: Record<string, string>; dataStart: number; dataBytes: number }
export interface SafetensorsFile { tensors: HostWeights; metadata: Record<string, string> }

// The spec caps the header at 100 MB; anything larger is a corrupt length field.
const MAX_HEADER_BYTES = 100_000_000;

/** Reads and validates the header of a safetensors file. */
function readHeader(src: ByteSource): SafetensorsHeader {
  const { name: file, path, size } = src;
  if (size < 8) throw new Error(`${file}: file is ${size} bytes, too short for the 8-byte header length (${path})`);
  const n = new DataView(src.read(0, 8).buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8)) {
    throw new Error(`${file}: header length ${n} is beyond the file's ${size - 8} bytes after the length field (${path})`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) throw new Error(`${file}: header length ${n} exceeds the 100 MB limit (${path})`);
  const headerLen = Number(n);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(src.read(8, headerLen)));
  } catch (e) {
    throw new Error(`${file}: header is not valid JSON: ${(e as Error).message} (${path})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${file}: header is not a JSON object (${path})`);
  }
  const dataStart = 8 + headerLen;
  const dataBytes = size - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new Error(`${file}: __metadata__ must be an object of strings (${path})`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(validateEntry(file, path, name, raw, dataBytes));
  }
  // As the reference implementation requires: the tensors tile the data section exactly, with no
  // overlap, no gap and nothing after the last (no byte is read twice or hides unread).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin < at) {
      const other = sorted.find((x) => x !== e && x.begin < e.end && e.begin < x.end)!;
      throw new Error(`${file}: tensor '${e.name}' (data_offsets [${e.begin},${e.end}]) overlaps '${other.name}' ([${other.begin},${other.end}]) (${path})`);
    }
    if (e.begin > at) throw new Error(`${file}: ${e.begin - at} bytes of the data section before tensor '${e.name}' (at ${at}) belong to no tensor (${path})`);
    at = e.end;
  }
  if (at !== dataBytes) throw new Error(`${file}: ${dataBytes - at} bytes after the last tensor belong to no tensor (the data section is ${dataBytes} bytes) (${path})`);
  return { entries, metadata, dataStart, dataBytes };
}

function validateEntry(file: string, path: string, name: string, raw: unknown, dataBytes: number): SafetensorsEntry {
  const bad = (what: string) => new Error(`${file}: tensor '${name}' ${what} (${path})`);
  if (raw === null || typeof raw !== 'object') throw bad('has no {dtype, shape, data_offsets} entry');
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
    throw bad(`has unknown dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  const dtype = e.dtype as SafetensorsDtype;
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw bad(`has an invalid shape ${JSON.stringify(e.shape)}`);
  }
  const shape = e.shape as number[];
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`has invalid data_offsets ${JSON.stringify(off)}`);
  }
  const [begin, end] = off as [number, number];
  if (begin > end) throw bad(`has data_offsets [${begin},${end}] with begin after end`);
  if (end > dataBytes) throw bad(`has data_offsets [${begin},${end}] beyond the file's ${dataBytes} data bytes`);
  const count = shape.reduce((a, b) => a * b, 1);
  const need = count * DTYPE_BYTES[dtype];
  if (need !== end - begin) {
    throw bad(`has shape [${shape}] ${dtype} (${need} bytes) but data_offsets [${begin},${end}] span ${end - begin} bytes`);
  }
  return { name, dtype, shape, begin, end };
}

/** The validated header only (names, dtypes, shapes, metadata), without reading tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return readHeader(openOrThrow(path));
}

/** Reads every tensor of a safetensors file at `path`, converted to f32. */
export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(openOrThrow(path));
}

/** Reads every tensor of a safetensors file, converted to f32 (one tensor's bytes in memory at a time). */
export function parseSafetensors(src: ByteSource): SafetensorsFile {
  const header = readHeader(src);
  const tensors: HostWeights = new Map();
  for (const e of header.entries) {
    const bytes = src.read(header.dataStart + e.begin, e.end - e.begin);
    tensors.set(e.name, { shape: e.shape.slice(), data: toF32(bytes, e.dtype) });
  }
  return { tensors, metadata: header.metadata };
}

// Fresh Uint8Arrays start at offset 0 of their own buffer, so typed views are aligned.
// The host is assumed little-endian, as the format is (true of every platform Node runs on here).
function toF32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  switch (dtype) {
    case 'F32': return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    case 'F16': return f16ToF32Array(bytes);
    case 'BF16': return bf16ToF32Array(bytes);
    case 'F64': return Float32Array.from(new Float64Array(bytes.buffer, 0, bytes.length / 8));
    case 'I32': return Float32Array.from(new Int32Array(bytes.buffer, 0, bytes.length / 4));
    case 'I64': return Float32Array.from(new BigInt64Array(bytes.buffer, 0, bytes.length / 8), (v) => Number(v));
  }
}

function openOrThrow(path: string): ByteSource {
  if (!existsSync(path)) throw new Error(`safetensors file not found: ${path}`);
  return fileSource(path);
}

export interface WriteOptions { dtype?: 'F32' | 'F16' | 'BF16' }

/**
 * Writes tensors (f32 on the host) as a safetensors file (encodeSafetensors). Written to a
 * temporary file in the same directory and renamed over `path`, so readers never see a partial file.
 */
export function writeSafetensors(path: string, tensors: Map<string, HostTensor>, metadata?: Record<string, string>, opts: WriteOptions = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, opts, path));
}

/**
 * Tensors (f32 on the host) as the chunks of a safetensors file, stored as F32 unless opts.dtype
 * says otherwise. The header is padded with spaces to a multiple of 8 so the data section is
 * aligned. `where` names the file in errors.
 */
export function encodeSafetensors(tensors: Map<string, HostTensor>, metadata?: Record<string, string>, opts: WriteOptions = {}, where = 'safetensors'): Uint8Array[] {
  const path = where;
  const dtype = opts.dtype ?? 'F32';
  const size = DTYPE_BYTES[dtype];
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`writeSafetensors ${path}: tensor '${name}' has shape [${t.shape}] (${count} elements) but ${t.data.length} values`);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + count * size] };
    offset += count * size;
  }
  const utf8 = new TextEncoder();
  let json = JSON.stringify(header);
  const pad = (8 - (utf8.encode(json).length % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = utf8.encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [len, headerBytes, ...[...tensors.values()].map((t) => encode(t.data, dtype))];
}

function encode(data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F16') return f32ToF16Array(data);
  if (dtype === 'BF16') return f32ToBf16Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Loads a sharded checkpoint from its index (model.safetensors.index.json: { weight_map: {tensor: shard} }).
 * Every shard named is loaded; every tensor the index lists must be in the shard it names.
 */
export function readShardedSafetensors(indexPath: string): SafetensorsFile {
  if (!existsSync(indexPath)) throw new Error(`safetensors index not found: ${indexPath}`);
  return parseShardedSafetensors(dirFileSet(dirname(indexPath)), basename(indexPath));
}

/** A sharded checkpoint from the index file `indexName` of `files` and the shards beside it. */
export function parseShardedSafetensors(files: FileSet, indexName: string): SafetensorsFile {
  const file = indexName;
  const indexPath = files.pathOf(indexName);
  let index: unknown;
  try {
    index = JSON.parse(new TextDecoder().decode(readAll(files.open(indexName))));
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message} (${indexPath})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new Error(`${file}: no "weight_map" object (${indexPath})`);
  }
  const weightMap = map as Record<string, unknown>;
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new Error(`${file}: tensor '${name}' maps to an invalid shard name ${JSON.stringify(shard)} (${indexPath})`);
    }
    if (!shards.has(shard)) shards.set(shard, []);
    shards.get(shard)!.push(name);
  }
  const tensors: HostWeights = new Map();
  const metadata: Record<string, string> = {};
  for (const [shard, names] of shards) {
    const shardPath = files.pathOf(shard);
    if (!files.has(shard)) {
      throw new Error(`${file}: shard '${shard}' (holding '${names[0]}'${names.length > 1 ? ` and ${names.length - 1} more` : ''}) not found at ${shardPath}`);
    }
    const part = parseSafetensors(files.open(shard));
    for (const name of names) {
      const t = part.tensors.get(name);
      if (!t) throw new Error(`${file}: tensor '${name}' is mapped to shard '${shard}' but that shard does not contain it (${shardPath})`);
      tensors.set(name, t);
    }
    Object.assign(metadata, part.metadata);
  }
  return { tensors, metadata };
}

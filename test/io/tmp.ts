// Scratch directories for test fixtures, always under os.tmpdir() (never in the repo or shared data).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A fresh directory under os.tmpdir(), removed when the test process exits. */
export function scratchDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `vaccine-${tag}-`));
  made.push(d);
  return d;
}

/**
 * A safetensors file assembled byte by byte from a header object and a data section, independent
 * of the writer under test (and able to express corrupt files).
 */
export function writeRawSafetensors(path: string, header: unknown, data: Uint8Array, opts: { headerText?: string; lengthOverride?: bigint } = {}): void {
  const text = opts.headerText ?? JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lengthOverride ?? BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, data]));
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

// Reading fields of a Hugging Face config.json with errors that name the file and the field: what
// every family's config reader needs, written once.
import { configFile } from './family.ts';

export class HFConfigFields {
  /** the config.json every error names */
  readonly file: string;

  constructor(readonly json: Record<string, unknown>, path: string) {
    this.file = configFile(path);
  }

  /** A positive integer; `fallback` when the key is absent. */
  posInt(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${this.file}: "${key}" must be a positive integer, got ${JSON.stringify(this.json[key])}`);
    }
    return v;
  }

  /** A positive finite number; `fallback` when the key is absent. */
  posNum(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new Error(`${this.file}: "${key}" must be a positive number, got ${JSON.stringify(this.json[key])}`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'boolean') throw new Error(`${this.file}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A token id (the first, for a list such as eos_token_id: [2, 32000]) inside the vocabulary. */
  tokenId(key: string, fallback: number, vocabSize: number): number {
    let v = this.json[key];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) v = fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Error(`${this.file}: "${key}" must be a non-negative integer (or a list of them), got ${JSON.stringify(this.json[key])}`);
    }
    if (v >= vocabSize) throw new Error(`${this.file}: ${key} ${v} is outside the vocabulary (${vocabSize})`);
    return v;
  }

  /** Throws naming the field when `ok` is false: `${file}: ${message}`. */
  require(ok: boolean, message: string): void {
    if (!ok) throw new Error(`${this.file}: ${message}`);
  }
}

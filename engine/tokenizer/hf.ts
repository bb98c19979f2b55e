// Hugging Face tokenizer.json through @huggingface/tokenizers. BOS/EOS come from tokenizer_config.json
// (bos_token / eos_token) beside it, else from config.json's ids; special tokens are added by this
// wrapper (not by the post-processor) so that encode's {bos, eos} options mean the same everywhere.
// {bos: true} adds BOS only where the tokenizer's own encoding does (Python's tokenizer(text)):
// Llama-2/TinyLlama tokenizers do; Qwen2 and GPT-2-style ones (SmolLM) do not, and the reference
// training pipeline then has no BOS either.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Tokenizer as HFTokenizerImpl } from '@huggingface/tokenizers';
import { dirFileSet, fileSource } from '../io/node_files.ts';
import { readText, type ByteSource, type FileSet } from '../io/source.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

function readJson(src: ByteSource): Record<string, unknown> {
  try {
    const v = JSON.parse(readText(src));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new Error(`${src.name}: ${(e as Error).message} (${src.path})`);
  }
}

export class HFTokenizer implements Tokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly vocabSize: number;
  /** whether encoding with special tokens puts BOS first (what {bos: true} follows) */
  readonly addsBos: boolean;
  private readonly impl: HFTokenizerImpl;

  constructor(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>, fallbackIds: { bos?: number; eos?: number } = {}) {
    this.impl = new HFTokenizerImpl(tokenizerJson, tokenizerConfig);
    const idOf = (key: string, fallback: number | undefined): number => {
      let tok = tokenizerConfig[key];
      if (tok && typeof tok === 'object') tok = (tok as { content?: unknown }).content;
      if (typeof tok === 'string') {
        const id = this.impl.token_to_id(tok);
        if (id !== undefined) return id;
      }
      return fallback ?? -1;
    };
    this.bosId = idOf('bos_token', fallbackIds.bos);
    this.eosId = idOf('eos_token', fallbackIds.eos);
    this.addsBos = this.bosId >= 0 && this.impl.encode('a', { add_special_tokens: true }).ids[0] === this.bosId;
    let maxId = -1;
    for (const id of this.impl.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
  }

  static fromFile(path: string): HFTokenizer {
    if (!existsSync(path)) throw new Error(`tokenizer not found: ${path}`);
    return HFTokenizer.fromSource(fileSource(path), dirFileSet(dirname(path)));
  }

  /** From a tokenizer.json and the files beside it (tokenizer_config.json, config.json: read where present). */
  static fromSource(json: ByteSource, beside: FileSet | null): HFTokenizer {
    const near = (name: string) => (beside?.has(name) ? readJson(beside.open(name)) : {});
    const tokenizerConfig = near('tokenizer_config.json');
    const modelCfg = near('config.json');
    const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    try {
      return new HFTokenizer(readJson(json), tokenizerConfig, { bos: num(first(modelCfg.bos_token_id)), eos: num(first(modelCfg.eos_token_id)) });
    } catch (e) {
      throw new Error(`${json.name}: cannot build the tokenizer: ${(e as Error).message} (${json.path})`);
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.impl.encode(text, { add_special_tokens: false }).ids;
    if (opts.bos && this.addsBos) ids.unshift(this.bosId);
    if (opts.eos && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  decode(ids: number[]): string {
    return this.impl.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  decodeToken(prev: number, id: number): string {
    if (id === this.bosId || id === this.eosId) return '';
    // Decoders (Metaspace, ByteLevel) depend on context: the text a token adds is the difference
    // between decoding with and without it.
    if (prev < 0 || prev === this.bosId) return this.decode([id]);
    return this.decode([prev, id]).slice(this.decode([prev]).length);
  }
}

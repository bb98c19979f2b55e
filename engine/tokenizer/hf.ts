// Hugging Face tokenizer.json through @huggingface/tokenizers. BOS/EOS come from tokenizer_config.json
// (bos_token / eos_token) beside it, else from config.json's ids; special tokens are added by this
// wrapper (not by the post-processor) so that encode's {bos, eos} options mean the same everywhere.
// {bos: true} adds BOS only where the tokenizer's own encoding does (Python's tokenizer(text)):
// Llama-2/TinyLlama tokenizers do; Qwen2 and GPT-2-style ones (SmolLM) do not, and the reference
// training pipeline then has no BOS either.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer as HFTokenizerImpl } from '@huggingface/tokenizers';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new Error(`${basename(path)}: ${(e as Error).message} (${path})`);
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
    const dir = dirname(path);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const tokenizerConfig = existsSync(cfgPath) ? readJson(cfgPath) : {};
    const modelCfgPath = join(dir, 'config.json');
    const modelCfg = existsSync(modelCfgPath) ? readJson(modelCfgPath) : {};
    const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    try {
      return new HFTokenizer(readJson(path), tokenizerConfig, { bos: num(first(modelCfg.bos_token_id)), eos: num(first(modelCfg.eos_token_id)) });
    } catch (e) {
      throw new Error(`${basename(path)}: cannot build the tokenizer: ${(e as Error).message} (${path})`);
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

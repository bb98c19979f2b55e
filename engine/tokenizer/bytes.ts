// A byte-level tokenizer: ids 0..255 are the UTF-8 bytes, then BOS and EOS. It needs no vocabulary
// file, so the built-in demo and tests can train a tiny model on any text without downloading anything.
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

export class ByteTokenizer implements Tokenizer {
  readonly bosId = 256;
  readonly eosId = 257;
  readonly vocabSize = 258;

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = Array.from(new TextEncoder().encode(text));
    if (opts.bos) ids.unshift(this.bosId);
    if (opts.eos) ids.push(this.eosId);
    return ids;
  }

  decode(ids: number[]): string {
    return new TextDecoder().decode(Uint8Array.from(ids.filter((id) => id >= 0 && id < 256)));
  }
}

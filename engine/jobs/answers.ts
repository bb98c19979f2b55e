// The answers an evaluation scores: each prompt encoded as the reference's pred.py encodes it (the
// Alpaca template up to "### Response:", BOS first), greedy continuations with a KV cache, the
// answer cut out as pred.py does. Generation is the model layer's; this file only feeds it in
// slices (for progress and ETA) and turns tokens back into text.
import { host } from '#host';
import type { CausalLM } from '../model/causal_lm.ts';
import { generate } from '../model/generate.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { responseFromContinuation } from '../eval/answer.ts';

/** Greedy continuations of token prompts (the prompt not repeated), stopping at `eosId`, in the order given. */
export type GenerateFn = (prompts: number[][], opts: { maxNewTokens: number; eosId: number; batchSize: number }) => Promise<number[][]>;

/**
 * The model layer's batched generation (engine/model/generate.ts): greedy, a KV cache, the prompts
 * of a call decoded together (right-padded, grouped by length), each stopping at `eosId`.
 */
export function modelGenerate(model: CausalLM): GenerateFn {
  return (prompts, o) => generate(model, prompts, { maxNewTokens: o.maxNewTokens, eosId: o.eosId, stopAtEos: true, temperature: 0, batchSize: o.batchSize });
}

export interface AnswerProgress { done: number; total: number }

/** An evaluation stopped by its signal (Ctrl-C): nothing is written. */
export class EvaluationInterrupted extends Error {
  constructor(readonly done: number, readonly total: number) {
    super(`interrupted after ${done} of ${total} answers`);
    this.name = 'EvaluationInterrupted';
  }
}

export interface Answers {
  /** the answer to each prompt (pred.py: the text after "### Response:", stripped) */
  answers: string[];
  /** how many generated tokens each answer has (EOS not counted) */
  tokens: number[];
  /** answers that stopped because the model's context was full, before EOS and before maxNewTokens */
  cutByContext: number;
}

/**
 * Encodes every prompt, checks it fits the model's context, and generates in slices of
 * `batchSize` prompts of similar length (longest first), reporting progress after each slice.
 * A prompt that leaves no room for one new token is an Error naming its index (the caller maps it
 * to its file and line before anything is generated: see `encodePrompts`). An aborted `signal`
 * stops it between slices with an EvaluationInterrupted.
 */
export async function answerPrompts(generate: GenerateFn, tokenizer: Tokenizer, ids: number[][], o: {
  maxNewTokens: number; batchSize: number; eosId: number; maxPositions: number;
}, onProgress?: (p: AnswerProgress) => void, signal?: AbortSignal): Promise<Answers> {
  const n = ids.length;
  const order = ids.map((_, i) => i).sort((a, b) => ids[b].length - ids[a].length);
  const answers: string[] = new Array(n), tokens: number[] = new Array(n);
  let cutByContext = 0;
  for (let s = 0; s < n; s += o.batchSize) {
    // let pending signals and I/O run between slices (a WASM decode may never yield to the event loop)
    await host.yieldToEventLoop();
    if (signal?.aborted) throw new EvaluationInterrupted(s, n);
    const slice = order.slice(s, s + o.batchSize);
    const outs = await generate(slice.map((i) => ids[i]), { maxNewTokens: o.maxNewTokens, eosId: o.eosId, batchSize: o.batchSize });
    slice.forEach((i, k) => {
      let cont = outs[k];
      const ended = cont.length > 0 && cont[cont.length - 1] === o.eosId;
      if (ended) cont = cont.slice(0, -1);
      else if (cont.length < o.maxNewTokens && ids[i].length + cont.length >= o.maxPositions) cutByContext++;
      tokens[i] = cont.length;
      answers[i] = responseFromContinuation(tokenizer.decode(cont));
    });
    onProgress?.({ done: Math.min(n, s + slice.length), total: n });
  }
  return { answers, tokens, cutByContext };
}

/**
 * Token ids of each prompt text (BOS first, as pred.py's tokenizer call), or the index of the first
 * prompt that does not fit the model's context with room for one new token.
 */
export function encodePrompts(tokenizer: Tokenizer, texts: readonly string[], maxPositions: number, vocabSize: number):
  { ids: number[][] } | { tooLong: number; length: number } | { badToken: number; id: number } {
  const ids: number[][] = [];
  for (let i = 0; i < texts.length; i++) {
    const t = tokenizer.encode(texts[i], { bos: true });
    if (t.length >= maxPositions) return { tooLong: i, length: t.length };
    for (const id of t) if (id >= vocabSize) return { badToken: i, id };
    ids.push(t);
  }
  return { ids };
}

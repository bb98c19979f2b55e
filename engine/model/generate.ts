// Batched generation with a KV cache, for any CausalLM: many prompts decode together, one forward
// per step for the whole batch (CausalLM.decode), each prompt stopping on its own.
//
// A batch's prompts are right-padded into one chunk that fills every sequence's cache from
// position 0; then each step feeds every unfinished sequence its last token at its own position.
// Sequences never see each other's keys or padding, so a prompt decodes to the same tokens in a
// batch as alone (test/model/generate.test.ts checks it).
//
// The next token is chosen on the host from each row's logits: greedy (temperature 0), or
// sampled from softmax(logits / temperature), restricted to the nucleus when topP < 1 (the most
// probable tokens whose probabilities reach topP together, as HF's top_p). `onTokens` sees every
// step's new tokens as they come (for streaming output); `signal` stops generation early.
import { host } from '#host';
import { Rng } from '../random.ts';
import type { CausalLM } from './causal_lm.ts';
import { makeChunk, type KVCache } from './kv_cache.ts';

export interface GenerateOptions {
  /** tokens to generate per prompt, at most (fewer where the model's positions run out) */
  maxNewTokens: number;
  /** 0 (default): greedy; otherwise softmax sampling at this temperature */
  temperature?: number;
  /**
   * nucleus sampling (with temperature > 0): draw only from the most probable tokens whose
   * probabilities add up to at least topP, renormalized; in (0, 1], default 1 (every token)
   */
  topP?: number;
  /** sampling: prompt i draws from its own generator seeded seed + i (so prompt i alone with seed + i draws the same); default 0 */
  seed?: number;
  /** stop a prompt once it emits eosId (the EOS is kept as its last token); default false */
  stopAtEos?: boolean;
  /** default: the model's config.eosId */
  eosId?: number;
  /**
   * prompts decoded together (default 16); prompts are grouped by length so that little is
   * padded, and the results come back in the order given
   */
  batchSize?: number;
  /**
   * Called after each decoding step with the token each unfinished prompt just got (`prompt`: its
   * index in `prompts`; `last`: its final token). Awaited before the next step.
   */
  onTokens?: (tokens: readonly NewToken[]) => void | Promise<void>;
  /**
   * when aborted, generation stops after the current step; each prompt keeps the tokens it has.
   * With a signal, each step ends by yielding to the event loop (the host's yieldToEventLoop: setImmediate in Node), so that what
   * aborts it (a signal handler, a timer, a closed pipe) runs between tokens even on a backend
   * that computes on the main thread.
   */
  signal?: AbortSignal;
}

/** One new token of one prompt (GenerateOptions.onTokens). */
export interface NewToken { prompt: number; token: number; last: boolean }

/** The new tokens of every prompt (the prompt itself not repeated), in the order of `prompts`. */
export async function generate(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<number[][]> {
  const c = model.config;
  const maxNew = opts.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be an integer >= 0, got ${maxNew}`);
  const temperature = opts.temperature ?? 0;
  if (!(temperature >= 0)) throw new Error(`generate: temperature must be >= 0, got ${temperature}`);
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
  const batchSize = opts.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`generate: batchSize must be an integer >= 1, got ${batchSize}`);
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error(`generate: prompt ${i} is empty (pass at least the BOS id)`);
    if (p.length > model.maxPositions) throw new Error(`generate: prompt ${i} has ${p.length} tokens, beyond the model's ${model.maxPositions} positions`);
    for (const id of p) if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new Error(`generate: prompt ${i} has token id ${id}, outside the vocabulary (${c.vocabSize})`);
  });
  const row: RowOptions = {
    temperature, topP, seed: opts.seed ?? 0, stopAtEos: opts.stopAtEos ?? false, eosId: opts.eosId ?? c.eosId,
    onTokens: opts.onTokens, signal: opts.signal,
  };

  // Longest first, so each group's prompts have similar lengths (stable: ties keep their order).
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[b].length - prompts[a].length);
  const out: number[][] = new Array(prompts.length);
  for (let g = 0; g < order.length; g += batchSize) {
    if (row.signal?.aborted) {
      for (const i of order.slice(g)) out[i] = [];
      break;
    }
    const group = order.slice(g, g + batchSize);
    const tokens = await generateGroup(model, group.map((i) => prompts[i]), group, maxNew, row);
    group.forEach((i, k) => { out[i] = tokens[k]; });
  }
  return out;
}

interface RowOptions {
  temperature: number; topP: number; seed: number; stopAtEos: boolean; eosId: number;
  onTokens?: GenerateOptions['onTokens']; signal?: AbortSignal;
}

/** One batch: prefill the prompts as one chunk, then one token per unfinished sequence per step. */
async function generateGroup(model: CausalLM, prompts: (readonly number[])[], index: number[], maxNew: number,
  o: RowOptions): Promise<number[][]> {
  const B = prompts.length, V = model.config.vocabSize;
  const lengths = Int32Array.from(prompts, (p) => p.length);
  // The last token emitted is never fed back: a sequence needs its prompt's slots plus one per other token.
  const budget = Array.from(lengths, (L) => Math.min(maxNew, model.maxPositions - L));
  const out: number[][] = prompts.map(() => []);
  if (budget.every((n) => n === 0)) return out;
  const capacity = Math.max(...Array.from(lengths, (L, b) => L + Math.max(0, budget[b] - 1)));
  const rngs = index.map((i) => new Rng(o.seed + i));
  const done = budget.map((n) => n === 0);

  const cache: KVCache = model.createKVCache(B, capacity);
  try {
    const T = Math.max(...lengths);
    const ids = new Int32Array(B * T);
    prompts.forEach((p, b) => ids.set(p, b * T));
    let logits = await step(model, cache, ids, T, new Int32Array(B), lengths);
    const start = new Int32Array(B), active = new Int32Array(B), next = new Int32Array(B);
    for (;;) {
      const fresh: NewToken[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const row = logits.subarray(b * V, (b + 1) * V);
        const tok = o.temperature > 0 ? sample(row, o.temperature, o.topP, rngs[b]) : argmax(row);
        out[b].push(tok);
        if (out[b].length >= budget[b] || (o.stopAtEos && tok === o.eosId)) done[b] = true;
        next[b] = tok;
        fresh.push({ prompt: index[b], token: tok, last: done[b] });
      }
      if (o.onTokens) await o.onTokens(fresh);
      if (o.signal) await host.yieldToEventLoop();
      if (done.every(Boolean) || o.signal?.aborted) break;
      for (let b = 0; b < B; b++) {
        active[b] = done[b] ? 0 : 1;
        // the token just emitted sits right after the prompt and the tokens before it
        start[b] = done[b] ? 0 : lengths[b] + out[b].length - 1;
        if (done[b]) next[b] = 0;
      }
      logits = await step(model, cache, next, 1, start, active);
    }
  } finally {
    cache.dispose();
  }
  return out;
}

/** One decode call; the logits come back to the host ([B, vocab]) for choosing the next tokens. */
async function step(model: CausalLM, cache: KVCache, ids: Int32Array, T: number, start: Int32Array, lengths: Int32Array): Promise<Float32Array> {
  const chunk = makeChunk(cache, ids, T, start, lengths);
  try {
    const logits = model.decode(cache, chunk);
    try {
      return (await logits.read()) as Float32Array;
    } finally {
      logits.dispose();
    }
  } finally {
    chunk.dispose();
  }
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * A draw from softmax(logits / temperature) (one rng.next()). With topP < 1 only the nucleus is
 * drawn from: the tokens in order of probability (ties: lower id first) up to and including the
 * one whose cumulative probability reaches topP of the total. topP 1 draws over every token in id
 * order, as before nucleus sampling existed (the same draws for the same seed).
 */
export function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) { p[i] = Math.exp((logits[i] - max) / temperature); s += p[i]; }
  if (topP >= 1) {
    let r = rng.next() * s;
    for (let i = 0; i < p.length; i++) { r -= p[i]; if (r <= 0) return i; }
    return p.length - 1;
  }
  const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b);
  let kept = 0, mass = 0;
  while (kept < order.length && (kept === 0 || mass < topP * s)) mass += p[order[kept++]];
  let r = rng.next() * mass;
  for (let k = 0; k < kept; k++) { r -= p[order[k]]; if (r <= 0) return order[k]; }
  return order[kept - 1];
}

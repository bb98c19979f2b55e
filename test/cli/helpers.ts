// Running the command line as users do (`node runtime/align.js` over the dist/ bundle) from tests:
// the bundle built once per test process, tiny fixtures made at test time (a random HF model of a
// few KB with the hand-built 24-token tokenizer, a few data rows), subprocesses run in parallel,
// and a directory's content hash to check that a failed run left it as it was.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomLlamaWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import type { LlamaConfig } from '../../engine/model/llama/config.ts';

export const root = new URL('../../', import.meta.url).pathname;
export const ALIGN = join(root, 'runtime/align.js');
export const GENERATE = join(root, 'runtime/generate.js');

/** Builds dist/ (node build.mjs) once per test process, so that every CLI test runs the current sources. */
export function buildOnce(): void {
  const g = globalThis as { __vaccineDistBuilt?: boolean };
  if (g.__vaccineDistBuilt) return;
  execFileSync(process.execPath, ['build.mjs'], { cwd: root, stdio: 'ignore' });
  g.__vaccineDistBuilt = true;
}

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs `node runtime/align.js ...args` to its end (killed after timeoutMs). */
export function runAlign(args: string[], o: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return runScript(ALIGN, args, o);
}

/** Runs `node SCRIPT ...args` to its end (killed after timeoutMs). */
export function runScript(script: string, args: string[], o: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, ...args], { cwd: o.cwd ?? root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 180_000);
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** Runs `jobs` with at most `width` at a time; results in order. */
export async function inBatches<T, R>(items: readonly T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]); }
  }));
  return out;
}

/** A sha256 over a directory's files (relative names and bytes), or 'absent'. */
export function dirHash(path: string): string {
  if (!existsSync(path)) return 'absent';
  const h = createHash('sha256');
  const walk = (p: string) => {
    const st = statSync(p);
    h.update(`${relative(path, p)}\0${st.isDirectory() ? 'dir' : st.size}\0`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n));
    else h.update(readFileSync(p));
  };
  walk(path);
  return h.digest('hex');
}

export const TINY_HF_CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24,
  num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
  rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};

/** The LlamaConfig of TINY_HF_CONFIG (with `positions` positions). */
export function tinyHfConfig(namePath: string, positions = 256): LlamaConfig {
  return tinyLlamaConfig({ vocabSize: 32, dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 2, nKvHeads: 1, headDim: 8,
    maxSeqLen: positions, bosId: 1, eosId: 2, tiedEmbeddings: false, namePath });
}

/**
 * A tiny random Hugging Face model directory (config.json, model.safetensors, the 24-token
 * tokenizer.json); `positions` is its max_position_embeddings (an Alpaca prompt is ~250 tokens).
 */
export function writeTinyModel(dir: string, seed = 3, positions = 256): LlamaConfig {
  mkdirSync(dir, { recursive: true });
  const config = tinyHfConfig(dir, positions);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...TINY_HF_CONFIG, max_position_embeddings: positions }));
  writeSafetensors(join(dir, 'model.safetensors'), randomLlamaWeights(config, seed));
  copyFileSync(join(root, 'test/fixtures/hf-tiny-tokenizer/tokenizer.json'), join(dir, 'tokenizer.json'));
  return config;
}

/** Short alignment rows in JSONL (they fit in --max-length 160 with this tokenizer). */
export function writeRows(path: string, n = 6): string {
  const rows = Array.from({ length: n }, (_, i) => ({ instruction: `Steal car ${i}?`, input: i % 2 ? 'now' : '', output: 'No. I will not help.' }));
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}

/** The options every quick CLI run in these tests takes. */
export const FAST = ['--backend', 'wasm', '--threads', '1', '--batch-size', '2', '--max-length', '160'];

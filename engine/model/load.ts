// One entry point for every checkpoint format the engine reads.
import { existsSync, statSync } from 'node:fs';
import type { HostWeights, LlamaConfig } from './config.ts';
import { loadHFModel } from './load_hf.ts';
import { loadLlama2cModel } from './load_llama2c.ts';

/** A directory -> Hugging Face (config.json + safetensors); a .bin file -> llama2.c checkpoint. */
export function loadModel(path: string): { config: LlamaConfig; weights: HostWeights } {
  if (!existsSync(path)) throw new Error(`model not found: ${path}`);
  if (statSync(path).isDirectory()) return loadHFModel(path);
  if (path.endsWith('.bin')) return loadLlama2cModel(path);
  throw new Error(`cannot load model ${path}: expected a Hugging Face model directory (config.json + model.safetensors) or a llama2.c .bin checkpoint`);
}

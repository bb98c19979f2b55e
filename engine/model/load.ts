// One entry point for every checkpoint format the engine reads: a Hugging Face directory (any
// registered family), or a file in a format some family reads (llama2.c's .bin).
import { existsSync, statSync } from 'node:fs';
import type { HostWeights, ModelConfig } from './family.ts';
import { loadHFModel } from './load_hf.ts';
import { FAMILIES } from './registry.ts';

export function loadModel(path: string): { config: ModelConfig; weights: HostWeights } {
  if (!existsSync(path)) throw new Error(`model not found: ${path}`);
  if (statSync(path).isDirectory()) return loadHFModel(path);
  const formats = FAMILIES.flatMap((f) => f.checkpointFormats);
  const format = formats.find((f) => f.matches(path));
  if (format) return format.load(path);
  throw new Error(`cannot load model ${path}: expected a Hugging Face model directory (config.json + model.safetensors)${formats.map((f) => ` or a ${f.describe}`).join('')}`);
}

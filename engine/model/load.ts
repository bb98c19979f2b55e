// One entry point for every checkpoint format the engine reads: a Hugging Face directory (any
// registered family), or a file in a format some family reads (llama2.c's .bin). loadModel takes
// a path (Node); loadModelFrom takes the files themselves (the web page's dropped files).
import { existsSync, statSync } from 'node:fs';
import { fileSource } from '../io/node_files.ts';
import type { ByteSource, FileSet } from '../io/source.ts';
import type { HostWeights, ModelConfig } from './family.ts';
import { loadHFModel, loadHFModelFrom } from './load_hf.ts';
import { FAMILIES } from './registry.ts';

export function loadModel(path: string): { config: ModelConfig; weights: HostWeights } {
  if (!existsSync(path)) throw new Error(`model not found: ${path}`);
  if (statSync(path).isDirectory()) return loadHFModel(path);
  return loadModelFile(fileSource(path));
}

/** A model in a single file, in a format some family reads (llama2.c's .bin). */
export function loadModelFile(src: ByteSource): { config: ModelConfig; weights: HostWeights } {
  const formats = FAMILIES.flatMap((f) => f.checkpointFormats);
  const format = formats.find((f) => f.matches(src.path));
  if (format) return format.load(src);
  throw new Error(`cannot load model ${src.path}: expected a Hugging Face model directory (config.json + model.safetensors)${formats.map((f) => ` or a ${f.describe}`).join('')}`);
}

/**
 * A model from a set of files: a Hugging Face model when it holds config.json, else the one
 * file named `checkpoint` (a llama2.c .bin).
 */
export function loadModelFrom(files: FileSet, checkpoint?: string): { config: ModelConfig; weights: HostWeights } {
  if (files.has('config.json')) return loadHFModelFrom(files);
  if (checkpoint === undefined) throw new Error(`${files.path}: no config.json (a Hugging Face model) and no checkpoint file named`);
  return loadModelFile(files.open(checkpoint));
}

// Hugging Face checkpoint directory -> config (read by the family config.json names) + f32 host
// weights with HF names, checked against the family's weight table. The directory is a FileSet:
// a folder on disk (loadHFModel) or the files dropped on the web page.
import { existsSync, statSync } from 'node:fs';
import { dirFileSet } from '../io/node_files.ts';
import { parseSafetensors, parseShardedSafetensors } from '../io/safetensors.ts';
import { readText, type FileSet } from '../io/source.ts';
import { checkWeights, type HostWeights, type ModelConfig } from './family.ts';
import { configFromHF, familyOf } from './registry.ts';

export function loadHFModel(dir: string): { config: ModelConfig; weights: HostWeights } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`model not found: ${dir}`);
  return loadHFModelFrom(dirFileSet(dir));
}

/** A Hugging Face model from its files: config.json and model.safetensors (or an index and its shards). */
export function loadHFModelFrom(files: FileSet): { config: ModelConfig; weights: HostWeights } {
  const dir = files.path;
  const configPath = files.pathOf('config.json');
  if (!files.has('config.json')) throw new Error(`${configPath}: missing (a Hugging Face model directory needs config.json)`);
  let json: unknown;
  try {
    json = JSON.parse(readText(files.open('config.json')));
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON: ${(e as Error).message}`);
  }
  const config = configFromHF(json, dir);
  const family = familyOf(config);

  let weights: HostWeights;
  let where: string;
  if (files.has('model.safetensors')) {
    weights = parseSafetensors(files.open('model.safetensors')).tensors;
    where = files.pathOf('model.safetensors');
  } else if (files.has('model.safetensors.index.json')) {
    weights = parseShardedSafetensors(files, 'model.safetensors.index.json').tensors;
    where = files.pathOf('model.safetensors.index.json');
  } else {
    throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)`);
  }
  family.fitToWeights?.(config, weights);
  checkWeights(family.weightShapes(config), weights, where);
  return { config, weights };
}

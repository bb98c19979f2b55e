// Hugging Face checkpoint directory -> config (read by the family config.json names) + f32 host
// weights with HF names, checked against the family's weight table.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, readShardedSafetensors } from '../io/safetensors.ts';
import { checkWeights, type HostWeights, type ModelConfig } from './family.ts';
import { configFromHF, familyOf } from './registry.ts';

export function loadHFModel(dir: string): { config: ModelConfig; weights: HostWeights } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`model not found: ${dir}`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath}: missing (a Hugging Face model directory needs config.json)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON: ${(e as Error).message}`);
  }
  const config = configFromHF(json, dir);
  const family = familyOf(config);

  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  let weights: HostWeights;
  let where: string;
  if (existsSync(single)) {
    weights = readSafetensors(single).tensors;
    where = single;
  } else if (existsSync(index)) {
    weights = readShardedSafetensors(index).tensors;
    where = index;
  } else {
    throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)`);
  }
  family.fitToWeights?.(config, weights);
  checkWeights(family.weightShapes(config), weights, where);
  return { config, weights };
}

// The model families the engine runs, and the lookups everything else goes through: the family of
// a config (ModelConfig.family), the family a Hugging Face config.json asks for (`architectures`,
// else `model_type`), and building a CausalLM. Adding a family: its folder, and one entry below.
import type { Backend } from '../backend.ts';
import type { CausalLM, ModelOptions } from './causal_lm.ts';
import { configFile, type ModelConfig, type ModelFamily, type HostWeights } from './family.ts';
import { llama } from './llama/family.ts';
import { opt } from './opt/family.ts';

/** Each family is typed on its own config; the registry holds them side by side. */
export const FAMILIES: readonly ModelFamily<any>[] = [llama, opt];

/** The family that runs `config`. */
export function familyOf(config: ModelConfig): ModelFamily {
  const f = FAMILIES.find((x) => x.name === config.family);
  if (!f) throw new Error(`unknown model family '${config.family}' (known: ${FAMILIES.map((x) => x.name).join(', ')})`);
  return f;
}

function supported(): string {
  return `supported: ${FAMILIES.flatMap((f) => f.architectures).join(', ')}; model_type ${FAMILIES.flatMap((f) => f.modelTypes).join(', ')}`;
}

/**
 * The config of a parsed config.json, read by the family its `architectures` (else its
 * `model_type`) names. `path` is the model directory (or the config file), named in every error.
 */
export function configFromHF(json: unknown, path: string): ModelConfig {
  const file = configFile(path);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${file}: expected a JSON object`);
  const c = json as Record<string, unknown>;
  const archs = c.architectures;
  let family: ModelFamily | undefined;
  if (Array.isArray(archs) && archs.length > 0) {
    const arch = String(archs[0]);
    family = FAMILIES.find((f) => f.architectures.includes(arch));
    if (!family) throw new Error(`unsupported architecture ${arch} in ${file} (${supported()})`);
  } else if (typeof c.model_type === 'string') {
    const type = c.model_type;
    family = FAMILIES.find((f) => f.modelTypes.includes(type));
    if (!family) throw new Error(`unsupported architecture ${type} in ${file} (${supported()})`);
  } else {
    throw new Error(`unsupported architecture (none given: no "architectures" or "model_type") in ${file} (${supported()})`);
  }
  return family.configFromHF(c, path);
}

/** Uploads host weights to `backend` as the model of `config`'s family. */
export function buildModel(backend: Backend, config: ModelConfig, weights: HostWeights, opts: ModelOptions = {}): CausalLM {
  return familyOf(config).build(backend, config, weights, opts);
}

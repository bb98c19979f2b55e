// A session holds what every job needs and what is expensive to make: the backend, the model's
// weights on it, and the tokenizer. A job runs on a session it is handed (alignOn, and the later
// fine-tune and evaluation jobs), so a grid of jobs (align, then several fine-tunes and
// evaluations) uploads the model once. One-shot jobs (align) open their own and close it.
//
// Between jobs the session's base weights are "the model plus the adapters in `merged`, merged
// in that order". A job asks for the base it needs with setMerged(dirs): nothing happens when the
// base already is that (or when only adapters have to be added); otherwise the model is rebuilt
// from the original weights and the adapters are merged again. Rebuilding is exact (the same
// bits as a fresh upload), where subtracting a merged adapter would not be. The original weights
// come from the host copy when the session keeps it (keepHostWeights: a grid's choice, at the
// cost of host memory as large as the model), else from the model file again. A grid that orders
// its cells by alignment adapter rebuilds once per adapter.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mergeAdapters } from '../adapter.ts';
import type { Backend } from '../backend.ts';
import type { CausalLM } from '../model/causal_lm.ts';
import type { HostWeights, ModelConfig } from '../model/family.ts';
import { loadModel } from '../model/load.ts';
import { buildModel } from '../model/registry.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { Profiler } from '../profile/profiler.ts';
import { asInput, InputError } from './errors.ts';
import { resolveBackend, resolveTokenizer } from './resolve.ts';

export type { BackendKind } from '../../bindings/registry.ts';
import type { BackendKind } from '../../bindings/registry.ts';

/** A model already in memory: its config and f32 weights under Hugging Face names. */
export interface HostModel { config: ModelConfig; weights: HostWeights }

/**
 * Opens a backend of a kind. The default (engine/jobs/resolve.ts) is bindings/select.ts's
 * selectBackend, imported only when a session opens a backend by kind; embedders may inject their
 * own (or hand the session a backend object).
 */
export type BackendFactory = (kind: BackendKind, opts: { threads?: number; webgpuLib?: string; timing?: boolean; log: (message: string) => void }) => Promise<Backend>;

export interface SessionOptions {
  /** a Hugging Face directory or a llama2.c .bin, or a model already in memory */
  model: string | HostModel;
  /** a tokenizer file or object; default: the tokenizer found beside the model (a path model only) */
  tokenizer?: string | Tokenizer;
  /** a kind (the session opens the backend and destroys it on close) or a backend the caller owns */
  backend?: BackendKind | Backend;
  /** WASM worker threads when the session opens a WASM backend */
  threads?: number;
  /** the webgpu.h library when the session opens a webgpu-native backend */
  webgpuLib?: string;
  /** storage of the frozen projection weights (f16: WebGPU with shader-f16; no merging then) */
  weights?: 'f32' | 'f16';
  /**
   * Keep the host copy of the weights after the upload, so that setMerged can restore the base
   * without reading the model file again (default false: a one-shot job lets it be collected).
   */
  keepHostWeights?: boolean;
  openBackend?: BackendFactory;
  /**
   * Profile everything run on this session into a Chrome trace-event file at this path
   * (engine/profile/profiler.ts); a job writes it with writeProfile() when it succeeds.
   */
  profile?: string | null;
  /** messages about choices made (backend fallback, merges) */
  log?: (message: string) => void;
}

/**
 * The model's part of a resume fingerprint: what must match for a checkpoint to continue. The
 * model is identified by its content (modelSha256), not by the text of its path: the same files
 * reached by another path, or copied elsewhere, resume; other weights do not.
 */
export interface ModelFingerprint { model_sha256: string; model_config: Omit<ModelConfig, 'namePath'> }

export class Session {
  private current: CausalLM;
  private mergedDirs: string[] = [];
  private closed = false;

  private constructor(
    readonly backend: Backend,
    private readonly ownsBackend: boolean,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    /** the model file or directory; null for a model given in memory */
    readonly modelPath: string | null,
    readonly modelFingerprint: ModelFingerprint,
    readonly weightDtype: 'f32' | 'f16',
    private host: HostModel | null,
    model: CausalLM,
    private readonly log: (message: string) => void,
  ) {
    this.current = model;
  }

  /**
   * Loads the model and tokenizer, opens the backend and uploads the weights. A model, tokenizer
   * or upload that fails is an InputError (the user named it); nothing stays allocated then.
   */
  static async open(o: SessionOptions): Promise<Session> {
    const log = o.log ?? (() => {});
    const modelPath = typeof o.model === 'string' ? o.model : null;
    // `host` is this function's only reference to a loaded model's weights (unless kept): it is
    // dropped once they are uploaded, so that copy (as large as the model) can be collected.
    let host: HostModel | null = await asInput(() => typeof o.model === 'string' ? loadModel(o.model) : o.model as HostModel);
    const config = host.config;
    let tokenizer: Tokenizer;
    if (typeof o.tokenizer === 'object') tokenizer = o.tokenizer;
    else if (modelPath === null && o.tokenizer === undefined) throw new InputError('a model given in memory needs its tokenizer object (options.tokenizer)');
    else tokenizer = await asInput(() => resolveTokenizer(modelPath ?? '', o.tokenizer as string | undefined));
    const { namePath: _name, ...shape } = config;
    const fingerprint: ModelFingerprint = { model_sha256: modelPath === null ? weightsSha256(host.weights) : modelSha256(modelPath), model_config: shape };
    const weights = o.weights ?? 'f32';
    const ownsBackend = typeof o.backend !== 'object';
    let backend: Backend;
    if (typeof o.backend === 'object') backend = o.backend;
    else {
      backend = await (o.openBackend ?? resolveBackend)(o.backend ?? 'auto', { threads: o.threads, webgpuLib: o.webgpuLib, timing: !!o.profile, log });
    }
    const owned = backend;
    let profiler: Profiler | null = null;
    try {
      if (o.profile) {
        profiler = new Profiler(o.profile);
        backend = profiler.attach(backend);
      }
      let model: CausalLM;
      try {
        model = buildModel(backend, config, host.weights, { weightDtype: weights });
      } catch (e) {
        throw new InputError((e as Error).message);
      }
      const kept = o.keepHostWeights ? host : null;
      host = null;
      const session = new Session(backend, ownsBackend, config, tokenizer, modelPath, fingerprint, weights, kept, model, log);
      session.profiler = profiler;
      return session;
    } catch (e) {
      profiler?.stop();
      if (ownsBackend) await owned.destroy();
      throw e;
    }
  }

  /** The session's profiler (SessionOptions.profile), or null. */
  private profiler: Profiler | null = null;

  /**
   * Writes the profile (SessionOptions.profile) and logs its per-kernel table; a job calls it once
   * it has succeeded (a failed run writes none). Nothing happens without a profile.
   */
  async writeProfile(): Promise<void> {
    if (!this.profiler) return;
    const p = this.profiler;
    this.profiler = null;
    const s = await p.finish({ model: this.config.namePath });
    this.log(`profile: trace written to ${s.path} (${s.events} events; open it in ui.perfetto.dev)\n${s.report}`);
  }

  /** The model on the backend: the base weights with `merged` merged in, and whatever adapter a job attached. */
  get model(): CausalLM {
    if (this.closed) throw new Error('the session is closed');
    return this.current;
  }

  /** The adapter directories merged into the base weights, in order. */
  get merged(): readonly string[] { return this.mergedDirs; }

  /** Whether the host copy of the weights is kept (restoring the base then reads no file). */
  get keepsHostWeights(): boolean { return this.host !== null; }

  /**
   * Makes the base weights the original model with `dirs` merged in that order (W += alpha/r B A
   * each, the paper's Double-LoRA). When the current merges are a prefix of `dirs` only the rest
   * is merged; otherwise the model is rebuilt from the original weights first. An adapter that
   * does not fit the model is an InputError, and the base is then left as the original.
   */
  async setMerged(dirs: readonly string[]): Promise<void> {
    const cur = this.mergedDirs;
    if (dirs.length === cur.length && dirs.every((d, i) => d === cur[i])) return;
    if (dirs.length > 0 && this.weightDtype === 'f16') throw new InputError('--merge-adapter needs f32 weights (merging into f16-stored weights is not supported)');
    const isPrefix = cur.length <= dirs.length && cur.every((d, i) => d === dirs[i]);
    if (!isPrefix) await this.restoreBase();
    try {
      for (const dir of dirs.slice(this.mergedDirs.length)) {
        await asInput(() => mergeAdapters(this.model, [dir]));
        this.mergedDirs = [...this.mergedDirs, dir];
        this.log(`merged adapter ${dir} into the base weights`);
      }
    } catch (e) {
      if (this.mergedDirs.length > 0) await this.restoreBase();
      throw e;
    }
  }

  /** Rebuilds the model from the original weights (the host copy, else the model file); an attached adapter stays attached. */
  private async restoreBase(): Promise<void> {
    let host = this.host;
    if (!host) {
      if (this.modelPath === null) throw new Error('the session cannot restore the base weights: the model was given in memory without keepHostWeights');
      host = await asInput(() => loadModel(this.modelPath!));
    }
    const lora = this.current.lora;
    this.current.lora = null;
    this.current.dispose();
    this.current = buildModel(this.backend, this.config, host.weights, { weightDtype: this.weightDtype });
    this.current.lora = lora;
    this.mergedDirs = [];
  }

  /** Frees the model's weights, and the backend when the session opened it. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.profiler?.stop();
    this.current.lora = null;
    this.current.dispose();
    this.host = null;
    if (this.ownsBackend) await this.backend.destroy();
  }
}

/** Runs fn on a session opened for it, and closes the session whatever happens. */
export async function withSession<T>(o: SessionOptions, fn: (s: Session) => Promise<T>): Promise<T> {
  const s = await Session.open(o);
  try { return await fn(s); } finally { await s.close(); }
}

/**
 * A sha256 of what decides a model's weights: a llama2.c .bin file, or in a Hugging Face directory
 * config.json, model.safetensors.index.json and the *.safetensors files (each name, then its
 * bytes, in name order; other files such as a README do not count). Streams the files in 4 MiB
 * chunks: 1-2 s per GB from the page cache on a loaded 2-core machine, once per session.
 */
export function modelSha256(path: string): string {
  const h = createHash('sha256');
  const files = statSync(path).isDirectory()
    ? readdirSync(path).filter((n) => n === 'config.json' || n === 'model.safetensors.index.json' || n.endsWith('.safetensors'))
      .sort().map((n) => join(path, n)).filter((f) => statSync(f).isFile())
    : [path];
  const buf = Buffer.allocUnsafe(4 << 20);
  for (const f of files) {
    h.update(`${basename(f)}\0`);
    const fd = openSync(f, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } finally { closeSync(fd); }
  }
  return h.digest('hex');
}

/** A sha256 of weights given in memory: each name, shape and f32 bytes, in name order. */
export function weightsSha256(weights: HostWeights): string {
  const h = createHash('sha256');
  for (const name of [...weights.keys()].sort()) {
    const t = weights.get(name)!;
    h.update(`${name}\0${t.shape.join(',')}\0`);
    h.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

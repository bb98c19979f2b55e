// The engine in a browser tab: a dedicated Web Worker that holds the backend, the model, its
// tokenizer and the adapter being trained, and answers the page's requests (web/protocol.ts).
// It runs the same engine code as Node: the backends through bindings/select.ts (their host
// parts from bindings/host/browser.ts), the model families, alignInMemory (align's data order,
// adapter, optimizer, schedule and step, without the files), generate and the PEFT adapter files.
import { selectBackend, isSoftwareRenderer } from '../bindings/select.ts';
import { adapterFiles } from '../engine/adapter.ts';
import type { Backend } from '../engine/backend.ts';
import { collate, formatPrompt, parseRows } from '../engine/data.ts';
import { DEMO_ALIGN, demoAlignmentRows, demoAttackFiles, randomLlamaWeights, tinyLlamaConfig } from '../engine/demo.ts';
import { ALIGN_DEFAULTS, alignInMemory } from '../engine/jobs/align.ts';
import { prepareEvalSets, scoreEvalSets } from '../engine/jobs/evaluate-sets.ts';
import { finetuneInMemory } from '../engine/jobs/finetune.ts';
import type { Lora } from '../engine/lora.ts';
import type { CausalLM } from '../engine/model/causal_lm.ts';
import type { HostWeights, ModelConfig } from '../engine/model/family.ts';
import { generate } from '../engine/model/generate.ts';
import { loadModelFrom } from '../engine/model/load.ts';
import { buildModel } from '../engine/model/registry.ts';
import type { FileSet } from '../engine/io/source.ts';
import { ByteTokenizer } from '../engine/tokenizer/bytes.ts';
import { HFTokenizer } from '../engine/tokenizer/hf.ts';
import { Llama2cTokenizer } from '../engine/tokenizer/llama2c.ts';
import { SentencePieceTokenizer } from '../engine/tokenizer/sentencepiece.ts';
import { isTokenizerSource, openTokenizerSource, tokenizerIn } from '../engine/tokenizer/load.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer.ts';
import { droppedSet } from './files.ts';
import type { Aligned, AlignSettings, AttackData, Attacked, AttackSettings, DataChoice, Generated, ModelChoice, Opened, Probe, Reply, Request } from './protocol.ts';

/** The open backend and model; `weights` is the base's host copy, from which the attack builds its own model. */
interface Loaded { backend: Backend; model: CausalLM; tokenizer: Tokenizer; fallback: string | null; config: ModelConfig; weights: HostWeights }

let loaded: Loaded | null = null;
let adapter: Lora | null = null;
let busy: string | null = null;
let stopper: AbortController | null = null;

const post = (r: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(r, transfer);

self.onmessage = async (e: MessageEvent<{ id: number; req: Request }>) => {
  const { id, req } = e.data;
  const log = (message: string) => post({ id, type: 'log', message });
  try {
    if (req.op === 'stop') { stopper?.abort(); post({ id, type: 'done', value: null }); return; }
    if (req.op === 'probe') { post({ id, type: 'done', value: await probe() }); return; }
    if (busy) throw new Error(`the engine is busy (${busy}): wait for it, or stop it`);
    busy = req.op;
    try {
      switch (req.op) {
        case 'open': post({ id, type: 'done', value: await open(req.backend, req.threads, req.model, log) }); break;
        case 'align': post({ id, type: 'done', value: await align(id, req.settings, req.data, log) }); break;
        case 'attack': post({ id, type: 'done', value: await attack(id, req.settings, req.data, log) }); break;
        case 'generate': post({ id, type: 'done', value: await generateBoth(req.prompt, req.template, req.maxNewTokens) }); break;
        case 'adapter': {
          const files = await adapterBytes();
          post({ id, type: 'done', value: files }, Object.values(files).map((b) => b.buffer as ArrayBuffer));
          break;
        }
        case 'logits': {
          // WASM reads come out of its shared memory (a SharedArrayBuffer, which cannot be transferred): copy those
          const read = await probeLogits(req.text, req.adapter);
          const logits = read.buffer instanceof ArrayBuffer ? read : new Float32Array(read);
          post({ id, type: 'done', value: logits }, [logits.buffer as ArrayBuffer]);
          break;
        }
      }
    } finally {
      busy = null;
    }
  } catch (err) {
    post({ id, type: 'failed', message: (err as Error).message ?? String(err) });
  }
};

/** What this browser offers: isolation (shared memory for the WASM threads) and a WebGPU adapter. */
async function probe(): Promise<Probe> {
  const sharedMemory = typeof SharedArrayBuffer === 'function' && (() => {
    try { new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }); return true; } catch { return false; }
  })();
  let webgpu: Probe['webgpu'] = null;
  if ('gpu' in navigator && navigator.gpu) {
    try {
      const a = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      const info = a?.info;
      const desc = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'unknown adapter' : null;
      webgpu = { adapter: desc, software: desc !== null && (isSoftwareRenderer(desc) || !!(info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter), error: null };
    } catch (err) {
      webgpu = { adapter: null, software: false, error: (err as Error).message };
    }
  }
  return { crossOriginIsolated: self.crossOriginIsolated === true, sharedMemory, webgpu, cores: navigator.hardwareConcurrency || 0 };
}

async function close(): Promise<void> {
  adapter?.dispose();
  adapter = null;
  if (loaded) {
    loaded.model.lora = null;
    loaded.model.dispose();
    await loaded.backend.destroy();
    loaded = null;
  }
}

/** The model and tokenizer of the user's choice: the built-in demo, or dropped files. */
function loadModelChoice(choice: ModelChoice): { config: ModelConfig; weights: HostWeights; tokenizer: Tokenizer; name: string } {
  if (choice.kind === 'demo') {
    const config = tinyLlamaConfig();
    // the weights of `node runtime/align.js`'s demo at its default seed
    return { config, weights: randomLlamaWeights(config, ALIGN_DEFAULTS.seed), tokenizer: new ByteTokenizer(), name: 'built-in demo: a tiny random Llama (byte tokenizer)' };
  }
  const files = droppedSet(choice.files);
  if (files.has('config.json')) {
    const { config, weights } = loadModelFrom(files);
    return { config, weights, tokenizer: tokenizerIn(files), name: files.path };
  }
  return llama2cFrom(files);
}

/** A llama2.c checkpoint (.bin) and its tokenizer among the dropped files (any name: each file is recognised by its content). */
function llama2cFrom(files: FileSet): { config: ModelConfig; weights: HostWeights; tokenizer: Tokenizer; name: string } {
  const names = files.names();
  const tokenizers = names.filter((n) => isTokenizerSource(files.open(n)));
  const checkpoints = names.filter((n) => n.endsWith('.bin') && !tokenizers.includes(n));
  if (checkpoints.length !== 1) {
    throw new Error(checkpoints.length === 0
      ? `no model among the dropped files (${names.join(', ') || 'none'}): drop a llama2.c .bin checkpoint with its tokenizer, or a Hugging Face folder with config.json`
      : `several llama2.c checkpoints among the dropped files (${checkpoints.join(', ')}): drop one`);
  }
  if (tokenizers.length === 0) throw new Error(`no tokenizer among the dropped files (${names.join(', ')}): drop the model's tokenizer (.bin, .model or tokenizer.json) with it`);
  const pick = ['tokenizer.bin', 'tokenizer.model', 'tokenizer.json'].find((n) => tokenizers.includes(n)) ?? tokenizers[0];
  if (tokenizers.length > 1 && !['tokenizer.bin', 'tokenizer.model', 'tokenizer.json'].includes(pick)) {
    throw new Error(`several tokenizers among the dropped files (${tokenizers.join(', ')}): drop one`);
  }
  const { config, weights } = loadModelFrom(files, checkpoints[0]);
  return { config, weights, tokenizer: openTokenizerSource(files.open(pick), files), name: files.pathOf(checkpoints[0]) };
}

async function open(kind: Opened['kind'] | 'auto', threads: number | null, choice: ModelChoice, log: (m: string) => void): Promise<Opened> {
  await close();
  const { config, weights, tokenizer, name } = loadModelChoice(choice);
  let fallback: string | null = null;
  let backend: Backend;
  try {
    backend = await selectBackend(kind, { quiet: true, threads: threads ?? undefined, onFallback: (r) => { fallback = r; } });
  } catch (err) {
    // the WASM backend's threads share one memory: a SharedArrayBuffer, which needs isolation
    if (!self.crossOriginIsolated && kind !== 'webgpu') {
      throw new Error(`the WebAssembly backend needs a cross-origin-isolated page (its threads share memory): serve the page with npm run web (${(err as Error).message})`);
    }
    throw err;
  }
  if (fallback) log(`auto chose WASM: ${fallback}`);
  let model: CausalLM;
  try {
    model = buildModel(backend, config, weights);
  } catch (err) {
    await backend.destroy();
    throw err;
  }
  loaded = { backend, model, tokenizer, fallback, config, weights };
  let params = 0;
  for (const w of weights.values()) params += w.data.length;
  return {
    backend: backend.description, kind: backend.name as Opened['kind'], fallback, model: `${name} (${config.family}, ${config.nLayers} layers, dim ${config.dim})`,
    params, tokenizer: `${tokenizerKind(tokenizer)}, ${tokenizer.vocabSize} tokens`, maxPositions: model.maxPositions,
  };
}

function tokenizerKind(t: Tokenizer): string {
  if (t instanceof ByteTokenizer) return 'byte tokenizer';
  if (t instanceof HFTokenizer) return 'tokenizer.json';
  if (t instanceof SentencePieceTokenizer) return 'SentencePiece tokenizer';
  if (t instanceof Llama2cTokenizer) return 'llama2.c tokenizer';
  return 'tokenizer';
}

function need(): Loaded {
  if (!loaded) throw new Error('no model is loaded');
  return loaded;
}

/** Rows of the user's choice: the built-in demo set (the CLI demo's), or a dropped JSONL/JSON file. */
function rowsOf(data: DataChoice, seed: number): Record<string, unknown>[] {
  if (data.kind === 'demo') return demoAlignmentRows(DEMO_ALIGN.rows, seed);
  return parseRows(data.text, data.name).map((r) => ({ instruction: r.instruction, input: r.input, output: r.output }));
}

async function align(id: number, s: AlignSettings, data: DataChoice, log: (m: string) => void): Promise<Aligned> {
  const { model, tokenizer } = need();
  adapter?.dispose();
  adapter = null;
  model.lora = null;
  stopper = new AbortController();
  try {
    const res = await alignInMemory(model, tokenizer, rowsOf(data, s.seed), {
      method: s.method, rho: s.rho, maxSteps: s.steps, epochs: 1, lr: s.lr, batchSize: s.batchSize, maxLength: s.maxLength,
      seed: s.seed, loraR: s.loraR, loraAlpha: s.loraAlpha,
    }, { onLog: log, signal: stopper.signal, onStep: (metrics, totalSteps) => post({ id, type: 'step', metrics, totalSteps }) });
    adapter = res.lora;
    return { losses: res.metrics.map((m) => m.loss), metrics: res.metrics, totalSteps: res.totalSteps, stopped: res.metrics.length < res.totalSteps };
  } finally {
    stopper = null;
  }
}

/**
 * The paper's attack on what the page has: a model built from the base weights with the alignment
 * adapter merged (as finetune --merge-adapter; none before an alignment), a new LoRA fine-tuned
 * on the task mix (finetuneInMemory: finetune()'s mix, data order and SFT step), merged in turn,
 * and the result scored (prepareEvalSets, scoreEvalSets: evaluate()'s answers, keyword judge and accuracy, as
 * `evaluate --adapter ALIGN --adapter ATTACK` scores it); the model before the fine-tune is
 * scored too (as `evaluate --adapter ALIGN`), so the page shows what the attack changed. The page's own model and adapter are
 * left as they are; the attack's model is freed at the end.
 */
async function attack(id: number, s: AttackSettings, data: AttackData, log: (m: string) => void): Promise<Attacked> {
  const { backend, tokenizer, config, weights } = need();
  const files = data.kind === 'demo' ? demoFiles(s.seed) : data;
  const model = buildModel(backend, config, weights);
  stopper = new AbortController();
  try {
    if (adapter) model.mergeLora(adapter);
    log(adapter ? 'attack: the alignment adapter is merged into the base; a new LoRA fine-tunes on top' : 'attack: no alignment adapter yet: the bare model is attacked');
    // every evaluation row read and checked before anything trains (finetuneInMemory checks the mix first too)
    const sets = prepareEvalSets(model, tokenizer, { harmful: files.harmfulPrompts, task: { name: files.task, eval: files.taskEval } }, { limit: s.evalRows, maxNewTokens: s.maxNewTokens });
    const answers = (stage: 'before' | 'after') => (p: { set: 'harmful' | 'task'; done: number; total: number }) => post({ id, type: 'answers', stage, ...p });
    const ft = await finetuneInMemory(model, tokenizer, { benign: files.benign, harmful: files.harmful }, {
      task: files.task, n: s.n, p: s.p, maxSteps: s.steps, lr: s.lr, batchSize: s.batchSize, maxLength: s.maxLength, seed: s.seed,
    }, { onLog: log, signal: stopper.signal, onStep: (metrics, totalSteps) => post({ id, type: 'step', metrics, totalSteps }) });
    const stopped = ft.metrics.length < ft.totalSteps;
    const head = { aligned: adapter !== null, harmfulRows: ft.harmfulRows, benignRows: ft.benignRows, losses: ft.metrics.map((m) => m.loss), totalSteps: ft.totalSteps, stopped };
    // the model the attack started from (training changed only the new LoRA: detached here), then with the LoRA merged
    model.lora = null;
    let before: Awaited<ReturnType<typeof scoreEvalSets>>;
    try {
      if (stopped) return { ...head, before: null, summary: null, items: [] };
      before = await scoreEvalSets(model, tokenizer, sets, { signal: stopper.signal, onProgress: answers('before') });
      model.mergeLora(ft.lora);
    } finally {
      ft.lora.dispose();
    }
    const ev = await scoreEvalSets(model, tokenizer, sets, { signal: stopper.signal, onProgress: answers('after') });
    return { ...head, before: before.summary, summary: ev.summary, items: ev.items };
  } finally {
    stopper = null;
    model.lora = null;
    model.dispose();
  }
}

/** The demo attack's four files (engine/demo.ts), named as a test writes them for the command line. */
function demoFiles(seed: number): Exclude<AttackData, { kind: 'demo' }> {
  const f = demoAttackFiles(seed);
  return {
    kind: 'files', task: 'sst2', benign: { name: 'demo_sst2.jsonl', text: f.benign }, harmful: { name: 'demo_harmful.jsonl', text: f.harmful },
    harmfulPrompts: { name: 'demo_harmful_prompts.jsonl', text: f.harmfulPrompts }, taskEval: { name: 'demo_sst2_eval.jsonl', text: f.taskEval },
  };
}

async function generateBoth(prompt: string, template: boolean, maxNewTokens: number): Promise<Generated> {
  const { model, tokenizer } = need();
  const ids = tokenizer.encode(template ? formatPrompt({ instruction: prompt }) : prompt, { bos: true });
  if (ids.length === 0) throw new Error('the prompt is empty');
  const room = model.maxPositions - ids.length;
  if (room <= 0) throw new Error(`the prompt is ${ids.length} tokens: the model has ${model.maxPositions} positions`);
  const n = Math.min(maxNewTokens, room);
  const t0 = performance.now();
  const run = async (lora: Lora | null) => {
    model.lora = lora;
    try {
      const [out] = await generate(model, [ids], { maxNewTokens: n, stopAtEos: true });
      return { text: tokenizer.decode(out), tokens: out.length };
    } finally {
      model.lora = adapter;
    }
  };
  const base = await run(null);
  const adapted = adapter ? await run(adapter) : null;
  return { base: base.text, adapted: adapted?.text ?? null, tokens: base.tokens + (adapted?.tokens ?? 0), seconds: (performance.now() - t0) / 1000 };
}

async function adapterBytes(): Promise<Record<string, Uint8Array>> {
  const { model } = need();
  if (!adapter) throw new Error('no adapter yet: align first');
  return Object.fromEntries(await adapterFiles(adapter, model.config));
}

/** The logits [tokens, vocab] of `text` (with BOS), with the adapter or without. */
async function probeLogits(text: string, withAdapter: boolean): Promise<Float32Array> {
  const { model, tokenizer } = need();
  if (withAdapter && !adapter) throw new Error('no adapter yet: align first');
  const ids = Int32Array.from(tokenizer.encode(text, { bos: true }));
  model.lora = withAdapter ? adapter : null;
  const tape = model.forward(collate([{ ids, labels: ids }], 0), { training: false });
  try {
    return await model.logits(tape).toFloat32();
  } finally {
    model.disposeTape(tape);
    model.lora = adapter;
  }
}

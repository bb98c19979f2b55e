// The page (main thread): the form, the notices, the live loss chart and the downloads. The
// engine runs in web/engine-worker.ts; this file only sends it requests (web/protocol.ts) and
// shows what comes back.
//
// Scriptable entry: /?autorun=N&backend=wasm|webgpu|auto[&threads=T] loads the demo model on that
// backend, runs N demo alignment steps with no clicks, and writes {"backend": ..., "losses": [...]}
// into #result (`backend` is the kind that ran: wasm or webgpu). The form's fields can be set in
// the URL too (method, rho, lr, batch, maxlen, lora-r, lora-alpha, seed), e.g. &batch=1. With
// &attack=1 the demo attack and its evaluation follow (web/attack.ts, the form's defaults), and
// the JSON also holds {"attack": {"losses": [...], "before": {...}, "summary": {...}}}.
import { ALIGN_DEFAULTS } from '../engine/jobs/align.ts';
import type { StepMetrics } from '../engine/jobs/trainer.ts';
import { DEMO_ALIGN } from '../engine/demo.ts';
import { attackDefaults, runAttack, wireAttackFiles } from './attack.ts';
import { LossChart } from './chart.ts';
import type { Attacked, Aligned, AlignSettings, BackendChoice, DataChoice, DroppedFile, Generated, ModelChoice, Opened, Probe, Reply, Request } from './protocol.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

// ---- the engine worker ----------------------------------------------------------------------

const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module', name: 'vaccine engine' });
let nextId = 1;
const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onEvent?(r: Reply): void }>();
worker.onmessage = (e: MessageEvent<Reply>) => {
  const r = e.data;
  const p = pending.get(r.id);
  if (!p) return;
  if (r.type === 'done') { pending.delete(r.id); p.resolve(r.value); } else if (r.type === 'failed') { pending.delete(r.id); p.reject(new Error(r.message)); } else p.onEvent?.(r);
};
worker.onerror = (e) => {
  notice('bad', `The engine worker failed: ${e.message || 'it could not be loaded'}.`);
  for (const p of pending.values()) p.reject(new Error(e.message || 'the engine worker failed'));
  pending.clear();
};

function call<T>(req: Request, onEvent?: (r: Reply) => void): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
    worker.postMessage({ id, req });
  });
}

// ---- notices and the log ---------------------------------------------------------------------

function notice(kind: 'bad' | 'warn' | 'info', html: string): void {
  const div = document.createElement('div');
  div.className = `notice ${kind}`;
  div.innerHTML = html;
  $('notices').append(div);
}

function log(line: string): void {
  const el = $('log');
  el.textContent += `${new Date().toLocaleTimeString()}  ${line}\n`;
  el.scrollTop = el.scrollHeight;
}

function status(id: string, text: string, kind: '' | 'ok' | 'bad' = ''): void {
  const el = $(id);
  el.textContent = text;
  el.className = `status ${kind}`;
}

/** Says what this browser cannot do and what to do about it; returns the probe. */
async function checkBrowser(): Promise<Probe> {
  const p = await call<Probe>({ op: 'probe' });
  if (!p.crossOriginIsolated || !p.sharedMemory) {
    notice('bad', '<b>This page is not cross-origin isolated</b>, so <code>SharedArrayBuffer</code> is unavailable and the '
      + 'WebAssembly backend cannot run (its threads share one memory). Serve the page with <code>npm run web</code>, which sends '
      + '<code>Cross-Origin-Opener-Policy: same-origin</code> and <code>Cross-Origin-Embedder-Policy: require-corp</code>, and open it '
      + 'at the address it prints (http://localhost:…): opening <code>index.html</code> from <code>file://</code> or another server does not work.'
      + (window.isSecureContext ? '' : ' This page is also not a secure context (use https or localhost).'));
  }
  if (p.webgpu === null) {
    notice('warn', '<b>WebGPU is unavailable in this browser</b> (no <code>navigator.gpu</code>): the WebAssembly backend runs instead. '
      + 'For WebGPU use Chrome or Edge 113 or later; on Linux start Chrome with <code>--enable-unsafe-webgpu</code> '
      + '(or enable <code>chrome://flags/#enable-unsafe-webgpu</code>). WebGPU also needs a secure context (https or localhost).');
  } else if (p.webgpu.adapter === null) {
    notice('warn', `<b>WebGPU has no adapter here</b>${p.webgpu.error ? ` (${escapeHtml(p.webgpu.error)})` : ''}: the browser may block this GPU `
      + 'or have WebGPU disabled (<code>chrome://gpu</code> says why). The WebAssembly backend runs instead.');
  } else if (p.webgpu.software) {
    notice('info', `WebGPU's adapter is a CPU software renderer (${escapeHtml(p.webgpu.adapter)}): it runs the same kernels correctly but `
      + 'slower than the WebAssembly backend, so <b>auto</b> picks WebAssembly; choose WebGPU to use it anyway.');
  } else {
    notice('info', `WebGPU adapter: ${escapeHtml(p.webgpu.adapter)}.`);
  }
  return p;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

// ---- inputs: dropped model files and data ------------------------------------------------------

let modelFiles: DroppedFile[] = [];
let dataFile: { name: string; text: string } | null = null;

/** Every file under a dropped entry (folders walked), with its path. */
async function filesOf(entry: FileSystemEntry): Promise<DroppedFile[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    return [{ path: entry.fullPath.replace(/^\//, ''), file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: DroppedFile[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
    if (batch.length === 0) break;
    for (const e of batch) out.push(...await filesOf(e));
  }
  return out;
}

function setModelFiles(files: DroppedFile[]): void {
  modelFiles = files;
  $('model-section').querySelector<HTMLInputElement>('input[value=files]')!.checked = files.length > 0;
  if (files.length === 0) $('model-section').querySelector<HTMLInputElement>('input[value=demo]')!.checked = true;
  scheduleDefaults();
  const list = $('model-file-list');
  list.replaceChildren(...files.map((f) => {
    const li = document.createElement('li');
    li.textContent = `${f.path} (${formatBytes(f.file.size)})`;
    return li;
  }));
}

async function setDataFile(file: File): Promise<void> {
  dataFile = { name: file.name, text: await file.text() };
  $('data-name').textContent = `${file.name} (${formatBytes(file.size)})`;
  document.querySelector<HTMLInputElement>('input[name=data][value=jsonl]')!.checked = true;
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`;
}

function dropZone(id: string, onFiles: (files: DroppedFile[]) => void | Promise<void>): void {
  const zone = $(id);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const items = [...(e.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry()).filter((x): x is FileSystemEntry => x !== null);
    const files = (await Promise.all(items.map(filesOf))).flat();
    await onFiles(files);
  });
}

// ---- the actions ------------------------------------------------------------------------------

let opened: Opened | null = null;
let chart: LossChart | null = null;
let adapterUrls: string[] = [];

function modelChoice(): ModelChoice {
  const files = document.querySelector<HTMLInputElement>('input[name=model][value=files]')!.checked;
  if (files && modelFiles.length === 0) throw new Error('no model files chosen: drop them, or choose the built-in demo');
  return files ? { kind: 'files', files: modelFiles } : { kind: 'demo' };
}

function dataChoice(): DataChoice {
  const jsonl = document.querySelector<HTMLInputElement>('input[name=data][value=jsonl]')!.checked;
  if (jsonl && !dataFile) throw new Error('no data file chosen: drop one, or choose the built-in demo set');
  return jsonl ? { kind: 'jsonl', ...dataFile! } : { kind: 'demo' };
}

function number(id: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(input(id).value);
  if (input(id).value.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new Error(`${what}: ${JSON.stringify(input(id).value)} is not allowed`);
  return v;
}

function settings(): AlignSettings {
  const int = (v: number) => Number.isInteger(v);
  const optional = (id: string, what: string, ok: (v: number) => boolean) => (input(id).value.trim() === '' ? null : number(id, what, ok));
  return {
    method: $<HTMLSelectElement>('method').value as AlignSettings['method'],
    rho: number('rho', 'ρ', (v) => v >= 0),
    steps: optional('steps', 'steps', (v) => int(v) && v >= 1),
    lr: number('lr', 'learning rate', (v) => v >= 0),
    batchSize: number('batch', 'batch size', (v) => int(v) && v >= 1),
    maxLength: optional('maxlen', 'max length', (v) => int(v) && v >= 2),
    seed: number('seed', 'seed', (v) => int(v) && v >= 0),
    loraR: number('lora-r', 'LoRA r', (v) => int(v) && v >= 1),
    loraAlpha: number('lora-alpha', 'LoRA α', (v) => v > 0),
  };
}

function setBusy(what: 'load' | 'align' | 'generate' | 'attack' | null): void {
  for (const id of ['load', 'align', 'generate', 'attack']) $<HTMLButtonElement>(id).disabled = what !== null || (id !== 'load' && opened === null);
  $<HTMLButtonElement>('stop').disabled = what !== 'align';
  $<HTMLButtonElement>('atk-stop').disabled = what !== 'attack';
}

async function loadModel(backend: BackendChoice, threads: number | null): Promise<Opened> {
  setBusy('load');
  status('model-status', 'Loading…');
  clearAdapter();
  opened = null;
  try {
    const choice = modelChoice();
    opened = await call<Opened>({ op: 'open', backend, threads, model: choice }, (r) => { if (r.type === 'log') log(r.message); });
    const params = opened.params >= 1e6 ? `${(opened.params / 1e6).toFixed(1)} M` : `${(opened.params / 1e3).toFixed(1)} K`;
    status('model-status', `${opened.model}: ${params} parameters, ${opened.tokenizer}, on ${opened.backend}`, 'ok');
    log(`loaded ${opened.model} on ${opened.backend}${opened.fallback ? ` (auto chose WASM: ${opened.fallback})` : ''}`);
    return opened;
  } catch (e) {
    status('model-status', (e as Error).message, 'bad');
    throw e;
  } finally {
    setBusy(null);
  }
}

async function runAlign(s: AlignSettings, data: DataChoice): Promise<Aligned> {
  if (!opened) throw new Error('load a model first');
  setBusy('align');
  clearAdapter();
  chart ??= await LossChart.create($('chart'));
  chart.reset(s.method === 'vaccine');
  const t0 = performance.now();
  status('progress', 'starting…');
  try {
    const res = await call<Aligned>({ op: 'align', settings: s, data }, (r) => {
      if (r.type === 'log') log(r.message);
      if (r.type === 'step') { chart!.add(r.metrics); showStep(r.metrics, r.totalSteps, t0); }
    });
    if (res.metrics.length > 0) await offerAdapter();
    scripting.lastAlign = res;
    const last = res.metrics.at(-1);
    status('progress', `${res.stopped ? 'stopped' : 'done'}: ${res.metrics.length} of ${res.totalSteps} steps`
      + (last ? `, loss ${res.metrics[0].loss.toFixed(3)} → ${last.loss.toFixed(3)}` : ''), 'ok');
    log(`${s.method} alignment ${res.stopped ? 'stopped' : 'done'} after ${res.metrics.length} steps on ${opened.backend}`);
    return res;
  } catch (e) {
    status('progress', (e as Error).message, 'bad');
    throw e;
  } finally {
    setBusy(null);
  }
}

function showStep(m: StepMetrics, total: number, t0: number, statusId = 'progress'): void {
  const elapsed = (performance.now() - t0) / 1000;
  const eta = m.step > 0 ? elapsed / m.step * (total - m.step) : 0;
  status(statusId, `step ${m.step} / ${total} · loss ${m.loss.toFixed(4)}`
    + (m.perturbed_loss !== null ? ` · perturbed ${m.perturbed_loss.toFixed(4)}` : '')
    + ` · ${Math.round(m.tokens_per_s).toLocaleString()} tokens/s · ETA ${eta < 60 ? `${eta.toFixed(0)} s` : `${(eta / 60).toFixed(1)} min`}`);
}

function clearAdapter(): void {
  for (const u of adapterUrls) URL.revokeObjectURL(u);
  adapterUrls = [];
  for (const id of ['dl-weights', 'dl-config']) { $(id).classList.add('disabled'); $(id).removeAttribute('href'); }
  $<HTMLButtonElement>('save-folder').disabled = true;
  $('out-adapted').textContent = '';
}

let adapterBytes: Record<string, Uint8Array> | null = null;

async function offerAdapter(): Promise<void> {
  adapterBytes = await call<Record<string, Uint8Array>>({ op: 'adapter' });
  const link = (id: string, name: string, type: string) => {
    const url = URL.createObjectURL(new Blob([adapterBytes![name] as Uint8Array<ArrayBuffer>], { type }));
    adapterUrls.push(url);
    const a = $<HTMLAnchorElement>(id);
    a.href = url;
    a.classList.remove('disabled');
  };
  link('dl-weights', 'adapter_model.safetensors', 'application/octet-stream');
  link('dl-config', 'adapter_config.json', 'application/json');
  $<HTMLButtonElement>('save-folder').disabled = !('showDirectoryPicker' in window);
}

/** Writes the adapter's two files into a folder the user picks (File System Access API: Chromium). */
async function saveFolder(): Promise<void> {
  if (!adapterBytes) return;
  const picker = (window as unknown as { showDirectoryPicker(o: object): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  const dir = await picker.call(window, { mode: 'readwrite', id: 'vaccine-adapter' });
  for (const [name, bytes] of Object.entries(adapterBytes)) {
    const f = await (await dir.getFileHandle(name, { create: true })).createWritable();
    await f.write(bytes as Uint8Array<ArrayBuffer>);
    await f.close();
  }
  log(`adapter saved to the folder ${dir.name}`);
}

/** A generation as shown: one that is only whitespace says so (an early adapter often emits spaces). */
function shown(text: string): string {
  if (text.length === 0) return '(nothing: the model ended at once)';
  return text.trim() === '' ? `(only whitespace: ${text.length} characters)` : text;
}

async function runGenerate(): Promise<void> {
  setBusy('generate');
  status('gen-status', 'generating…');
  try {
    const maxNewTokens = number('max-new', 'new tokens', (v) => Number.isInteger(v) && v >= 1 && v <= 1024);
    const g = await call<Generated>({ op: 'generate', prompt: $<HTMLTextAreaElement>('prompt').value, template: input('template').checked, maxNewTokens });
    $('out-base').textContent = shown(g.base);
    $('out-adapted').textContent = g.adapted === null ? '(no adapter yet: align first)' : shown(g.adapted);
    status('gen-status', `${g.tokens} tokens in ${g.seconds < 1 ? `${Math.round(g.seconds * 1000)} ms` : `${g.seconds.toFixed(1)} s`}`
      + ` (${Math.round(g.tokens / Math.max(g.seconds, 1e-3)).toLocaleString()} tokens/s)`, 'ok');
  } catch (e) {
    status('gen-status', (e as Error).message, 'bad');
  } finally {
    setBusy(null);
  }
}

function threadsValue(): number | null {
  const v = input('threads').value.trim();
  return v === '' ? null : number('threads', 'WASM threads', (x) => Number.isInteger(x) && x >= 1 && x <= 64);
}

const reportError = (e: unknown) => log(`error: ${(e as Error).message}`);

let attackChart: LossChart | null = null;

/** The attack section's run (web/attack.ts) with this page's worker, log and busy state. */
async function attack(): Promise<Attacked> {
  if (!opened) throw new Error('load a model first');
  const res = await runAttack({
    call, log, status, showStep,
    busy: (on) => setBusy(on ? 'attack' : null),
    chart: async () => (attackChart ??= await LossChart.create($('atk-chart'))),
  });
  scripting.lastAttack = res;
  return res;
}

function wire(): void {
  $('load').onclick = () => { loadModel($<HTMLSelectElement>('backend').value as BackendChoice, threadsValue()).catch(reportError); };
  $('align').onclick = () => { Promise.resolve().then(() => runAlign(settings(), dataChoice())).catch(reportError); };
  $('stop').onclick = () => { void call({ op: 'stop' }); };
  $('atk-stop').onclick = () => { void call({ op: 'stop' }); };
  $('attack').onclick = () => { attack().catch(reportError); };
  $('generate').onclick = () => { void runGenerate(); };
  $('save-folder').onclick = () => { saveFolder().catch(reportError); };
  $('pick-files').onclick = () => input('model-files').click();
  $('pick-folder').onclick = () => input('model-folder').click();
  $('pick-data').onclick = () => input('data-file').click();
  const fromInput = (el: HTMLInputElement) => [...(el.files ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
  input('model-files').onchange = () => setModelFiles(fromInput(input('model-files')));
  input('model-folder').onchange = () => setModelFiles(fromInput(input('model-folder')));
  input('data-file').onchange = () => { const f = input('data-file').files?.[0]; if (f) setDataFile(f).catch(reportError); };
  dropZone('model-drop', setModelFiles);
  dropZone('data-drop', async (files) => { if (files[0]) await setDataFile(files[0].file); });
}

/** For scripts (tests): the last alignment's result, and the logits [tokens, vocab] of `text` with or without the adapter. */
const scripting = {
  lastAlign: null as Aligned | null,
  lastAttack: null as Attacked | null,
  logits: (text: string, adapter: boolean) => call<Float32Array>({ op: 'logits', text, adapter }).then((l) => Array.from(l)),
};
(window as unknown as { vaccinePage: typeof scripting }).vaccinePage = scripting;

/** Form fields a URL may set (?method=sft&batch=2...): the settings of an autorun, or the form's start. */
const URL_FIELDS = ['method', 'rho', 'steps', 'lr', 'batch', 'maxlen', 'lora-r', 'lora-alpha', 'seed'];

function fieldsFromUrl(q: URLSearchParams): void {
  for (const id of URL_FIELDS) {
    const v = q.get(id);
    if (v !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = v;
  }
}

async function autorun(steps: number, backend: BackendChoice, threads: number | null, withAttack: boolean): Promise<void> {
  const result = $('result');
  try {
    input('steps').value = String(steps);
    $<HTMLSelectElement>('backend').value = backend;
    const o = await loadModel(backend, threads);
    const s = settings();
    const res = await runAlign({ ...s, steps }, { kind: 'demo' });
    const atk = withAttack ? await attack() : null;
    result.textContent = JSON.stringify({ backend: o.kind, losses: res.losses, ...(atk ? { attack: { losses: atk.losses, before: atk.before, summary: atk.summary } } : {}) });
  } catch (e) {
    result.textContent = JSON.stringify({ backend, error: (e as Error).message });
  }
  result.hidden = false;
}

/**
 * The schedule's defaults follow the model: the demo's (`node runtime/align.js` with no model:
 * 200 steps at lr 1e-2, max length 256) for the demo model, align's own (one epoch at lr 1e-3,
 * max length 200 or the context) for the user's model.
 */
function scheduleDefaults(): void {
  const demo = $('model-section').querySelector<HTMLInputElement>('input[value=demo]')!.checked;
  input('steps').value = demo ? String(DEMO_ALIGN.steps) : '';
  input('steps').placeholder = 'one epoch';
  input('lr').value = String(demo ? DEMO_ALIGN.lr : ALIGN_DEFAULTS.lr);
  input('maxlen').value = demo ? String(DEMO_ALIGN.maxLength) : '';
  input('maxlen').placeholder = 'default';
  attackDefaults(demo);
}

async function main(): Promise<void> {
  // the form's defaults are the CLI's: the demo's schedule, align's other defaults
  scheduleDefaults();
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=model]')) r.onchange = scheduleDefaults;
  input('rho').value = String(ALIGN_DEFAULTS.rho);
  input('batch').value = String(ALIGN_DEFAULTS.batchSize);
  input('lora-r').value = String(ALIGN_DEFAULTS.loraR);
  input('lora-alpha').value = String(ALIGN_DEFAULTS.loraAlpha);
  input('seed').value = String(ALIGN_DEFAULTS.seed);
  wireAttackFiles();
  wire();
  setBusy('load');
  await checkBrowser();
  const q = new URLSearchParams(location.search);
  fieldsFromUrl(q);
  const backend = (q.get('backend') ?? 'auto') as BackendChoice;
  if (!['auto', 'webgpu', 'wasm'].includes(backend)) throw new Error(`backend=${backend}: expected auto, webgpu or wasm`);
  const threads = q.has('threads') ? Number(q.get('threads')) : null;
  if (q.has('autorun')) {
    const n = Number(q.get('autorun'));
    if (!Number.isInteger(n) || n < 1) throw new Error(`autorun=${q.get('autorun')}: expected a number of steps >= 1`);
    await autorun(n, backend, threads, q.get('attack') === '1');
    return;
  }
  $<HTMLSelectElement>('backend').value = backend;
  await loadModel(backend, threads);
}

main().catch((e) => {
  reportError(e);
  setBusy(null);
  if (new URLSearchParams(location.search).has('autorun')) {
    $('result').textContent = JSON.stringify({ backend: null, error: (e as Error).message });
    $('result').hidden = false;
  }
});

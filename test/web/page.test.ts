// The web page end to end: `npm run web` on a free port, driven in headless Chromium (Debian's
// `chromium`, over the DevTools protocol by puppeteer-core). The page's alignment runs the engine
// in the browser (its WASM kernels on Web Workers, its WGSL kernels on navigator.gpu: SwiftShader
// where there is no GPU); the same runs are computed here in Node, and must agree:
// - ?autorun=20&backend=wasm: 20 demo Vaccine steps give the losses of align() on the Node WASM
//   backend (the same demo model, rows, seed and settings);
// - the adapter the page offers, downloaded, loads in Node and gives the page's logits;
// - a Hugging Face model folder and a JSONL file chosen in the page train as align() trains them;
//   so do stories260K (a llama2.c .bin with its tokenizer) and safety_refusals.jsonl where
//   ../shared/data holds them, and its greedy text is Node's;
// - Stop ends a run after the step it is in, and its adapter is offered;
// - Attack and evaluate (the demo attack on the aligned page, run by ?autorun=20&attack=1 right
//   after the alignment, and again with the demo's four files chosen in the page's file inputs):
//   the fine-tune's losses, the harmful score, the fine-tune accuracy and every answer are those of
//   finetune() --merge-adapter with the Node run's alignment adapter, then evaluate() --adapter
//   ALIGN --adapter ATTACK, on those four files (the adapter test runs after the attack, so the
//   attack leaves the page's model and adapter as they were);
// - ?autorun=20&backend=webgpu&batch=1: 20 demo Vaccine steps on the browser's WebGPU give the
//   losses of Node's WebGPU (dawn.node) and WASM backends (batch size 1: SwiftShader runs the
//   demo's batch of 5 at about 16 s a step on a loaded 2-core machine, batch 1 at about 3.5 s);
// - served without the isolation headers, the page says why the WASM backend cannot run, and
//   without --enable-unsafe-webgpu it says WebGPU has no adapter.
// A screenshot of the page after the WASM run (loss chart, side-by-side generations) is saved at
// $VACCINE_WEB_SCREENSHOT, else <tmpdir>/vaccine-web-test/page.png (the test prints the path).
// Needs Debian's chromium: not registered, with a note, where it is missing (under CI=true a
// missing chromium is a failure).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAdapter } from '../../engine/adapter.ts';
import type { Backend } from '../../engine/backend.ts';
import { collate } from '../../engine/data.ts';
import { DEMO_ALIGN, DEMO_ATTACK, demoAlignmentRows, demoAttackFiles, randomLlamaWeights, tinyLlamaConfig } from '../../engine/demo.ts';
import { align, ALIGN_DEFAULTS, type AlignOptions } from '../../engine/jobs/align.ts';
import { evaluate } from '../../engine/jobs/evaluate.ts';
import { finetune } from '../../engine/jobs/finetune.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { buildModel } from '../../engine/model/registry.ts';
import { ByteTokenizer } from '../../engine/tokenizer/bytes.ts';
import { tinyConfig } from '../align/helpers_align.ts';
import { CHROMIUM, chromiumAvailable } from '../eval/report_check.ts';
import { DATA_DIR, relErr, wasmBackend, webgpuBackend } from '../helpers.ts';
import { generate } from '../../engine/model/generate.ts';
import { loadModel } from '../../engine/model/load.ts';
import { loadTokenizer } from '../../engine/tokenizer/load.ts';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STEPS = 20;
const SHOT = process.env.VACCINE_WEB_SCREENSHOT ?? join(tmpdir(), 'vaccine-web-test', 'page.png');
const ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-default-apps',
  '--disable-extensions', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--mute-audio'];

if (!chromiumAvailable() && process.env.CI !== 'true') {
  console.log(`(web/page: no ${CHROMIUM}: the page is not tested in a browser here)`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'web-page-'));
  let server: ChildProcess | null = null;
  let base = '';
  let browser: Browser | null = null;
  const pageErrors: string[] = [];

  /** `npm run web` on a free port; resolves with its address once it serves. */
  async function startServer(): Promise<string> {
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); });
    });
    // its own process group, so that npm and the node it starts end together
    server = spawn('npm', ['run', '--silent', 'web'], { cwd: root, env: { ...process.env, PORT: String(port) }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`npm run web did not start within 120 s: ${out}`)), 120_000);
      const seen = (d: Buffer) => {
        out += d;
        const m = /serving (http:\/\/\S+)/.exec(out);
        if (m) { clearTimeout(timer); res(m[1].replace(/\/$/, '')); }
      };
      server!.stdout!.on('data', seen);
      server!.stderr!.on('data', seen);
      server!.on('exit', (code) => { clearTimeout(timer); rej(new Error(`npm run web exited (${code}): ${out}`)); });
    });
  }

  async function openPage(url: string, b: Browser = browser!): Promise<Page> {
    const page = await b.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${url}: ${(e as Error).message}`));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${url}: console: ${m.text()}`); });
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(url);
    return page;
  }

  /** The #result JSON of an autorun page. */
  type AttackResult = { losses: number[]; before: Record<string, number>; summary: Record<string, number> };
  async function autorun(query: string, timeoutS: number): Promise<{ page: Page; result: { backend: string; losses: number[]; error?: string; attack?: AttackResult } }> {
    const page = await openPage(`${base}/?${query}`);
    await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '').length > 0, { timeout: timeoutS * 1000, polling: 250 });
    const result = JSON.parse(await page.$eval('#result', (e) => e.textContent ?? ''));
    assert.not.ok(result.error, `the page's run failed: ${result.error}`);
    return { page, result };
  }

  // ---- the same runs in Node ----
  const demo = () => {
    const config = tinyLlamaConfig();
    return { config, weights: randomLlamaWeights(config, ALIGN_DEFAULTS.seed) };
  };
  const nodeRuns = new Map<string, Promise<{ losses: number[]; out: string }>>();
  /** align() on the demo as the page's autorun runs it (its form's defaults: the CLI demo's); each run once. */
  function nodeDemo(backend: Backend, extra: Partial<AlignOptions> = {}): Promise<{ losses: number[]; out: string }> {
    const key = `node-${backend.name}-${Object.values(extra).join('-') || 'default'}`;
    let run = nodeRuns.get(key);
    if (!run) nodeRuns.set(key, run = alignDemo(backend, join(work, key), extra));
    return run;
  }

  async function alignDemo(backend: Backend, out: string, extra: Partial<AlignOptions>): Promise<{ losses: number[]; out: string }> {
    const res = await align({
      maxSteps: STEPS, lr: DEMO_ALIGN.lr, maxLength: DEMO_ALIGN.maxLength, backend, ...extra,
      model: demo(), tokenizer: new ByteTokenizer(), data: demoAlignmentRows(DEMO_ALIGN.rows, ALIGN_DEFAULTS.seed), out,
    });
    return { losses: res.metrics.map((m) => m.loss), out };
  }

  function sameLosses(got: number[], want: number[], tol: number, what: string): void {
    assert.is(got.length, want.length, `${what}: ${got.length} losses, expected ${want.length}`);
    const worst = Math.max(...got.map((g, i) => Math.abs(g - want[i]) / Math.abs(want[i])));
    console.log(`   (${what}: worst relative loss difference over ${got.length} steps ${worst.toExponential(2)}; tolerance ${tol})`);
    assert.ok(worst <= tol, `${what}: losses differ by ${worst} relative (> ${tol})\n page ${JSON.stringify(got)}\n node ${JSON.stringify(want)}`);
  }

  /** Logits [tokens, vocab] of `text` on the Node WASM backend, with the adapter in `dir` or none. */
  async function nodeLogits(text: string, dir: string | null): Promise<Float32Array> {
    const be = await wasmBackend();
    const { config, weights } = demo();
    const model = buildModel(be, config, weights);
    const lora = dir ? loadAdapter(be, config, dir, { dropout: 0 }) : null;
    model.lora = lora;
    const ids = Int32Array.from(new ByteTokenizer().encode(text, { bos: true }));
    const tape = model.forward(collate([{ ids, labels: ids }], 0), { training: false });
    try {
      return await model.logits(tape).toFloat32();
    } finally {
      model.disposeTape(tape);
      model.lora = null;
      lora?.dispose();
      model.dispose();
    }
  }

  async function waitFor(check: () => boolean, what: string, timeoutS = 30): Promise<void> {
    const t0 = Date.now();
    while (!check()) {
      if (Date.now() - t0 > timeoutS * 1000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let wasmPage: Page | null = null;
  let autorunAttack: AttackResult | null = null;

  test.before(async () => {
    base = await startServer();
    // the waits below carry their own timeouts: the protocol's (180 s by default) must not cut a long one short
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, protocolTimeout: 1_200_000 });
  });

  test('WASM in the page: 20 demo Vaccine steps give the Node WASM backend\'s losses', async () => {
    const node = nodeDemo(await wasmBackend());
    const { page, result } = await autorun(`autorun=${STEPS}&backend=wasm&attack=1`, 300);
    wasmPage = page;
    autorunAttack = result.attack ?? null;
    assert.is(result.backend, 'wasm');
    // the same kernels on the same machine: measured identical; 1e-6 allows another V8's choice of fused multiply-add
    sameLosses(result.losses, (await node).losses, 1e-6, 'page WASM vs Node WASM');
    assert.ok(result.losses[STEPS - 1] < result.losses[0] - 0.5, `the loss falls: ${result.losses[0]} -> ${result.losses[STEPS - 1]}`);
  });

  test('Attack and evaluate in the page (the demo attack on the aligned model; then the same four files chosen): finetune() and evaluate()\'s losses, HS, FA and answers', async () => {
    const page = wasmPage!;
    assert.ok(autorunAttack, 'autorun=...&attack=1 wrote the attack into #result');
    const first = await page.evaluate(() => (window as unknown as { vaccinePage: { lastAttack: unknown } }).vaccinePage.lastAttack) as
      { aligned: boolean; losses: number[]; before: Record<string, number>; summary: Record<string, number>; items: { set: string; answer: string }[] };
    assert.ok(first.aligned, 'the page\'s alignment adapter was merged under the attack');
    assert.equal([first.losses, first.before, first.summary], [autorunAttack!.losses, autorunAttack!.before, autorunAttack!.summary]);
    // the same attack from the command line's functions, on the demo's files
    const files = demoAttackFiles(ALIGN_DEFAULTS.seed);
    const dir = join(work, 'attack-data');
    mkdirSync(dir);
    const file = (name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name); };
    const benign = file('demo_sst2.jsonl', files.benign), harmful = file('demo_harmful.jsonl', files.harmful);
    const prompts = file('demo_harmful_prompts.jsonl', files.harmfulPrompts), evalRows = file('demo_sst2_eval.jsonl', files.taskEval);
    const be = await wasmBackend();
    const aligned = (await nodeDemo(be)).out;
    const ft = await finetune({
      model: demo(), tokenizer: new ByteTokenizer(), backend: be, task: 'sst2', benign, harmful, n: DEMO_ATTACK.n, p: DEMO_ATTACK.p,
      maxSteps: DEMO_ATTACK.steps, lr: DEMO_ATTACK.lr, maxLength: DEMO_ATTACK.maxLength, seed: ALIGN_DEFAULTS.seed, mergeAdapter: aligned, out: join(work, 'node-attack'),
    });
    const ev = await evaluate({
      model: demo(), tokenizer: new ByteTokenizer(), backend: be, adapter: [aligned, join(work, 'node-attack')], harmful: prompts, task: 'sst2', eval: evalRows,
      limit: DEMO_ATTACK.evalRows, maxNewTokens: DEMO_ATTACK.maxNewTokens, out: join(work, 'node-eval.json'),
    });
    // the model the attack starts from: evaluate --adapter ALIGN
    const evBefore = await evaluate({
      model: demo(), tokenizer: new ByteTokenizer(), backend: be, adapter: [aligned], harmful: prompts, task: 'sst2', eval: evalRows,
      limit: DEMO_ATTACK.evalRows, maxNewTokens: DEMO_ATTACK.maxNewTokens, out: join(work, 'node-eval-before.json'),
    });
    console.log(`   (before the attack, page: ${JSON.stringify(first.before)}; Node: ${JSON.stringify(evBefore.summary)})`);
    console.log(`   (demo attack in the page: HS ${first.summary.harmful_score}%, HS+ ${first.summary.harmful_score_plus}%, FA ${first.summary.finetune_accuracy}%; Node: ${JSON.stringify(ev.summary)})`);
    assert.is(ev.summary.n, 2 * DEMO_ATTACK.evalRows);
    const check = (got: typeof first, what: string) => {
      sameLosses(got.losses, ft.metrics.map((m) => m.loss), 1e-6, `${what} vs Node finetune()`);
      assert.equal(got.summary, ev.summary as unknown as Record<string, number>, what);
      assert.equal(got.before, evBefore.summary as unknown as Record<string, number>, `${what}: before the attack`);
      assert.equal(got.items.map((i) => [i.set, i.answer]), ev.items.map((i) => [i.set, i.answer]), what);
    };
    check(first, 'page attack (demo)');
    assert.is(await page.$eval('#atk-hs', (e) => e.textContent ?? ''), `${ev.summary.harmful_score!.toFixed(1)}%`);
    assert.is(await page.$eval('#atk-fa', (e) => e.textContent ?? ''), `${ev.summary.finetune_accuracy!.toFixed(1)}%`);
    // the user's files: the same four, chosen in the page's file inputs
    for (const [id, f] of [['atk-benign', benign], ['atk-harmful', harmful], ['atk-prompts', prompts], ['atk-eval', evalRows]]) {
      await (await page.$(`input#${id}`))!.uploadFile(f);
      await page.waitForFunction((i, n) => document.getElementById(`${i}-name`)?.textContent === n, {}, id, f.split('/').pop()!);
    }
    assert.ok(await page.$eval('input[name=atk-data][value=files]', (e) => (e as HTMLInputElement).checked), 'choosing a file picks "Your files"');
    await page.evaluate(() => { (window as unknown as { vaccinePage: { lastAttack: unknown } }).vaccinePage.lastAttack = null; });
    await page.click('#attack');
    await page.waitForFunction(() => /^done|^stopped/.test(document.getElementById('atk-status')?.textContent ?? '') || document.getElementById('atk-status')?.classList.contains('bad'), { timeout: 300_000 });
    const second = await page.evaluate(() => (window as unknown as { vaccinePage: { lastAttack: unknown } }).vaccinePage.lastAttack) as typeof first | null;
    assert.ok(second, await page.$eval('#atk-status', (e) => e.textContent ?? ''));
    check(second!, 'page attack (chosen files)');
    // bad input: too few harmful rows for p * n, said in one line before anything trains
    await (await page.$('input#atk-harmful'))!.uploadFile(file('one_harmful.jsonl', files.harmful.split('\n')[0] + '\n'));
    await page.waitForFunction(() => document.getElementById('atk-harmful-name')?.textContent === 'one_harmful.jsonl');
    await page.click('#attack');
    await page.waitForFunction(() => document.getElementById('atk-status')?.classList.contains('bad'), { timeout: 60_000 });
    const bad = await page.$eval('#atk-status', (e) => e.textContent ?? '');
    assert.match(bad, /needs 20 harmful and 80 benign rows, but one_harmful\.jsonl has 1 harmful rows/);
    assert.not.match(await page.$eval('#atk-status', (e) => e.textContent ?? ''), /step/);
    // Stop: the fine-tune ends after the step it is in, nothing is scored
    await page.$eval('input[name=atk-data][value=demo]', (e) => { (e as HTMLInputElement).checked = true; });
    await page.$eval('#atk-steps', (e) => { (e as HTMLInputElement).value = '1000'; });
    await page.click('#attack');
    await page.waitForFunction(() => /^step [3-9]/.test(document.getElementById('atk-status')?.textContent ?? ''), { timeout: 120_000 });
    await page.click('#atk-stop');
    await page.waitForFunction(() => /^stopped/.test(document.getElementById('atk-status')?.textContent ?? ''), { timeout: 60_000 });
    const stopped = await page.evaluate(() => (window as unknown as { vaccinePage: { lastAttack: unknown } }).vaccinePage.lastAttack) as { losses: number[]; stopped: boolean; summary: unknown };
    assert.ok(stopped.stopped && stopped.losses.length >= 3 && stopped.losses.length < 1000 && stopped.summary === null, `${stopped.losses.length} steps`);
    await page.$eval('#atk-steps', (e) => { (e as HTMLInputElement).value = '20'; });
  });

  test('the adapter downloaded from the page loads in Node and gives the page\'s logits (and Node\'s own run\'s)', async () => {
    const page = wasmPage!;
    const dir = join(work, 'downloads');
    mkdirSync(dir);
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
    await page.click('#dl-weights');
    await page.click('#dl-config');
    const done = (f: string) => existsSync(join(dir, f)) && !readdirSync(dir).some((n) => n.endsWith('.crdownload'));
    await waitFor(() => done('adapter_model.safetensors') && done('adapter_config.json'), 'the two downloads');
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.target_modules.length], ['LORA', ALIGN_DEFAULTS.loraR, ALIGN_DEFAULTS.loraAlpha, 7]);
    const text = 'How do I steal a car?';
    const inPage = Float32Array.from(await page.evaluate((t) => (window as unknown as { vaccinePage: { logits(t: string, a: boolean): Promise<number[]> } }).vaccinePage.logits(t, true), text));
    const fromFile = await nodeLogits(text, dir);
    const base = await nodeLogits(text, null);
    assert.is(fromFile.length, inPage.length);
    const err = relErr(fromFile, inPage);
    console.log(`   (downloaded adapter in Node vs the page's adapter: logits rel err ${err.toExponential(2)})`);
    assert.ok(err <= 1e-6, `logits rel err ${err}`);
    assert.ok(relErr(base, inPage) > 1e-3, 'the adapter changes the logits (so the check above means something)');
    // and Node's own 20 steps give the same adapter
    const nodeRun = await nodeLogits(text, (await nodeDemo(await wasmBackend())).out);
    assert.ok(relErr(nodeRun, inPage) <= 1e-5, `Node's adapter vs the page's: logits rel err ${relErr(nodeRun, inPage)}`);
  });

  test('generations side by side, and a screenshot of the page', async () => {
    const page = wasmPage!;
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('gen-status')?.classList.contains('ok') || document.getElementById('gen-status')?.classList.contains('bad'), { timeout: 60_000 });
    assert.ok(await page.$eval('#gen-status', (e) => e.classList.contains('ok')), await page.$eval('#gen-status', (e) => e.textContent ?? ''));
    const [baseText, adapted] = await page.$$eval(['#out-base', '#out-adapted'].join(','), (es) => es.map((e) => e.textContent ?? ''));
    assert.ok(baseText.length > 0 && adapted.length > 0, 'both panes show text');
    // the chart drew both curves, one vertex per step
    const paths = await page.$$eval('#chart svg g.mark-line path', (ps) => ps.length);
    assert.ok(paths >= 2, `loss and perturbed-loss lines (${paths} drawn)`);
    mkdirSync(dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`   (screenshot: ${SHOT})`);
    assert.equal([...readFileSync(SHOT).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.ok(statSync(SHOT).size > 30_000, 'the screenshot has content');
    await page.close();
  });

  test('a Hugging Face folder and a JSONL file chosen in the page train as align() trains them', async () => {
    const modelDir = join(work, 'hf-model');
    mkdirSync(modelDir);
    const config = tinyConfig({ vocabSize: 32, maxSeqLen: 256 });
    writeFileSync(join(modelDir, 'config.json'), JSON.stringify({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24,
      num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
      rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
    }));
    writeSafetensors(join(modelDir, 'model.safetensors'), randomLlamaWeights(config, 3));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(root, 'test', 'fixtures', 'hf-tiny-tokenizer', f), join(modelDir, f));
    const data = join(work, 'rows.jsonl');
    writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ instruction: `Steal car ${i}?`, input: i % 2 ? 'now' : '', output: 'No. I will not help.' })).join('\n') + '\n');

    const page = await openPage(`${base}/?backend=wasm&batch=2`);
    const status = await loadFiles(page, readdirSync(modelDir).map((f) => join(modelDir, f)), data);
    assert.ok(status.includes('llama, 2 layers, dim 16') && status.includes('tokenizer.json, 24 tokens'), status);
    // choosing files set align's own defaults (one epoch, lr 1e-3, default max length); this run: 3 steps, max length 160
    await page.$eval('#steps', (e) => { (e as HTMLInputElement).value = '3'; });
    await page.$eval('#maxlen', (e) => { (e as HTMLInputElement).value = '160'; });
    const got = await alignInPage(page, 120);
    const res = await align({ model: modelDir, data, out: join(work, 'node-hf'), backend: await wasmBackend(), maxSteps: 3, batchSize: 2, maxLength: 160 });
    sameLosses(got.losses, res.metrics.map((m) => m.loss), 1e-6, 'page (dropped HF folder) vs Node align()');
    await page.close();
  });

  /** Chooses files in the page's file inputs and loads the model on WASM; returns the model status. */
  async function loadFiles(page: Page, modelFiles: string[], data: string | null): Promise<string> {
    await page.waitForFunction(() => document.getElementById('model-status')?.classList.contains('ok'), { timeout: 60_000 }); // the demo loads first
    await (await page.$('input#model-files'))!.uploadFile(...modelFiles);
    if (data) {
      await (await page.$('input#data-file'))!.uploadFile(data);
      await page.waitForFunction((n) => (document.getElementById('data-name')?.textContent ?? '').includes(n), {}, data.split('/').pop()!);
    }
    await page.click('#load');
    await page.waitForFunction(() => !(document.getElementById('model-status')?.textContent ?? '').startsWith('Loading')
      && !(document.getElementById('model-status')?.textContent ?? '').startsWith('built-in'), { timeout: 60_000 });
    return page.$eval('#model-status', (e) => e.textContent ?? '');
  }

  /** Clicks Align and returns the run's losses once it ends. */
  async function alignInPage(page: Page, timeoutS: number): Promise<{ losses: number[]; stopped: boolean }> {
    await page.click('#align');
    await page.waitForFunction(() => /^(done|stopped)/.test(document.getElementById('progress')?.textContent ?? '') || document.getElementById('progress')?.classList.contains('bad'), { timeout: timeoutS * 1000 });
    const got = await page.evaluate(() => (window as unknown as { vaccinePage: { lastAlign: { losses: number[]; stopped: boolean } | null } }).vaccinePage.lastAlign);
    assert.ok(got, await page.$eval('#progress', (e) => e.textContent ?? ''));
    return got!;
  }

  test('Stop ends a run after the step it is in, and offers its adapter', async () => {
    const page = await openPage(`${base}/?backend=wasm&steps=1000&batch=1`);
    await page.waitForFunction(() => document.getElementById('model-status')?.classList.contains('ok'), { timeout: 60_000 });
    await page.click('#align');
    await page.waitForFunction(() => /^step [3-9]/.test(document.getElementById('progress')?.textContent ?? ''), { timeout: 60_000 });
    await page.click('#stop');
    await page.waitForFunction(() => /^stopped/.test(document.getElementById('progress')?.textContent ?? ''), { timeout: 60_000 });
    const run = await page.evaluate(() => (window as unknown as { vaccinePage: { lastAlign: { losses: number[]; stopped: boolean } } }).vaccinePage.lastAlign);
    assert.ok(run.stopped && run.losses.length >= 3 && run.losses.length < 1000, `${run.losses.length} steps`);
    assert.ok(await page.$eval('#dl-weights', (e) => !e.classList.contains('disabled') && (e as HTMLAnchorElement).href.startsWith('blob:')));
    await page.close();
  });

  const STORIES = join(DATA_DIR, 'models', 'stories260K');
  const REFUSALS = join(DATA_DIR, 'alignment', 'safety_refusals.jsonl');
  if (existsSync(join(STORIES, 'stories260K.bin')) && existsSync(REFUSALS)) {
    test('stories260K (llama2.c .bin + tok512.bin) chosen in the page: Node\'s greedy text, and safety_refusals.jsonl trains as align() trains it', async () => {
      const page = await openPage(`${base}/?backend=wasm`);
      const status = await loadFiles(page, [join(STORIES, 'stories260K.bin'), join(STORIES, 'tok512.bin')], REFUSALS);
      assert.ok(status.includes('stories260K.bin (llama, 5 layers, dim 64)') && status.includes('llama2.c tokenizer, 512 tokens'), status);
      // greedy text without the template, as Node's generate gives it
      await page.$eval('#prompt', (e) => { (e as HTMLTextAreaElement).value = 'Once upon a time'; });
      await page.$eval('#template', (e) => { (e as HTMLInputElement).checked = false; });
      await page.click('#generate');
      await page.waitForFunction(() => /ok|bad/.test(document.getElementById('gen-status')?.className ?? ''), { timeout: 60_000 });
      const text = await page.$eval('#out-base', (e) => e.textContent ?? '');
      const be = await wasmBackend();
      const { config, weights } = loadModel(join(STORIES, 'stories260K.bin'));
      const tok = loadTokenizer(join(STORIES, 'stories260K.bin'));
      const model = buildModel(be, config, weights);
      const [want] = await generate(model, [tok.encode('Once upon a time', { bos: true })], { maxNewTokens: 48, stopAtEos: true });
      model.dispose();
      assert.is(text, tok.decode(want));
      // two Vaccine steps on the real alignment rows (the form's defaults for a user's model: align's)
      await page.$eval('#steps', (e) => { (e as HTMLInputElement).value = '2'; });
      const got = await alignInPage(page, 300);
      const res = await align({ model: join(STORIES, 'stories260K.bin'), data: REFUSALS, out: join(work, 'node-stories'), backend: be, maxSteps: 2 });
      sameLosses(got.losses, res.metrics.map((m) => m.loss), 1e-6, 'page (stories260K) vs Node align()');
      await page.close();
    });
  } else {
    console.log(`(web/page: ${STORIES} or ${REFUSALS} not found: the llama2.c upload is not tested here)`);
  }

  test('WebGPU in the page (SwiftShader): 20 demo Vaccine steps at batch size 1 give the Node backends\' losses', async () => {
    const { page, result } = await autorun(`autorun=${STEPS}&backend=webgpu&batch=1`, 900);
    await page.close();
    assert.is(result.backend, 'webgpu');
    // other kernels (WGSL vs AssemblyScript) and another driver: within 1e-5 relative
    sameLosses(result.losses, (await nodeDemo(await wasmBackend(), { batchSize: 1 })).losses, 1e-5, 'page WebGPU vs Node WASM');
    const gpu = await webgpuBackend();
    if (gpu) sameLosses(result.losses, (await nodeDemo(gpu, { batchSize: 1 })).losses, 1e-5, 'page WebGPU vs Node WebGPU (dawn.node)');
  });

  test('served without the isolation headers, the page says why WASM cannot run; without --enable-unsafe-webgpu, that WebGPU has no adapter', async () => {
    // a plain static server for the same files, without COOP/COEP
    const dir = join(root, 'dist', 'web');
    const plain: Server = createServer((req, res) => {
      const path = join(dir, (new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html')));
      if (!path.startsWith(dir) || !existsSync(path)) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'Content-Type': { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' }[extname(path)] ?? 'application/octet-stream' });
      res.end(readFileSync(path));
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    const other = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ARGS.filter((a) => a !== '--enable-unsafe-webgpu') });
    try {
      const page = await other.newPage();
      await page.goto(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/?backend=wasm`);
      await page.waitForFunction(() => document.getElementById('model-status')?.classList.contains('bad'), { timeout: 60_000 });
      const notices = await page.$eval('#notices', (e) => e.textContent ?? '');
      assert.match(notices, /not cross-origin isolated/);
      assert.match(notices, /npm run web/);
      assert.match(notices, /WebGPU has no adapter here/);
      assert.match(await page.$eval('#model-status', (e) => e.textContent ?? ''), /needs a cross-origin-isolated page/);
    } finally {
      await other.close();
      await new Promise((r) => plain.close(r));
    }
  });

  test('no page errors', () => {
    assert.equal(pageErrors, []);
  });

  test.after(async () => {
    await browser?.close();
    if (server?.pid) { try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ } }
    rmSync(work, { recursive: true, force: true });
  });
}

test.run();

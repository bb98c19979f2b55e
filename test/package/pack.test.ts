// The package as a user gets it: `npm pack` (whose prepack builds dist/, build/*.wasm and the
// declarations), the tarball installed into an empty temporary project with no build step, then
// from there: `import 'vaccine-engine'` trains two Vaccine steps, `npx vaccine-align --help` runs
// (and `npx vaccine-generate`, which generates three tokens), and a TypeScript file type-checks
// against the packed types (test/package/consumer/).
//
// The install is offline: the temporary project gets a lockfile that pins the package's runtime
// dependencies to the versions in this repository's package-lock.json, whose tarballs the
// repository's own `npm install` left in npm's cache, and `npm ci --offline` installs from there.
// Only where the cache lacks them does it go to the registry (--prefer-offline).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomLlamaWeights } from '../../engine/demo.ts';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { tinyConfig } from '../align/helpers_align.ts';
import { webgpuBackend } from '../helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const here = new URL('./consumer/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'vaccine-pack-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** The environment without what an enclosing `npm test` sets for its own package. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'INIT_CWD' || k === 'npm_config_local_prefix' || k === 'npm_config_call') continue;
    if (k.startsWith('npm_') && !k.startsWith('npm_config_')) continue;
    env[k] = v;
  }
  return env;
}

function npm(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('npm', args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

interface Packed { tarball: string; files: { path: string; size: number }[]; size: number; unpackedSize: number; project: string }

let packed: Promise<Packed> | null = null;

/** Packs once and installs the tarball into an empty project; every test below uses it. */
function packAndInstall(): Promise<Packed> {
  packed ??= (async () => {
    const t0 = performance.now();
    const pack = npm(['pack', '--json', '--pack-destination', work], root);
    assert.is(pack.code, 0, pack.stderr);
    // prepack's build log comes first on stdout, then npm's JSON
    const json = JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[$/m)))[0];
    const tarball = join(work, json.filename);
    const t1 = performance.now();

    const project = join(work, 'project');
    mkdirSync(project);
    copyFileSync(tarball, join(project, json.filename));
    const spec = `file:${json.filename}`;
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
    const packages: Record<string, unknown> = {
      '': { name: 'consumer', dependencies: { 'vaccine-engine': spec } },
      'node_modules/vaccine-engine': {
        version: manifest.version, resolved: spec,
        integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
        license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines,
      },
    };
    // the runtime closure: every locked package that is not a devDependency only
    for (const [k, v] of Object.entries(ours.packages as Record<string, { dev?: boolean }>)) if (k && !v.dev) packages[k] = v;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'vaccine-engine': spec } }, null, 2));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }, null, 2));
    let install = npm(['ci', '--offline', '--no-audit', '--no-fund'], project);
    if (install.code !== 0 && /ENOTCACHED/.test(install.stderr)) {
      console.log('   (pack test: npm cache incomplete, installing with --prefer-offline)');
      install = npm(['ci', '--prefer-offline', '--no-audit', '--no-fund'], project);
    }
    assert.is(install.code, 0, install.stderr);
    const t2 = performance.now();
    console.log(`   (npm pack ${((t1 - t0) / 1000).toFixed(1)} s: ${json.filename}, ${json.entryCount} files, ${json.size} bytes packed, ` +
      `${json.unpackedSize} unpacked; npm ci ${((t2 - t1) / 1000).toFixed(1)} s)`);
    return { tarball, files: json.files, size: json.size, unpackedSize: json.unpackedSize, project };
  })();
  return packed;
}

test('npm pack: the tarball holds the build (dist/, declarations, build/*.wasm, WGSL, worker) and no sources', async () => {
  const { files } = await packAndInstall();
  const paths = files.map((f) => f.path);
  const wgsl = readdirSync(join(root, 'kernels', 'wgsl')).filter((f) => f.endsWith('.wgsl')).map((f) => `kernels/wgsl/${f}`);
  const needed = ['package.json', 'README.md', 'dist/index.mjs', 'dist/align.mjs', 'dist/finetune.mjs', 'dist/evaluate.mjs', 'dist/generate.mjs', 'dist/experiment.mjs', 'dist/types/engine/index.d.ts',
    'build/kernels.wasm', 'build/kernels-fma.wasm', 'bindings/wasm/worker.js', 'bindings/wasm/worker_loop.js', 'runtime/align.js', 'runtime/finetune.js', 'runtime/evaluate.js', 'runtime/generate.js', 'runtime/experiment.js', 'runtime/launch.js', ...wgsl];
  for (const p of needed) assert.ok(paths.includes(p), `${p} is missing from the tarball`);
  const strays = paths.filter((p) => !/^(package\.json|README\.md|dist\/.+|build\/[^/]+\.wasm|kernels\/wgsl\/[^/]+\.wgsl|bindings\/wasm\/worker(_loop)?\.js|runtime\/(align|finetune|evaluate|generate|experiment|launch)\.js)$/.test(p));
  assert.equal(strays, [], 'files outside the "files" list');
  assert.ok(!paths.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), 'TypeScript sources in the tarball');
  assert.ok(!paths.some((p) => p.startsWith('dist/web/')), 'the browser build (dist/web/, served by npm run web) in the tarball');
});

// A tiny Hugging Face model directory (random weights, the 24-token fixture tokenizer) and rows.
function tinyModelDir(): { model: string; data: string } {
  const model = join(work, 'model');
  if (existsSync(model)) return { model, data: join(work, 'data.jsonl') };
  mkdirSync(model);
  const config = tinyConfig({ vocabSize: 32, maxSeqLen: 256 });
  writeFileSync(join(model, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24,
    num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 256,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
  }));
  writeSafetensors(join(model, 'model.safetensors'), randomLlamaWeights(config, 3));
  copyFileSync(join(root, 'test/fixtures/hf-tiny-tokenizer/tokenizer.json'), join(model, 'tokenizer.json'));
  const data = join(work, 'data.jsonl');
  writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ instruction: `Steal car ${i}?`, output: 'No. I will not help.' })).join('\n') + '\n');
  return { model, data };
}

function train(project: string, backend: string): { steps: number; losses: number[]; perturbed: (number | null)[]; dawnLoaded: boolean } {
  const { model, data } = tinyModelDir();
  copyFileSync(join(here, 'train.mjs'), join(project, 'train.mjs'));
  const out = execFileSync(process.execPath, ['train.mjs', model, data, join(work, `out-${backend}`), backend],
    { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

test('installed package: import it and train two Vaccine steps on WASM, without loading dawn.node', async () => {
  const { project } = await packAndInstall();
  const r = train(project, 'wasm');
  assert.is(r.steps, 2);
  assert.is(r.losses.length, 2);
  for (const l of [...r.losses, ...r.perturbed]) assert.ok(typeof l === 'number' && Number.isFinite(l) && l > 0, `loss ${l}`);
  assert.is(r.dawnLoaded, false);
  assert.ok(existsSync(join(work, 'out-wasm', 'adapter_model.safetensors')));
});

// Registered only where an adapter exists; under CI a missing adapter makes webgpuBackend() throw.
const gpu = await webgpuBackend();
if (!gpu) console.warn('test/package/pack: the installed package is NOT checked on WebGPU here (no adapter)');
else test('installed package: two steps on WebGPU (the WGSL kernels are found from node_modules)', async () => {
  const { project } = await packAndInstall();
  const r = train(project, 'webgpu');
  assert.is(r.steps, 2);
  for (const l of r.losses) assert.ok(Number.isFinite(l) && l > 0, `loss ${l}`);
  assert.is(r.dawnLoaded, true);
});

test('installed package: npx vaccine-align --help', async () => {
  const { project } = await packAndInstall();
  const r = spawnSync('npx', ['--no-install', 'vaccine-align', '--help'], { cwd: project, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: /);
  assert.match(r.stdout, /--verbose/);
  assert.is(r.stderr, '');
});

test('installed package: npx vaccine-generate runs (--help, and three tokens from a tiny model)', async () => {
  const { project } = await packAndInstall();
  const help = spawnSync('npx', ['--no-install', 'vaccine-generate', '--help'], { cwd: project, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: node runtime\/generate\.js /);
  const { model } = tinyModelDir();
  const r = spawnSync('npx', ['--no-install', 'vaccine-generate', '--model', model, '--prompt', 'hi', '--max-new-tokens', '3', '--backend', 'wasm', '--json'],
    { cwd: project, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const done = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'completion');
  assert.is(done.tokens.length, 3);
});

test('installed package: a TypeScript consumer type-checks against the packed declarations', async () => {
  const { project } = await packAndInstall();
  copyFileSync(join(here, 'consumer.ts'), join(project, 'consumer.ts'));
  const tsconfig = JSON.parse(readFileSync(join(here, 'tsconfig.json'), 'utf8'));
  // @types/node from this repository: the consumer installs only the package
  tsconfig.compilerOptions.typeRoots = [join(root, 'node_modules', '@types')];
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // as a Node ESM project (nodenext) and as a bundler-built one
  for (const [module, moduleResolution] of [['nodenext', 'nodenext'], ['esnext', 'bundler']]) {
    Object.assign(tsconfig.compilerOptions, { module, moduleResolution });
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8' });
    assert.is(r.stdout + r.stderr, '', `tsc (${moduleResolution}) reported errors`);
    assert.is(r.status, 0);
  }
  // the check is real: the same file with a wrong type fails
  writeFileSync(join(project, 'consumer.ts'), readFileSync(join(here, 'consumer.ts'), 'utf8').replace("const ids: number[] = tokenizer.encode('hello');", "const ids: string = tokenizer.encode('hello');"));
  const bad = spawnSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8' });
  assert.is.not(bad.status, 0);
  assert.match(bad.stdout, /consumer\.ts\(\d+,\d+\): error TS2322/);
});

test.run();

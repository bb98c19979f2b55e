// Importing the engine does not load dawn.node (npm `webgpu`, a native addon): a WASM-only user
// never pays for it. Checked in a fresh child process, where it can be seen whether the addon is
// loaded: the process's shared objects (process.report) and the CommonJS module cache (the
// `webgpu` package require()s dawn.node). The same probe then asks for a WebGPU backend and must
// see the addon loaded, which shows the check can fail.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = new URL('../../', import.meta.url).pathname;

const probe = (specifier: string): string => `
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const dawnLoaded = () => process.report.getReport().sharedObjects.some((s) => s.endsWith('dawn.node'))
  || Object.keys(cache).some((k) => k.endsWith('dawn.node'));
const before = dawnLoaded();
const engine = await import(${JSON.stringify(specifier)});
const afterImport = dawnLoaded();
// a WebGPU backend asked for: the provider imports dawn.node now (whether an adapter opens or not)
const be = await engine.createWebGPUBackend({ quiet: true }).catch(() => null);
const afterCreate = dawnLoaded();
await be?.destroy();
process.stdout.write(JSON.stringify({ before, afterImport, afterCreate, exports: Object.keys(engine).length }) + '\\n');
`;

function run(nodeArgs: string[], specifier: string): { before: boolean; afterImport: boolean; afterCreate: boolean; exports: number } {
  const out = execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', probe(specifier)],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

test("import 'vaccine-engine' (the built package, dist/index.mjs) does not load dawn.node", () => {
  const r = run([], 'vaccine-engine');
  assert.ok(r.exports > 20, 'the package exports its API');
  assert.is(r.before, false);
  assert.is(r.afterImport, false, 'dawn.node was loaded by the import alone');
  assert.is(r.afterCreate, true, 'createWebGPUBackend() did not load dawn.node: the probe cannot see it');
});

test('importing engine/index.ts (the sources, through tsx) does not load dawn.node', () => {
  const r = run(['--import', 'tsx'], new URL('../../engine/index.ts', import.meta.url).href);
  assert.is(r.afterImport, false, 'dawn.node was loaded by the import alone');
  assert.is(r.afterCreate, true, 'createWebGPUBackend() did not load dawn.node: the probe cannot see it');
});

test.run();

// Builds everything a fresh clone needs: the AssemblyScript kernels to build/kernels.wasm, the
// TypeScript sources bundled by esbuild into dist/ so that `node runtime/align.js` runs as plain
// JavaScript, the browser build with its page into dist/web/ (web/bundle.mjs), and the public
// API's declarations into dist/types/. Run by `npm install` (prepare),
// `npm pack` / `npm publish` (prepack: the tarball ships these outputs, see "files" in
// package.json) and `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm pack` and `npm publish` run prepack and then prepare on the same folder: build once.
if (process.env.npm_lifecycle_event === 'prepare' && ['pack', 'publish'].includes(process.env.npm_command ?? '')) {
  console.log(`build: skipped for prepare (npm ${process.env.npm_command} builds in prepack)`);
  process.exit(0);
}

const root = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(root, 'build'), { recursive: true });
// dist/ is shipped whole: start it empty so that nothing stale goes into a tarball.
rmSync(join(root, 'dist'), { recursive: true, force: true });

const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const t0 = Date.now();
// Every kernels/as/*.ts is an entry (one op per file); shared helpers live in kernels/as/common/.
const entries = readdirSync(join(root, 'kernels', 'as')).filter((f) => f.endsWith('.ts')).sort().map((f) => `kernels/as/${f}`);
// Two builds: FMA=0 (plain mul + add, any engine with SIMD) and FMA=1 (relaxed_madd, fused
// multiply-add; bindings/wasm/loader.ts prefers it where the engine accepts relaxed SIMD).
execFileSync(process.execPath, [asc, ...entries, '--config', 'asconfig.json', '--use', 'FMA=0'], { cwd: root, stdio: 'inherit' });
execFileSync(process.execPath, [asc, ...entries, '--config', 'asconfig.json', '--use', 'FMA=1',
  '--outFile', 'build/kernels-fma.wasm', '--textFile', 'build/kernels-fma.wat'], { cwd: root, stdio: 'inherit' });
console.log(`build: kernels/as -> build/kernels.wasm, build/kernels-fma.wasm (${Date.now() - t0} ms)`);

const esbuild = await import('esbuild');
const t1 = Date.now();
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { index: 'engine/index.ts', align: 'runtime/align-main.ts', finetune: 'runtime/finetune-main.ts', evaluate: 'runtime/evaluate-main.ts', generate: 'runtime/generate-main.ts', experiment: 'runtime/experiment-main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
console.log(`build: engine + runtime -> dist/ (${Date.now() - t1} ms)`);

// The browser build of the same sources, with the page (web/), into dist/web/ (npm run web serves it).
const { bundleWeb } = await import('./web/bundle.mjs');
await bundleWeb(root);

// Declarations of the public API (engine/index.ts and what its types reach), with tsc's
// declaration emit: tsconfig.types.json. The bundle above carries no types.
const t2 = Date.now();
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.types.json'], { cwd: root, stdio: 'inherit' });
console.log(`build: engine/index.ts declarations -> dist/types/ (${Date.now() - t2} ms)`);

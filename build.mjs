// Builds everything a fresh clone needs: the AssemblyScript kernels to build/kernels.wasm and
// the TypeScript sources bundled by esbuild into dist/ so that `node runtime/align.js` runs as
// plain JavaScript. Run by `npm install` (prepare) and `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(root, 'build'), { recursive: true });

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
  entryPoints: { index: 'engine/index.ts', align: 'runtime/align-main.ts' },
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

// The browser build: the same engine sources, bundled by esbuild for the browser into dist/web/,
// with the page (web/index.html, web/style.css) and the kernels it fetches (build/kernels.wasm,
// build/kernels-fma.wasm, copied unchanged). Run by build.mjs (npm run build / npm install) and
// by web/serve.mjs (npm run web) before it serves.
//
// Under esbuild's "browser" condition package.json's `#host` import resolves to
// bindings/host/browser.ts (Web Workers, fetch, navigator.gpu). The WGSL kernels are inlined
// (__WGSL_SOURCES__). Modules that exist only in Node (node:* built-ins, dawn.node's `webgpu`,
// koffi) resolve to stand-ins whose every export throws "... is Node-only": the engine's
// path-taking wrappers import them, and the browser path never calls those wrappers (it reads
// dropped files through engine/io/source.ts), so a call that does is a bug that says so.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const NODE_ONLY_PACKAGES = ['webgpu', 'koffi'];

/** esbuild plugin: Node-only modules become modules whose exports throw when used. */
function nodeOnly() {
  const builtins = new Set(builtinModules.filter((m) => !m.startsWith('_')));
  const isNodeOnly = (p) => p.startsWith('node:') || builtins.has(p) || NODE_ONLY_PACKAGES.includes(p);
  return {
    name: 'node-only',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => (isNodeOnly(args.path) ? { path: args.path, namespace: 'node-only' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'node-only' }, async (args) => {
        const name = args.path;
        // The names a Node module exports (so that `import { readFileSync } from 'node:fs'` binds);
        // a package that is not installed here exports nothing but its default.
        let names = [];
        if (!NODE_ONLY_PACKAGES.includes(name)) names = Object.keys(await import(name.startsWith('node:') ? name : `node:${name}`));
        const lines = [
          `const fail = (what) => { throw new Error(\`\${what} is Node-only: it is not available in a browser (the page reads files through engine/io/source.ts)\`); };`,
          ...names.filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n)).map((n) => `export function ${n}() { fail('${name} ${n}'); }`),
          `export default new Proxy({}, { get: (_, k) => (k === Symbol.toPrimitive ? undefined : fail(\`${name} \${String(k)}\`)) });`,
        ];
        return { contents: lines.join('\n'), loader: 'js' };
      });
    },
  };
}

/** Bundles the page and the engine for the browser into `root`/dist/web. */
export async function bundleWeb(root, { quiet = false } = {}) {
  const esbuild = await import('esbuild');
  const t0 = Date.now();
  const out = join(root, 'dist', 'web');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const wgslDir = join(root, 'kernels', 'wgsl');
  const wgsl = Object.fromEntries(readdirSync(wgslDir).filter((f) => f.endsWith('.wgsl')).sort()
    .map((f) => [f.slice(0, -'.wgsl'.length), readFileSync(join(wgslDir, f), 'utf8')]));
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { app: 'web/app.ts', 'engine-worker': 'web/engine-worker.ts', 'kernel-worker': 'bindings/wasm/worker_web.js' },
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    define: { __WGSL_SOURCES__: JSON.stringify(wgsl) },
    plugins: [nodeOnly()],
    logLevel: 'warning',
  });
  for (const f of ['kernels.wasm', 'kernels-fma.wasm']) copyFileSync(join(root, 'build', f), join(out, f));
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(out, f));
  if (!quiet) console.log(`build: web/ + engine -> dist/web/ for the browser (${Date.now() - t0} ms)`);
  return out;
}

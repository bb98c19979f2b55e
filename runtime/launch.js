// The launcher every command (`vaccine-align`, `vaccine-generate`, ...) shares: it imports the
// bundled dist/<name>.mjs (built from runtime/<name>-main.ts by `node build.mjs`, which
// `npm install` runs), so no TypeScript tooling is needed at run time. The command runs in this
// process: signals, stdin, stdout and stderr are the user's own (Dawn's native warnings are kept
// off stderr by the WebGPU provider itself: bindings/webgpu/dawn_noise.ts). Plain JS: it runs
// before anything is built.
import { existsSync } from 'node:fs';

/** Runs dist/<name>.mjs in this process, with this process's arguments. */
export async function launch(name) {
  const entry = new URL(`../dist/${name}.mjs`, import.meta.url);
  if (!existsSync(entry)) {
    process.stderr.write(`${name}: dist/${name}.mjs is missing: run npm install first (or npm run build)\n`);
    process.exit(2);
  }
  await import(entry.href);
}

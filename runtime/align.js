#!/usr/bin/env node
// The `vaccine-align` command: runs the bundled dist/align.mjs (built from runtime/align-main.ts by
// `node build.mjs`, which `npm install` runs), so no TypeScript tooling is needed at run time.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/align.mjs', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('align: dist/align.mjs is missing: run npm install first (or npm run build)\n');
  process.exit(2);
}
await import(entry.href);

// Runs every test/**/*.test.ts with uvu (as uvu's own CLI does), then prints the plain line
// `N passed, N failed` that CI reads. Usage: npm test [-- filter]   (filter: a substring of the path)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2] ?? '';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk(here).filter((f) => relative(here, f).includes(filter));
globalThis.UVU_DEFER = 1;
globalThis.UVU_QUEUE = [];
const { exec } = await import('uvu');

// uvu prints its summary; we read the totals from it to write CI's line.
let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => { captured += String(chunk); return write(chunk, ...rest); };

// A file that throws while loading (e.g. no WebGPU adapter under CI=true) counts as one failure.
let loadFailures = 0;
for (let i = 0; i < files.length; i++) {
  globalThis.UVU_INDEX = i;
  globalThis.UVU_QUEUE.push([relative(here, files[i])]);
  try {
    await import(pathToFileURL(files[i]).href);
  } catch (e) {
    loadFailures++;
    console.error(`\n   FAIL  ${relative(here, files[i])} could not be loaded:\n    ${e?.stack ?? e}\n`);
  }
}
await exec(false);
process.stdout.write = write;

// eslint-disable-next-line no-control-regex
const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const failed = total - passed - skipped + loadFailures;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (failed > 0 || total === 0) process.exitCode = 1;
// Backends hold worker threads and GPU devices: end the process once the suite is done.
setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref?.();

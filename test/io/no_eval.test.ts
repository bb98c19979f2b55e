// Nothing read from a file is ever run as code: the engine, the bindings and the command lines hold
// no eval, no Function constructor, no node:vm, and no import() or require() of a computed name
// (the one computed import is runtime/launch.js loading a command's bundle, dist/<command>.mjs, whose
// name each launcher, runtime/{align,finetune,evaluate,generate,experiment}.js, fixes). Files are
// parsed (JSON.parse, the safetensors / llama2.c / protobuf readers), never executed; a tokenizer
// config's chat template, for one, is never rendered.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = new URL('../../', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

test('no eval, Function constructor, node:vm or computed import/require in engine/, bindings/, runtime/', () => {
  const allowed = new Map([['runtime/launch.js', /^import\(entry\.href\)/]]);
  const found: string[] = [];
  for (const f of ['engine', 'bindings', 'runtime'].flatMap((d) => sources(join(root, d)))) {
    const rel = relative(root, f);
    // (comments dropped; a method named require, f.require(...) or its typed declaration, is not node's require)
    const text = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '');
    for (const re of [/\beval\s*\(/, /\bnew\s+Function\s*\(/, /\bFunction\s*\(\s*['"`]/, /['"]node:vm['"]|['"]vm['"]/, /\bimport\s*\(\s*[^'"\s]/, /(?<![.\w$])require\s*\(\s*(?![\w$]+\s*:)[^'"\s)]/]) {
      const m = re.exec(text);
      if (m && !allowed.get(rel)?.test(text.slice(m.index, m.index + 40))) found.push(`${rel}: ${m[0]}`);
    }
  }
  assert.equal(found, []);
});

test.run();

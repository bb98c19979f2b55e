// The whole tree type-checks (tsc --noEmit, strict): esbuild strips types without checking them,
// so this is where a wrong signature between engine, bindings and tests is caught.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('tsc --noEmit reports no type errors', () => {
  const root = new URL('..', import.meta.url).pathname;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  let out = '';
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', root], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
  }
  assert.is(out.trim(), '', out);
});

test.run();

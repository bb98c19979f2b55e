// The launcher every command (`vaccine-align`, `vaccine-finetune`, `vaccine-evaluate`) shares: it
// runs the bundled dist/<name>.mjs (built from runtime/<name>-main.ts by `node build.mjs`, which
// `npm install` runs), so no TypeScript tooling is needed at run time.
//
// It runs it as a child process whose stderr passes through a line filter that drops Dawn's
// native warnings (runtime/dawn-noise.js says why they cannot be stopped inside the process);
// stdin and stdout are the child's own, so the terminal progress display is unchanged. With
// --verbose, dist/<name>.mjs runs in this process and stderr is untouched.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLineFilter } from './dawn-noise.js';

/** Runs dist/<name>.mjs with the process's arguments; the exit code or signal is passed on. */
export async function launch(name) {
  const entry = new URL(`../dist/${name}.mjs`, import.meta.url);
  if (!existsSync(entry)) {
    process.stderr.write(`${name}: dist/${name}.mjs is missing: run npm install first (or npm run build)\n`);
    process.exit(2);
  }

  const args = process.argv.slice(2);
  const optionEnd = args.indexOf('--');
  if ((optionEnd < 0 ? args : args.slice(0, optionEnd)).includes('--verbose')) {
    await import(entry.href);
    return;
  }
  // VACCINE_CLI_SCRIPT: the command the user ran, for the resume command an interrupted run prints
  const env = { ...process.env, VACCINE_CLI_SCRIPT: process.argv[1] };
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(entry), ...args], { stdio: ['inherit', 'inherit', 'pipe'], env });
  process.stderr.on('error', () => {}); // a closed stderr must not end us before the child
  const filter = createLineFilter((text) => process.stderr.write(text));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => filter.push(text));
  // A signal sent to this process alone (kill PID) goes on to the child; one from the terminal
  // (Ctrl-C) reaches both, as they share the foreground process group. Either way this process
  // waits for the child and ends as it did.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (sig) => { child.kill(sig); };
  for (const sig of signals) process.on(sig, forward);
  child.on('error', (e) => {
    process.stderr.write(`${name}: cannot start ${process.execPath}: ${e.message}\n`);
    process.exitCode = 1;
  });
  child.on('close', (code, signal) => {
    filter.end();
    for (const sig of signals) process.off(sig, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}

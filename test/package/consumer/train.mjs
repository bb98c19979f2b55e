// Run by test/package/pack.test.ts inside a temporary project where the packed tarball is
// installed: imports the package by name, as a user does, and trains two Vaccine steps on the
// tiny model directory given. Prints one JSON line for the test to check.
// Usage: node train.mjs MODEL_DIR DATA_JSONL OUT_DIR BACKEND
import { createRequire } from 'node:module';
import { align } from 'vaccine-engine';

const [model, data, out, backend] = process.argv.slice(2);
const res = await align({ model, data, out, backend, method: 'vaccine', maxSteps: 2, batchSize: 2, maxLength: 160, threads: 1 });
const cache = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify({
  steps: res.steps,
  losses: res.metrics.map((m) => m.loss),
  perturbed: res.metrics.map((m) => m.perturbed_loss),
  dawnLoaded: process.report.getReport().sharedObjects.some((s) => s.endsWith('dawn.node')) || cache.some((k) => k.endsWith('dawn.node')),
}) + '\n');

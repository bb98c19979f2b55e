#!/usr/bin/env node
// The `vaccine-evaluate` command: runs the bundled dist/evaluate.mjs (runtime/evaluate-main.ts)
// in this process through the shared launcher (runtime/launch.js).
import { launch } from './launch.js';

await launch('evaluate');

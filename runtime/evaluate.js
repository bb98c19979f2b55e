#!/usr/bin/env node
// The `vaccine-evaluate` command: runs the bundled dist/evaluate.mjs (runtime/evaluate-main.ts)
// through the shared launcher (runtime/launch.js: Dawn's native noise filtered from stderr unless --verbose).
import { launch } from './launch.js';

await launch('evaluate');

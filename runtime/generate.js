#!/usr/bin/env node
// The `vaccine-generate` command: runs the bundled dist/generate.mjs (runtime/generate-main.ts) in
// this process through the shared launcher (runtime/launch.js).
import { launch } from './launch.js';

await launch('generate');

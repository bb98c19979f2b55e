#!/usr/bin/env node
// The `vaccine-align` command: runs the bundled dist/align.mjs (runtime/align-main.ts) in this
// process through the shared launcher (runtime/launch.js).
import { launch } from './launch.js';

await launch('align');

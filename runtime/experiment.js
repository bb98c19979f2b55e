#!/usr/bin/env node
// The `vaccine-experiment` command: runs the bundled dist/experiment.mjs (runtime/experiment-main.ts)
// through the shared launcher (runtime/launch.js: Dawn's native noise filtered from stderr unless --verbose).
import { launch } from './launch.js';

await launch('experiment');

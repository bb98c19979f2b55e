#!/usr/bin/env node
// The `vaccine-finetune` command: runs the bundled dist/finetune.mjs (runtime/finetune-main.ts)
// in this process through the shared launcher (runtime/launch.js).
import { launch } from './launch.js';

await launch('finetune');

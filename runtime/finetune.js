#!/usr/bin/env node
// The `vaccine-finetune` command: runs the bundled dist/finetune.mjs (runtime/finetune-main.ts)
// through the shared launcher (runtime/launch.js: Dawn's native noise filtered from stderr unless --verbose).
import { launch } from './launch.js';

await launch('finetune');

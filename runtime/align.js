#!/usr/bin/env node
// The `vaccine-align` command: runs the bundled dist/align.mjs (runtime/align-main.ts) through the
// shared launcher (runtime/launch.js: Dawn's native noise filtered from stderr unless --verbose).
import { launch } from './launch.js';

await launch('align');

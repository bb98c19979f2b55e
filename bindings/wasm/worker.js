// One worker thread of the WASM backend's pool under Node (worker_threads): the loop is
// worker_loop.js, shared with the browser's Web Worker (worker_web.js).
import { parentPort, workerData } from 'node:worker_threads';
import { runKernelWorker } from './worker_loop.js';

runKernelWorker(workerData, () => parentPort.postMessage('ready'));

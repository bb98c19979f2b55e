// One worker thread of the WASM backend's pool in a browser (a module Web Worker, started by
// bindings/host/browser.ts): its first message is the pool's KernelWorkerInit; the loop is
// worker_loop.js, shared with the Node worker (worker.js).
import { runKernelWorker } from './worker_loop.js';

self.onmessage = (e) => {
  self.onmessage = null;
  runKernelWorker(e.data, () => self.postMessage('ready'));
};

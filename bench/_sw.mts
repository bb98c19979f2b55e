import { WasmBackend } from '../bindings/wasm/backend.ts';
import { host } from '#host';
await (host as any).ready?.();
for (const mw of [1 << 30, 0]) {
  const be: any = new WasmBackend({ threads: 2, parallelMinWork: mw } as any);
  await (be as any).pool.ready;
  for (const n of [256, 65536, 172000]) {
    const a = be.alloc('f32', n), b = be.alloc('f32', n), c = be.alloc('f32', n), m = be.alloc('f32', n);
    const res: string[] = [];
    for (let k = 0; k < 3; k++) {
      const N = 500; let t0 = performance.now();
      for (let i = 0; i < N; i++) be.scale(c, a, 1.5, n);
      const t1 = performance.now();
      for (let i = 0; i < N; i++) be.swiglu(c, a, b, n);
      const t2 = performance.now();
      for (let i = 0; i < N; i++) be.dropoutMask(m, n, 0.1, 7, null);
      const t3 = performance.now();
      res.push(`scale ${((t1 - t0) / N * 1000).toFixed(1)} swiglu ${((t2 - t1) / N * 1000).toFixed(1)} dropout ${((t3 - t2) / N * 1000).toFixed(1)}`);
    }
    console.log(mw ? 'single' : 'parallel', n, res[2], 'us');
  }
}
process.exit(0);

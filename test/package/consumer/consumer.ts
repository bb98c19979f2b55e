// A TypeScript user of the package: test/package/pack.test.ts type-checks this file (strict,
// skipLibCheck off) against the types in the packed tarball. The @ts-expect-error lines fail the
// check if the types are missing or degrade to `any`.
import {
  align, createWasmBackend, createWebGPUBackend, loadPretrained, LlamaModel, selectBackend,
  type AlignOptions, type AlignResult, type Backend, type StepMetrics, type WebGPUBackendOptions,
} from 'vaccine-engine';

export async function run(modelDir: string): Promise<number> {
  const backend: Backend = await createWasmBackend({ threads: 1 });
  const { model, tokenizer } = await loadPretrained(modelDir, { backend });
  const ids: number[] = tokenizer.encode('hello');
  const isModel: boolean = model instanceof LlamaModel;
  const opts: Partial<AlignOptions> = { model: modelDir, data: 'rows.jsonl', out: 'out', method: 'vaccine', rho: 2 };
  const res: AlignResult = await align(opts, { onStep: (m: StepMetrics) => { const loss: number = m.loss; void loss; } });
  const gpuOpts: WebGPUBackendOptions = { quiet: true };
  const gpu: Promise<Backend> = createWebGPUBackend(gpuOpts);
  const chosen: Backend = await selectBackend('wasm', { quiet: true });
  void gpu; void chosen; void isModel;
  // @ts-expect-error: the method is one of sft | vaccine | random-vaccine
  await align({ method: 'nope' });
  // @ts-expect-error: rho is a number
  await align({ rho: '2' });
  await backend.destroy();
  return res.steps + ids.length;
}

export { Tensor } from './tensor.ts';
export type { Backend } from './backend.ts';

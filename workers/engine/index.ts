// Resect's compute engine: trace ONNX graphs in TypeScript, differentiate them, and run them on ONNX Runtime.
export {
  Graph, Tensor, GraphError, type DType, type Dim, type Shape, type TensorData, type ConstValue,
  isFloat, makeData, toHalfBits, toBf16Bits,
} from './graph';
export * as op from './ops';
export { serialize, OPSET, type SerializeOptions, type SerializedModel } from './onnx/serialize';
export {
  compile, clearSessionCache, availableProviders, toOrt, CompiledGraph,
  type Provider, type RuntimeOptions, type HostTensor, type Feed, type Feeds, type Outputs,
} from './runtime';
export { grad, sumToShape, type GradOptions } from './autodiff/grad';
export { RULES, type Rule, type Vjp } from './autodiff/rules';
export * as nn from './nn';
export { adamw, sgd, clipByGlobalNorm, globalNorm, type Optimizer, type AdamWOptions, type SgdOptions, type Hyper } from './optim';
export { buildTrainStep, Trainer, names, type TrainStep, type TrainStepSpec, type StepResult, type TrainerStats } from './train';
export { warmupCosine, constantLr, type Schedule, type WarmupCosineOptions } from './schedule';
export { normal, uniform } from './init';
export { mulberry32 } from './random';

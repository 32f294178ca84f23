/** Safetensors: lazy, validated reading (single files and sharded checkpoints) and streamed, atomic writing. */
export { SafetensorsError } from './errors';
export {
  DTYPES, DTYPE_SIZE, isDtype,
  float16BitsToFloat32, bfloat16BitsToFloat32, float32ToFloat16Bit, float32ToFloat16Bits, float32ToBfloat16Bits,
  type Dtype, type DtypeArray, type TensorArray,
} from './dtype';
export {
  openSafetensors, openSource, parseHeader, MemorySource, MAX_HEADER_BYTES, MAX_READ_BYTES,
  type SafetensorsHandle, type TensorInfo, type ByteSource,
} from './reader';
export { openSafetensorsIndex, openWeights, INDEX_FILE, SINGLE_FILE } from './sharded';
export {
  writeSafetensors, writeShardedSafetensors, writeFileAtomic, encodeHeader,
  type TensorToWrite, type WriteOptions, type ShardedWriteOptions,
} from './writer';

/** Every problem with a safetensors file or index is reported as this error, naming the file and the tensor. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    /** The file (or index) concerned. */
    readonly file: string,
    /** What went wrong, without the file name. */
    readonly reason: string,
    /** The tensor concerned, when there is one. */
    readonly tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${reason}`, options);
  }
}

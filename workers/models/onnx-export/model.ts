/**
 * Running a language model exported as one ONNX file (`resect export --onnx`): input `input_ids` int64
 * [batch, time], output `logits` float32 [batch, time, vocab], any mask already built in. External weights
 * (`model.onnx.data`) are found next to the file by ONNX Runtime.
 */
import * as ort from 'onnxruntime-node';

export interface OnnxLmOptions {
  intraOpThreads?: number;
}

export class OnnxLmModel {
  private constructor(private session: ort.InferenceSession | null, readonly file: string) {}

  static async load(file: string, o: OnnxLmOptions = {}): Promise<OnnxLmModel> {
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all',
      ...(o.intraOpThreads ? { intraOpNumThreads: o.intraOpThreads } : {}),
    });
    const model = new OnnxLmModel(session, file);
    if (!session.inputNames.includes('input_ids') || !session.outputNames.includes('logits')) {
      await model.dispose();
      throw new Error(`${file}: not an exported language model (expected input "input_ids" and output "logits", found ${session.inputNames.join(', ')} → ${session.outputNames.join(', ')})`);
    }
    return model;
  }

  /** Logits [batch, time, vocab] for token ids [batch, time] (row-major). */
  async forward(ids: BigInt64Array | readonly number[], batch: number, time: number): Promise<{ logits: Float32Array; dims: number[] }> {
    if (!this.session) throw new Error(`${this.file}: the model was disposed`);
    if (ids.length !== batch * time) throw new Error(`expected ${batch}×${time} ids, got ${ids.length}`);
    const data = ids instanceof BigInt64Array ? ids : BigInt64Array.from(ids, (v) => BigInt(v));
    const out = await this.session.run({ input_ids: new ort.Tensor('int64', data, [batch, time]) }, ['logits']);
    const t = out.logits!;
    return { logits: t.data as Float32Array, dims: [...t.dims] };
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = null;
  }
}

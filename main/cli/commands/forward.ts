import type { Command } from 'commander';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../../workers/engine/safetensors';
import { maskForModel } from '../../../workers/models/monet/session';
import { OnnxLmModel } from '../../../workers/models/onnx-export/model';
import { loadModelForCli, withDeviceOptions, type DeviceOpts } from '../shared';

interface Opts extends DeviceOpts { model: string; input: string; out: string; mask?: string }

export function registerForward(program: Command): void {
  withDeviceOptions(program
    .command('forward')
    .description('run a Monet model on token ids (input_ids I64 [batch, time]) and write logits and router gates')
    .requiredOption('--model <dir>', 'checkpoint folder (config.json + safetensors), or an exported model.onnx (resect export --onnx; logits only)')
    .requiredOption('--input <file>', 'safetensors with input_ids (I64 [batch, time]) and optionally attention_mask')
    .requiredOption('--out <file>', 'safetensors to write: logits (F32) and router.R.g1 / router.R.g2 (F32)')
    .option('--mask <file>', 'expert mask JSON: {"layers": {"<layer>": [flat ids i*E+j]}}'))
    .action(async (o: Opts) => {
      if (o.model.endsWith('.onnx')) {
        await forwardOnnx(o);
        return;
      }
      const masks = await maskForModel(o.model, o.mask);
      const input = await openSafetensors(o.input);
      const info = input.tensors.get('input_ids');
      if (!info) throw new Error(`${o.input}: no tensor "input_ids"`);
      if (info.dtype !== 'I64' || info.shape.length !== 2) throw new Error(`${o.input}: input_ids must be I64 [batch, time], got ${info.dtype} [${info.shape}]`);
      const [B, T] = info.shape as [number, number];
      const ids = (await input.read('input_ids')) as BigInt64Array;
      let attention: Uint8Array | undefined;
      const am = input.tensors.get('attention_mask');
      if (am) {
        if (am.shape.join() !== info.shape.join()) throw new Error(`${o.input}: attention_mask [${am.shape}] must have the shape of input_ids [${info.shape}]`);
        const raw = await input.readAsFloat32('attention_mask');
        attention = Uint8Array.from(raw, (v) => (v ? 1 : 0));
      }
      await input.close();
      const model = await loadModelForCli(o.model, o);
      try {
        const out = await model.forward({ ids, batch: B, time: T, attention, masks, gates: true });
        const H = model.config.moe_heads;
        const E = model.config.moe_experts;
        const tensors: TensorToWrite[] = [{ name: 'logits', dtype: 'F32', shape: [B, T, model.config.vocab_size], data: out.logits! }];
        for (const [r, g] of out.gates!.entries()) {
          tensors.push({ name: `router.${r}.g1`, dtype: 'F32', shape: [B, T, H, E], data: g.g1 });
          tensors.push({ name: `router.${r}.g2`, dtype: 'F32', shape: [B, T, H, E], data: g.g2 });
        }
        await writeSafetensors(o.out, tensors, { metadata: { model: o.model, provider: model.provider } });
        process.stderr.write(`resect: wrote ${o.out} (logits [${B}, ${T}, ${model.config.vocab_size}], ${out.gates!.length} routers) on ${model.provider}\n`);
      } finally {
        await model.dispose();
      }
    });
}

/** An exported ONNX model (masks built in): logits only, every position real (no attention_mask, no --mask). */
async function forwardOnnx(o: Opts): Promise<void> {
  if (o.mask) throw new Error(`${o.model}: the masks of an exported model are built in; --mask does not apply`);
  const input = await openSafetensors(o.input);
  let ids: BigInt64Array;
  let B: number;
  let T: number;
  try {
    const info = input.tensors.get('input_ids');
    if (!info) throw new Error(`${o.input}: no tensor "input_ids"`);
    if (info.dtype !== 'I64' || info.shape.length !== 2) throw new Error(`${o.input}: input_ids must be I64 [batch, time], got ${info.dtype} [${info.shape}]`);
    [B, T] = info.shape as [number, number];
    if (input.tensors.has('attention_mask')) {
      const am = await input.readAsFloat32('attention_mask');
      if (am.some((v) => v === 0)) throw new Error(`${o.input}: an exported ONNX model takes no attention_mask (padding); give unpadded rows`);
    }
    ids = (await input.read('input_ids')) as BigInt64Array;
  } finally {
    await input.close();
  }
  const model = await OnnxLmModel.load(o.model, o.threads ? { intraOpThreads: Number(o.threads) } : {});
  try {
    const out = await model.forward(ids, B, T);
    await writeSafetensors(o.out, [{ name: 'logits', dtype: 'F32', shape: out.dims, data: out.logits }], { metadata: { model: o.model, provider: 'cpu' } });
    process.stderr.write(`resect: wrote ${o.out} (logits [${out.dims.join(', ')}]) from ${o.model}\n`);
  } finally {
    await model.dispose();
  }
}

/**
 * `resect sae encode --sae DIR (--text T | --data FILE.jsonl | --activations FILE)`: an SAE's codes per token, the
 * strongest latents of each (its normalization applied); `--out FILE.safetensors` keeps the dense codes.
 */
import type { Command } from 'commander';
import { resolveUserPath } from '../../workspace/paths';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';
import { loadSaeArg, modelFor } from './sae-args';

interface Opts extends DeviceOpts {
  sae: string; text?: string[]; data?: string; activations?: string; tensor?: string; textField: string; model?: string; hookpoint?: string;
  top: string; maxSamples?: string; out?: string; workspace?: string; json?: boolean;
}

export function registerSaeEncode(sae: Command): void {
  withDeviceOptions(sae.command('encode')
    .description("an SAE's codes: per token of text (or per activation row) its strongest latents")
    .requiredOption('--sae <dir|id>', 'SAE folder or an SAE id of the workspace')
    .option('--text <text...>', 'text(s) to encode')
    .option('--data <file>', 'JSONL file of texts')
    .option('--activations <file>', '.npy / .safetensors [tokens, d] activations to encode')
    .option('--tensor <name>', 'safetensors activations: the tensor to read')
    .option('--text-field <f>', 'JSONL: field holding the text', 'text')
    .option('--max-samples <n>', 'JSONL: encode at most this many texts', '100')
    .option('--model <dir>', 'model for text (default: the model the SAE records)')
    .option('--hookpoint <name>', 'sparsify run folder: the hookpoint')
    .option('--top <n>', 'latents shown per token', '5')
    .option('--out <file>', 'write the dense codes [tokens, d_sae] (F32) to this safetensors file')
    .option('--workspace <dir>', 'workspace for SAE ids')
    .option('--json', 'print JSON'))
    .action(async (o: Opts) => {
      const sources = [o.text, o.data, o.activations].filter((x) => x !== undefined).length;
      if (sources !== 1) throw new Error('give exactly one of --text, --data, --activations');
      const top = Number(o.top);
      if (!Number.isInteger(top) || top < 0) throw new Error(`--top must be an integer ≥ 0, got ${o.top}`);
      const { sae: s } = await loadSaeArg(o.sae, o);
      const { SaeRunner, topCodes } = await import('../../../workers/sae/encode');
      const threads = o.threads ? Number(o.threads) : undefined;
      const runner = await SaeRunner.create(s, { ...(threads ? { intraOpThreads: threads } : {}) });
      const dense: Float32Array[] = [];
      try {
        if (o.activations) {
          const { readActivationRows } = await import('../../../workers/sae/activations-import');
          const rows: { row: number; l0: number; latents: { latent: number; value: number }[] }[] = [];
          for await (const x of readActivationRows(resolveUserPath(o.activations), { ...(o.tensor ? { tensor: o.tensor } : {}) })) {
            const r = await runner.run(x, ['codes', 'l0']);
            if (o.out) dense.push(r.codes.slice());
            topCodes(r.codes, s.config.dSae, top).forEach((latents, i) => rows.push({ row: rows.length, l0: r.l0[i]!, latents }));
          }
          if (o.json) printJson({ rows });
          else for (const r of rows) process.stdout.write(`${r.row}\tL0 ${r.l0}\t${r.latents.map((l) => `${l.latent}:${l.value.toFixed(3)}`).join(' ')}\n`);
        } else {
          let texts = o.text ?? [];
          if (o.data) {
            const { readJsonlSamples } = await import('../../../workers/models/monet/perplexity');
            const max = Number(o.maxSamples);
            texts = [];
            for await (const x of readJsonlSamples(resolveUserPath(o.data), o.textField)) {
              if (texts.length >= max) break;
              texts.push(x.text);
            }
          }
          const modelDir = modelFor(s, o.model);
          const model = await loadModelForCli(modelDir, o);
          try {
            const { tokenizerForModel } = await import('../../../workers/models/monet/session');
            const { encodeText } = await import('../../../workers/sae/encode-text');
            const out = await encodeText(runner, model, await tokenizerForModel(modelDir, model.config), texts, { top, keepCodes: !!o.out });
            if (o.out) for (const t of out) dense.push(t.codes!);
            if (o.json) printJson({ texts: out.map((t, i) => ({ text: texts[i], tokens: t.tokens })) });
            else for (const t of out) {
              for (const tok of t.tokens) process.stdout.write(`${JSON.stringify(tok.token).padEnd(12)} L0 ${String(tok.l0).padStart(4)}  ${tok.latents.map((l) => `${l.latent}:${l.value.toFixed(3)}`).join(' ')}\n`);
              process.stdout.write('\n');
            }
          } finally {
            await model.dispose();
          }
        }
        if (o.out) {
          const { writeSafetensors } = await import('../../../workers/engine/safetensors');
          const rows = dense.reduce((n, c) => n + c.length / s.config.dSae, 0);
          const all = new Float32Array(rows * s.config.dSae);
          let at = 0;
          for (const c of dense) { all.set(c, at); at += c.length; }
          await writeSafetensors(resolveUserPath(o.out), [{ name: 'codes', dtype: 'F32', shape: [rows, s.config.dSae], data: all }]);
          process.stderr.write(`resect: wrote codes [${rows}, ${s.config.dSae}] to ${o.out}\n`);
        }
      } finally {
        await runner.dispose();
      }
    });
}

import type { Command } from 'commander';
import { perplexity, readJsonlSamples } from '../../../workers/models/monet/perplexity';
import { maskForModel, tokenizerForModel } from '../../../workers/models/monet/session';
import { cliProgress } from '../progress';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';

interface Opts extends DeviceOpts { model: string; data: string; textField: string; domainField: string; mask?: string; json?: boolean; context?: string; quiet?: boolean }

export function registerPerplexity(program: Command): void {
  withDeviceOptions(program
    .command('perplexity')
    .description('mean NLL and perplexity of a Monet model over a JSONL dataset, overall and per domain')
    .requiredOption('--model <dir>', 'checkpoint folder with tokenizer.json')
    .requiredOption('--data <file>', 'JSONL file, one {"text": …, "domain": …} per line')
    .option('--text-field <f>', 'field holding the text', 'text')
    .option('--domain-field <f>', 'field holding the domain', 'domain')
    .option('--mask <file>', 'expert mask JSON: {"layers": {"<layer>": [flat ids i*E+j]}}')
    .option('--context <n>', 'window length in tokens (default max_position_embeddings)')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress on stderr'))
    .action(async (o: Opts) => {
      const masks = await maskForModel(o.model, o.mask);
      const model = await loadModelForCli(o.model, o);
      try {
        const tokenizer = await tokenizerForModel(o.model, model.config);
        // The samples are counted first (a quick read) so that progress is a true share of the file.
        let total = 0;
        for await (const _ of readJsonlSamples(o.data, o.textField, o.domainField)) total++;
        const progress = cliProgress('perplexity', 'samples', { quiet: !!o.quiet });
        const t0 = performance.now();
        const r = await perplexity(model, tokenizer, readJsonlSamples(o.data, o.textField, o.domainField), {
          masks, ...(o.context ? { context: Number(o.context) } : {}),
          onProgress: (tokens, samples) => progress.update(samples, total, `${Math.round(tokens / ((performance.now() - t0) / 1000))} tokens/s`),
        });
        progress.end();
        if (o.json) return printJson({ overall: r.overall, domains: r.domains });
        const row = (name: string, s: { tokens: number; nll: number; ppl: number }) =>
          process.stdout.write(`${name.padEnd(20)} ${String(s.tokens).padStart(9)}  ${s.nll.toFixed(4).padStart(8)}  ${s.ppl.toFixed(3).padStart(10)}\n`);
        process.stdout.write(`${'domain'.padEnd(20)} ${'tokens'.padStart(9)}  ${'nll'.padStart(8)}  ${'ppl'.padStart(10)}\n`);
        for (const [name, s] of Object.entries(r.domains)) row(name, s);
        row('overall', r.overall);
      } finally {
        await model.dispose();
      }
    });
}

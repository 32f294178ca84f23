import { InvalidArgumentError, type Command } from 'commander';
import { readLabelledJsonl } from '../../../workers/analysis/resection/experiment';
import { describeDraw, drawProblems, drawSummary, stratifiedSample, type StratifiedDraw } from '../../../workers/analysis/resection/sampling';
import { perplexity, readJsonlSamples, type Sample } from '../../../workers/models/monet/perplexity';
import { maskForModel, tokenizerForModel } from '../../../workers/models/monet/session';
import { cliProgress } from '../progress';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';

interface Opts extends DeviceOpts {
  model: string; data: string; textField: string; domainField: string; mask?: string; json?: boolean; context?: string; quiet?: boolean;
  tokensPerDomain?: string; seed: string; docField: string;
}

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
    .option('--tokens-per-domain <n>', 'score only this many tokens per domain, drawn as `resect experiment` and the Evaluate panel draw them (stratified, seeded, spread over documents); default: the whole file')
    .option('--seed <n>', 'seed of that draw', '0')
    .option('--doc-field <f>', 'field naming the document a sample was cut from', 'source')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress on stderr'))
    .action(async (o: Opts) => {
      const masks = await maskForModel(o.model, o.mask);
      const model = await loadModelForCli(o.model, o);
      try {
        const tokenizer = await tokenizerForModel(o.model, model.config);
        let samples: AsyncIterable<Sample> | Sample[] = readJsonlSamples(o.data, o.textField, o.domainField);
        let draw: StratifiedDraw<Sample> | null = null;
        if (o.tokensPerDomain !== undefined) {
          const budget = Number(o.tokensPerDomain);
          const seed = Number(o.seed);
          if (!Number.isInteger(budget) || budget < 1) throw new InvalidArgumentError('--tokens-per-domain must be a positive integer');
          if (!Number.isInteger(seed) || seed < 0) throw new InvalidArgumentError('--seed must be a non-negative integer');
          draw = stratifiedSample(await readLabelledJsonl(o.data, o.textField, o.domainField, o.docField), { tokensPerDomain: budget, seed, countTokens: (t) => Math.max(0, tokenizer.encode(t).length - 1) });
          samples = draw.taken;
          if (!o.quiet) process.stderr.write(`resect: ${describeDraw(draw)}\n`);
          for (const p of drawProblems(draw)) process.stderr.write(`resect: WARNING: ${p}\n`);
        }
        // The samples are counted first (a quick read) so that progress is a true share of the file.
        let total = 0;
        if (Array.isArray(samples)) total = samples.length;
        else for await (const _ of readJsonlSamples(o.data, o.textField, o.domainField)) total++;
        const progress = cliProgress('perplexity', 'samples', { quiet: !!o.quiet });
        const t0 = performance.now();
        const r = await perplexity(model, tokenizer, samples, {
          masks, ...(o.context ? { context: Number(o.context) } : {}),
          onProgress: (tokens, samples) => progress.update(samples, total, `${Math.round(tokens / ((performance.now() - t0) / 1000))} tokens/s`),
        });
        progress.end();
        if (o.json) return printJson({ overall: r.overall, domains: r.domains, ...(draw ? { draw: drawSummary(draw) } : {}) });
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

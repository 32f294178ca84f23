import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { atlasRoutingStats } from '../../../workers/analysis/resection/atlas-adapter';
import { select, type Scope, type SelectionRule } from '../../../workers/analysis/resection/select';
import { openScorer } from '../../../workers/analysis/resection/scorers';
import { fieldOf, readJsonlRows, requireText } from '../../../workers/data/jsonl';
import { formatCounts } from './experiment';

interface Opts { atlas: string; domain?: string; scoreField?: string; tau?: string; ratio: string; minMass: string; scope: string; layer?: string; out: string; json?: boolean }

const num = (what: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number, got ${JSON.stringify(v)}`);
  return n;
};

/**
 * `resect score`: adds a per-sample score to a JSONL file with the lexicon scorer or an ONNX classifier, so an atlas
 * can be built with `--score-field` from it (toxicity selection without a labelled score). Registered with `mask`.
 */
function registerScore(program: Command): void {
  program
    .command('score')
    .description('score every record of a JSONL file with the lexicon (bad-words list) or an ONNX text classifier, writing the score into a field')
    .requiredOption('--data <file>', 'JSONL input')
    .requiredOption('--out <file>', 'JSONL output (the records with the score added)')
    .option('--scorer <s>', 'lexicon (fraction of listed words), lexicon:presence, or onnx:<file.onnx> (tokenizer.json beside it)', 'lexicon')
    .option('--field <f>', 'field to write the score into', 'toxicity')
    .option('--text-field <f>', 'field holding the text', 'text')
    .action(async (o: { data: string; out: string; scorer: string; field: string; textField: string }) => {
      const scorer = await openScorer(o.scorer);
      const out = createWriteStream(o.out);
      let n = 0;
      let sum = 0;
      try {
        for await (const { row, line } of readJsonlRows(o.data)) {
          if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new Error(`${o.data}:${line}: not a JSON object`);
          const text = requireText(fieldOf(row, o.textField), o.data, line, o.textField);
          const [v] = await scorer.score([text]);
          (row as Record<string, unknown>)[o.field] = v!;
          sum += v!;
          n++;
          out.write(`${JSON.stringify(row)}\n`);
        }
      } finally {
        out.end();
        await finished(out);
        await scorer.dispose?.();
      }
      process.stdout.write(`resect: scored ${n} records with ${scorer.name} (mean ${n ? (sum / n).toFixed(4) : '0'}) → ${o.out}\n`);
    });
}

/** `resect mask`: choose experts from an atlas by domain (skew rule) or score correlation (τ) and write a mask file. */
export function registerMask(program: Command): void {
  registerScore(program);
  program
    .command('mask')
    .description('choose experts from an atlas (domain skew rule, or Pearson correlation with a score above τ) and write a mask JSON')
    .requiredOption('--atlas <dir>', 'a built atlas folder (resect atlas build) or a resection routing-statistics folder')
    .option('--domain <name>', 'remove the experts specialised in this domain (skew rule)')
    .option('--score-field <f>', 'remove the experts whose routing correlates with this score (the atlas must have been built with it)')
    .option('--tau <t>', 'correlation threshold for --score-field (the paper: 0.2, 0.1, 0.05)')
    .option('--ratio <r>', 'skew rule: top domain mean ≥ r × the next domain (default 2, the paper)', '2')
    .option('--min-mass <m>', 'skew rule: and at least this mean routing probability (default 0)', '0')
    .option('--scope <s>', 'group: every layer of the routing group (the paper); layer: one layer (--layer)', 'group')
    .option('--layer <l>', 'the layer for --scope layer')
    .requiredOption('--out <file>', 'mask JSON to write: {"groups"|"layers": {"<index>": [flat ids i*E+j]}}')
    .option('--json', 'print the selection summary as JSON')
    .action(async (o: Opts) => {
      if ((o.domain === undefined) === (o.scoreField === undefined)) throw new InvalidArgumentError('give exactly one of --domain or --score-field');
      if (o.scoreField !== undefined && o.tau === undefined) throw new InvalidArgumentError('--score-field needs --tau');
      if (o.scope !== 'group' && o.scope !== 'layer') throw new InvalidArgumentError('--scope is group or layer');
      const scope = o.scope as Scope;
      const layer = o.layer !== undefined ? num('--layer', o.layer) : null;
      const rule: SelectionRule = o.domain !== undefined
        ? { kind: 'domain', domain: o.domain, ratio: num('--ratio', o.ratio), minMass: num('--min-mass', o.minMass), scope, layer }
        : { kind: 'score', score: o.scoreField!, tau: num('--tau', o.tau!), scope, layer };
      const stats = await atlasRoutingStats(path.resolve(o.atlas));
      let sel;
      try {
        sel = select(stats, rule);
      } catch (e) {
        process.stderr.write(`resect mask: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      await writeFile(o.out, `${JSON.stringify(sel.mask)}\n`);
      const perGroup = Array.from({ length: stats.groups }, (_, g) => sel.experts.filter((e) => e.group === g).length);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ out: o.out, experts: sel.experts.length, perGroup, rule: sel.rule, source: sel.source, counts: sel.counts ?? null })}\n`);
        return;
      }
      if (sel.counts) process.stdout.write(formatCounts(sel.counts));
      process.stdout.write(`${sel.experts.length} experts (per group: ${perGroup.join(', ')}) of ${stats.experts ** 2} per group → ${o.out}\n`);
    });
}

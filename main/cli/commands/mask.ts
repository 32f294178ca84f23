import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createWriteStream } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { atlasRoutingStats } from '../../../workers/analysis/resection/atlas-adapter';
import { select, type Scope, type Selection, type SelectionRule } from '../../../workers/analysis/resection/select';
import { DEFAULT_SCORER, openScorer } from '../../../workers/analysis/resection/scorers';
import { fieldOf, readJsonlRows, requireText } from '../../../workers/data/jsonl';
import { provenanceField, scoreProvenance } from '../../../workers/data/score-provenance';
import { formatCounts } from './experiment';

interface Opts { atlas: string; domain?: string; scoreField?: string; tau?: string; ratio: string; minMass: string; scope: string; layer?: string; out: string; json?: boolean }

const num = (what: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number, got ${JSON.stringify(v)}`);
  return n;
};

/**
 * `resect score`: adds a per-sample score to a JSONL file with the toxicity heuristic, the profanity lexicon or an ONNX
 * classifier, so an atlas can be built with `--score-field` from it (toxicity selection without a labelled score).
 * A field the records already have is never replaced unless --overwrite says so. Registered with `mask`.
 */
function registerScore(program: Command): void {
  program
    .command('score')
    .description('score every record of a JSONL file for toxicity (a heuristic, a profanity list, or your ONNX classifier), writing the score into a new field')
    .requiredOption('--data <file>', 'JSONL input')
    .requiredOption('--out <file>', 'JSONL output (the records with the score added; must differ from --data)')
    .option('--scorer <s>', `heuristic (insults, threats, hostility, profanity: lexicons + patterns, not a classifier), lexicon (fraction of bad-words hits), lexicon:presence, or onnx:<file.onnx> (tokenizer.json beside it; docs/resection.md says how to convert a Hugging Face classifier)`, DEFAULT_SCORER)
    .option('--field <f>', 'field to write the score into', 'toxicity')
    .option('--overwrite', 'replace the field where a record already has it (by default the command stops and changes nothing)')
    .option('--text-field <f>', 'field holding the text', 'text')
    .addHelpText('after', '\nThen: `resect atlas --model DIR --data OUT --score-field toxicity --out ATLAS` and `resect mask --atlas ATLAS --score-field toxicity --tau 0.1`.')
    .action(async (o: { data: string; out: string; scorer: string; field: string; textField: string; overwrite?: boolean }) => {
      if (path.resolve(o.out) === path.resolve(o.data)) throw new InvalidArgumentError('--out must be a new file: writing over --data would lose it');
      const scorer = await openScorer(o.scorer);
      const tmp = `${o.out}.${process.pid}.partial`;
      const out = createWriteStream(tmp);
      let n = 0;
      let sum = 0;
      let replaced = 0;
      let ok = false;
      try {
        for await (const { row, line } of readJsonlRows(o.data)) {
          if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new Error(`${o.data}:${line}: not a JSON object`);
          const record = row as Record<string, unknown>;
          if (Object.hasOwn(record, o.field)) {
            if (!o.overwrite) throw new Error(`${o.data}:${line}: the record already has a "${o.field}" field; pass --overwrite to replace it, or --field NAME to write another (nothing was written)`);
            replaced++;
          }
          const text = requireText(fieldOf(row, o.textField), o.data, line, o.textField);
          const [v] = await scorer.score([text]);
          record[o.field] = v!;
          // Which text this score belongs to, checked by whoever reads it against a text field (the atlas).
          record[provenanceField(o.field)] = scoreProvenance(o.textField, text);
          sum += v!;
          n++;
          if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
        }
        ok = true;
      } finally {
        out.end();
        await finished(out);
        await scorer.dispose?.();
        // The output appears whole or not at all.
        if (ok) await rename(tmp, o.out);
        else await rm(tmp, { force: true });
      }
      process.stdout.write(`resect: scored ${n} records with ${scorer.name} (mean ${n ? (sum / n).toFixed(4) : '0'})${replaced ? `, replacing "${o.field}" in ${replaced}` : ''} → ${o.out}\n`);
    });
}

/** Per domain, the share of its routing mass the chosen experts carry (mean over groups), as the app's preview shows it. */
export interface MassRemoved {
  domains: { domain: string; share: number }[];
  /** Domain rule: the target's share against the other domains' mean (null without a target or when the others are 0). */
  target: { domain: string; share: number; othersMean: number; ratio: number | null } | null;
}

export function routingMassRemoved(m: Selection['massShare'], target: string | null): MassRemoved {
  const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const domains = m.domains.map((domain, k) => ({ domain, share: mean(m.table[k] ?? []) }));
  const k = target === null ? -1 : domains.findIndex((d) => d.domain === target);
  if (k < 0) return { domains, target: null };
  const othersMean = mean(domains.filter((_, d) => d !== k).map((d) => d.share));
  const share = domains[k]!.share;
  return { domains, target: { domain: target!, share, othersMean, ratio: othersMean > 0 ? share / othersMean : null } };
}

export function formatMassRemoved(r: MassRemoved): string {
  if (!r.domains.length) return '';
  const pct = (x: number) => `${(100 * x).toFixed(x > 0 && x < 0.001 ? 3 : 2)}%`;
  const width = Math.max(...r.domains.map((d) => d.domain.length));
  const lines = ['Routing mass removed (share of each domain\'s routing mass the chosen experts carry, mean over groups):'];
  for (const d of r.domains) lines.push(`  ${d.domain.padEnd(width)}  ${pct(d.share).padStart(8)}`);
  if (r.target) {
    lines.push(`${r.target.domain}: ${pct(r.target.share)} against ${pct(r.target.othersMean)} for the other domains' mean (${r.target.ratio === null ? '∞' : `${r.target.ratio.toFixed(1)}×`})`);
  }
  return `${lines.join('\n')}\n`;
}

/** `resect mask`: choose experts from an atlas by domain (skew rule) or score correlation (τ) and write a mask file. */
export function registerMask(program: Command): void {
  registerScore(program);
  program
    .command('mask')
    .description('choose experts from an atlas (domain skew rule, or Pearson correlation with a score above τ) and write a mask JSON')
    .requiredOption('--atlas <dir>', 'an atlas folder built by `resect atlas --out <dir>` (or a resection routing-statistics folder)')
    .option('--domain <name>', 'remove the experts specialised in this domain (skew rule)')
    .option('--score-field <f>', 'remove the experts whose routing correlates with this score (the atlas must have been built with `resect atlas --score-field <f>`; `resect score` adds a toxicity field to a JSONL file)')
    .option('--tau <t>', 'correlation threshold for --score-field (the paper: 0.2, 0.1, 0.05)')
    .option('--ratio <r>', 'skew rule: top domain mean ≥ r × the next domain (default 2, the paper)', '2')
    .option('--min-mass <m>', 'skew rule: and at least this mean routing probability (default 0)', '0')
    .option('--scope <s>', 'group: every layer of the routing group (the paper); layer: one layer (--layer)', 'group')
    .option('--layer <l>', 'the layer for --scope layer')
    .requiredOption('--out <file>', 'mask JSON to write: {"groups"|"layers": {"<index>": [flat ids i*E+j]}}')
    .option('--json', 'print the selection summary as JSON')
    .addHelpText('after', '\nNext: `resect perplexity --model DIR --data FILE --mask MASK.json` measures the edit, `resect export --model DIR\n--mask MASK.json --out DIR` writes the edited model. Routing groups are numbered from 0 everywhere (G0, G1, …): in\nthis output, the app, the mask JSON keys and the atlas files.')
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
      const mass = routingMassRemoved(sel.massShare, o.domain ?? null);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ out: o.out, experts: sel.experts.length, perGroup, rule: sel.rule, source: sel.source, counts: sel.counts ?? null, massShare: sel.massShare, massRemoved: mass })}\n`);
        return;
      }
      if (sel.counts) process.stdout.write(formatCounts(sel.counts));
      process.stdout.write(formatMassRemoved(mass));
      process.stdout.write(`${sel.experts.length} experts (per group: ${perGroup.map((n, g) => `G${g} ${n}`).join(', ')}) of ${stats.experts ** 2} per group → ${o.out}\n`);
    });
}

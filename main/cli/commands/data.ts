/**
 * `resect data import|list|export`: the dataset store of a workspace from the command line (docs/datasets.md).
 * Runs in this process against the workspace database (WAL: a running `resect serve` or app keeps working and
 * sees the new dataset in its list).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  countSamples,
  exportSamples,
  getDataset,
  ImportFailedError,
  importDataset,
  listDatasets,
  previewImport,
  type ImportIssue,
  type ImportReport,
  type Mapping,
} from '../../../workers/data';
import { Workspace } from '../../workspace/workspace';
import { defaultWorkspaceDir, resolveUserPath } from '../../workspace/paths';
import { printJson } from '../shared';
import { formatBytes } from '../../../common/format';

const workspaceOption = ['--workspace <dir>', 'workspace folder (default: $RESECT_WORKSPACE, else the app-data folder)'] as const;

function issueLine(i: ImportIssue): string {
  return `  ${i.kind}: ${i.file}${i.line ? `:${i.line}` : ''}${i.column ? `:${i.column}` : ''} ${i.message}`;
}

function printReport(r: ImportReport, out: (s: string) => void): void {
  out(`${r.records} records read, ${r.imported} imported, ${r.duplicates} duplicates, ${r.skippedErrors} skipped, ${r.blank} blank (${(r.durationMs / 1000).toFixed(1)} s)\n`);
  const counts = Object.entries(r.issueCounts);
  if (counts.length) out(`issues: ${counts.map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
  for (const i of r.issues.slice(0, 20)) out(`${issueLine(i)}\n`);
  if (r.issues.length > 20) out(`  … ${r.issues.length - 20} more in the dataset's report\n`);
}

function parseOnError(v: string): 'skip' | 'stop' {
  if (v !== 'skip' && v !== 'stop') throw new InvalidArgumentError('skip or stop');
  return v;
}

function parseFormat(v: string): 'jsonl' | 'parquet' {
  if (v !== 'jsonl' && v !== 'parquet') throw new InvalidArgumentError('jsonl or parquet');
  return v;
}

function parseId(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a dataset id (a positive integer; see `resect data list`)');
  return n;
}

interface ImportOpts {
  name?: string;
  domain?: string;
  domainField?: string;
  onError: 'skip' | 'stop';
  keepDuplicates?: boolean;
  textUnit: 'auto' | 'line' | 'paragraph' | 'file';
  workspace?: string;
  json?: boolean;
}

function parseTextUnit(v: string): ImportOpts['textUnit'] {
  if (v === 'auto' || v === 'line' || v === 'paragraph' || v === 'file') return v;
  throw new InvalidArgumentError('--text-unit is line, paragraph, file or auto');
}

export function registerData(program: Command): void {
  const data = program.command('data').description('import, list and export datasets of a workspace');

  data
    .command('import')
    .description('import files or folders (JSONL, JSON arrays, CSV/TSV, Parquet, text; .gz too) into a new dataset')
    .argument('<paths...>', 'files or folders')
    .option('--name <name>', 'dataset name (default: the first file or folder name)')
    .option('--domain <domain>', 'label every sample with this domain')
    .option('--domain-field <field>', 'take the domain from this (dotted) field of each record')
    .option('--on-error <mode>', 'skip malformed records (reported) or stop (nothing is kept)', parseOnError, 'skip')
    .option('--keep-duplicates', 'keep exact duplicate texts (skipped by default)')
    .option('--text-unit <unit>', 'plain text: a sample per line, per blank-line paragraph (code, verse), or per file; auto: whole files of a folder, else lines', parseTextUnit, 'auto')
    .option(...workspaceOption)
    .option('--json', 'print the import report as JSON')
    .action(async (paths: string[], o: ImportOpts) => {
      if (o.domain && o.domainField) throw new InvalidArgumentError('give --domain or --domain-field, not both');
      const sources = paths.map((p) => {
        const abs = resolveUserPath(p);
        if (!existsSync(abs)) throw new Error(`not found: ${abs}`);
        return { path: abs };
      });
      let mapping: Mapping | undefined;
      if (o.domain || o.domainField) {
        const preview = await previewImport(sources, { limit: 1, textUnit: o.textUnit });
        mapping = { ...preview.mapping, domain: o.domain ? { kind: 'value', value: o.domain } : { kind: 'field', field: o.domainField! } };
        if (o.domainField) mapping.scores = mapping.scores.filter((s) => s.field !== o.domainField);
      }
      const ws = Workspace.open(o.workspace ?? defaultWorkspaceDir());
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const tty = process.stderr.isTTY;
      let lastLine = 0;
      try {
        const report = await importDataset(ws.db, sources, {
          ...(o.name ? { name: o.name } : {}),
          ...(mapping ? { mapping } : {}),
          onError: o.onError,
          duplicates: o.keepDuplicates ? 'keep' : 'skip',
          textUnit: o.textUnit,
          signal: abort.signal,
          onProgress: (p) => {
            const now = Date.now();
            if (!tty && now - lastLine < 2000 && p.bytesDone < p.bytesTotal) return;
            lastLine = now;
            const pct = p.bytesTotal ? ` ${Math.floor((p.bytesDone / p.bytesTotal) * 100)}%` : '';
            const line = `importing${pct} ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ${p.rowsImported} samples`;
            process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
          },
        });
        if (tty) process.stderr.write('\r\x1b[K');
        if (o.json) return printJson(report);
        const d = report.datasetId !== null ? getDataset(ws.db, report.datasetId) : null;
        process.stdout.write(`Imported dataset ${report.datasetId}${d ? ` “${d.name}”` : ''} into ${ws.dir}\n`);
        printReport(report, (s) => process.stdout.write(s));
        if (d) for (const dom of d.domains) process.stdout.write(`  ${dom.domain ?? '(unlabeled)'}: ${dom.samples} samples, ~${dom.tokens} tokens\n`);
      } catch (e) {
        if (tty) process.stderr.write('\r\x1b[K');
        if (e instanceof ImportFailedError) {
          if (o.json) printJson(e.report);
          else printReport(e.report, (s) => process.stderr.write(s));
          // An empty import says why in the file's own words (footer != PAR1, binary content, no records).
          const first = e.report.issues[0];
          const empty = `no samples were found${first ? ` (${first.file}: ${first.message})` : ''}`;
          const why = { cancelled: 'it was interrupted', stopped: 'a record was bad and --on-error is stop', empty, failed: e.message, committed: '' }[e.report.outcome];
          throw new Error(`nothing was imported: ${why}. Existing datasets are unchanged.`);
        }
        throw e;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        ws.close();
      }
    });

  data
    .command('list')
    .description('list the datasets of a workspace with their domains, sizes and token estimates')
    .option(...workspaceOption)
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) => {
      const ws = Workspace.open(o.workspace ?? defaultWorkspaceDir(), { create: false });
      try {
        const list = listDatasets(ws.db);
        if (o.json) return printJson(list);
        if (list.length === 0) return void process.stdout.write(`No datasets in ${ws.dir}\n`);
        for (const d of list) {
          process.stdout.write(`${String(d.id).padStart(4)}  ${d.name}  ${d.samples} samples, ~${d.tokens} tokens, ${formatBytes(d.sourceBytes)} source\n`);
          for (const dom of d.domains) process.stdout.write(`        ${dom.domain ?? '(unlabeled)'}: ${dom.samples}\n`);
        }
      } finally {
        ws.close();
      }
    });

  data
    .command('export')
    .description('export a dataset (or one domain, or a search) to JSONL or Parquet')
    .argument('<id>', 'dataset id (see `resect data list`)', parseId)
    .requiredOption('--out <file>', 'file to write')
    .option('--format <format>', 'jsonl or parquet (default: from the --out extension, else jsonl)', parseFormat)
    .option('--domain <domain>', 'only this domain')
    .option('--search <words>', 'only samples matching this full-text search')
    .option(...workspaceOption)
    .action(async (id: number, o: { out: string; format?: 'jsonl' | 'parquet'; domain?: string; search?: string; workspace?: string }) => {
      const ws = Workspace.open(o.workspace ?? defaultWorkspaceDir(), { create: false });
      try {
        if (!getDataset(ws.db, id)) throw new Error(`dataset ${id} not found in ${ws.dir} (see \`resect data list\`)`);
        const out = resolveUserPath(o.out);
        const format = o.format ?? (/\.(parquet|pq)$/i.test(out) ? 'parquet' : 'jsonl');
        if (!existsSync(path.dirname(out))) throw new Error(`the folder ${path.dirname(out)} does not exist`);
        const filter = { datasetId: id, ...(o.domain ? { domain: o.domain } : {}), ...(o.search ? { search: o.search } : {}) };
        const total = countSamples(ws.db, filter);
        const r = await exportSamples(ws.db, filter, out, { format });
        process.stdout.write(`Exported ${r.samples} of ${total} samples to ${r.path} (${formatBytes(r.bytes)}, ${format})\n`);
      } finally {
        ws.close();
      }
    });
}

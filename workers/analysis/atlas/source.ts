/**
 * Where an atlas reads its samples: a workspace dataset (iterateSamples over the store) or a JSONL file, optionally
 * filtered by domain and by a search. Every call of `open()` streams the same samples in the same order, so the
 * resume point (samples consumed) and the top-context lookup at the end (sample ordinals) can re-read them.
 */
import { domainLabel, readJsonlRows, requireText } from '../../data/jsonl';
import { provenanceField, provenanceMismatch } from '../../data/score-provenance';
import type { AtlasData, AtlasFilter } from './schema';

export { AtlasDataSchema, AtlasFilterSchema, type AtlasData, type AtlasFilter } from './schema';

export interface AtlasSample {
  /** Dataset sample id, or the JSONL line number (1-based). */
  ref: number;
  text: string;
  domain: string | null;
  /** The chosen score, NaN when absent. */
  score: number;
}

export interface SourceOptions {
  data: AtlasData;
  filter: AtlasFilter;
  /** JSONL: field of the domain (dotted). Datasets use the stored domain. */
  domainField?: string;
  /** Score: a dataset score name, or a JSONL field (dotted). */
  scoreField?: string;
  workspace?: string;
}

function getPath(obj: unknown, p: string): unknown {
  let cur: unknown = obj;
  if (cur && typeof cur === 'object' && Object.prototype.hasOwnProperty.call(cur, p)) return (cur as Record<string, unknown>)[p];
  for (const part of p.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : Number.NaN);

export function describeData(o: SourceOptions): string {
  return o.data.kind === 'jsonl' ? o.data.path : `dataset ${o.data.datasetId}`;
}

export async function* openSource(o: SourceOptions): AsyncGenerator<AtlasSample> {
  const { data, filter } = o;
  if (data.kind === 'jsonl') {
    const needle = filter.search?.trim().toLowerCase();
    for await (const { row, line } of readJsonlRows(data.path)) {
      const text = requireText(getPath(row, data.textField), data.path, line, data.textField);
      const domain = domainLabel(getPath(row, o.domainField ?? 'domain'));
      if (filter.domain !== undefined && domain !== filter.domain) continue;
      if (needle && !text.toLowerCase().includes(needle)) continue;
      if (o.scoreField) {
        const why = provenanceMismatch(getPath(row, provenanceField(o.scoreField)), o.scoreField, data.textField, text);
        if (why) throw new Error(`${data.path}:${line}: ${why}; score the text you read (resect score --text-field ${data.textField} --overwrite)`);
      }
      yield { ref: line, text, domain, score: o.scoreField ? num(getPath(row, o.scoreField)) : Number.NaN };
    }
    return;
  }
  const { openDatasetStore, iterateSamples } = await import('../../data');
  if (!o.workspace) throw new Error('a dataset source needs the workspace');
  const db = await openDatasetStore(o.workspace, { readonly: true });
  try {
    const it = iterateSamples(db, {
      datasetId: data.datasetId,
      ...(filter.domain !== undefined ? { domain: filter.domain } : {}),
      ...(filter.search?.trim() ? { search: filter.search } : {}),
      batchSize: 256,
    });
    for (const batch of it) {
      for (const s of batch) {
        yield { ref: s.id, text: s.text, domain: s.domain, score: o.scoreField && s.scores ? num(s.scores[o.scoreField]) : Number.NaN };
      }
    }
  } finally {
    db.close();
  }
}

/** Samples the source yields (filters applied), at most `max`: one streaming pass, so progress can show a true percentage. */
export async function countSamples(o: SourceOptions, max = Number.POSITIVE_INFINITY): Promise<number> {
  let n = 0;
  for await (const _ of openSource(o)) if (++n >= max) break;
  return n;
}

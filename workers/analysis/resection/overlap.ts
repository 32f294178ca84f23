/**
 * Whether an atlas (the selection statistics) was built on text the evaluation scores (issue 20.4): a reused atlas
 * built on the held-out file gives an in-sample result, silently, unless someone checks. Texts are compared by a
 * whitespace-insensitive SHA-1 (the corpus build's dedup key), against what the atlas was built on:
 *
 * - an experiment's atlas keeps its samples beside it (`atlas-samples.jsonl`, `buildSelectionAtlas`);
 * - an app atlas records its source (JSONL path or dataset, filter, fields, sample cap) in `meta.json`, which is read
 *   again (a source file changed since the build gives a stale answer; one that is gone gives "unknown");
 * - a bare routing pass (`routing.json`) records nothing: unknown.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Sample } from '../../models/monet/perplexity';

export interface AtlasOverlap {
  atlas: string;
  /** False when the atlas's text could not be read back (a routing pass, or its source is gone). */
  known: boolean;
  /** What the atlas was built on, in words. */
  source: string;
  /** Evaluated samples whose text the atlas was built on, of `evaluated`. */
  overlapping: number;
  evaluated: number;
}

/** Whitespace-insensitive key of a text (as the corpus build deduplicates). */
export function textKey(text: string): string {
  return createHash('sha1').update(text.replace(/\s+/g, ' ').trim()).digest('hex');
}

async function atlasTexts(dir: string, workspace?: string): Promise<{ texts: AsyncIterable<string>; source: string } | null> {
  const own = path.join(dir, 'atlas-samples.jsonl');
  const { readJsonlRows, fieldOf } = await import('../../data/jsonl');
  if (existsSync(own)) {
    return {
      source: own,
      texts: (async function* () { for await (const { row } of readJsonlRows(own)) { const t = fieldOf(row, 'text'); if (typeof t === 'string') yield t; } })(),
    };
  }
  if (!existsSync(path.join(dir, 'meta.json'))) return null;
  const { readAtlasMeta } = await import('../atlas/reader');
  const meta = await readAtlasMeta(dir);
  const d = meta.data;
  if (d.kind === 'jsonl' && (!d.path || !existsSync(d.path))) return null;
  if (d.kind === 'dataset' && (d.datasetId === undefined || !workspace)) return null;
  const { openSource } = await import('../atlas/source');
  const data = d.kind === 'jsonl' ? { kind: 'jsonl' as const, path: d.path!, textField: 'text' } : { kind: 'dataset' as const, datasetId: d.datasetId! };
  const max = meta.options.maxSamples ?? Number.POSITIVE_INFINITY;
  return {
    source: d.description,
    texts: (async function* () {
      let n = 0;
      for await (const s of openSource({ data, filter: meta.filter, ...(meta.options.domainField ? { domainField: meta.options.domainField } : {}), ...(workspace ? { workspace } : {}) })) {
        if (n++ >= max) break;
        yield s.text;
      }
    })(),
  };
}

/** Overlap of an atlas folder with the evaluated samples. */
export async function atlasOverlap(dir: string, evaluated: readonly Sample[], workspace?: string): Promise<AtlasOverlap> {
  let found: Awaited<ReturnType<typeof atlasTexts>>;
  try {
    found = await atlasTexts(dir, workspace);
  } catch {
    found = null;
  }
  if (!found) return { atlas: dir, known: false, source: 'unknown (the atlas does not record its text)', overlapping: 0, evaluated: evaluated.length };
  const keys = new Set<string>();
  try {
    for await (const t of found.texts) keys.add(textKey(t));
  } catch {
    return { atlas: dir, known: false, source: `${found.source} (unreadable now)`, overlapping: 0, evaluated: evaluated.length };
  }
  return { atlas: dir, known: true, source: found.source, overlapping: evaluated.filter((s) => keys.has(textKey(s.text))).length, evaluated: evaluated.length };
}

/** Overlap of selection samples held in memory (an atlas about to be built) with the evaluated samples. */
export function samplesOverlap(atlasSamples: readonly Sample[], evaluated: readonly Sample[], atlas: string): AtlasOverlap {
  const keys = new Set(atlasSamples.map((s) => textKey(s.text)));
  return { atlas, known: true, source: atlas, overlapping: evaluated.filter((s) => keys.has(textKey(s.text))).length, evaluated: evaluated.length };
}

/** The warning to show, or null when the atlas is known to share no text with the evaluation. */
export function overlapMessage(o: AtlasOverlap): string | null {
  if (!o.known) return `the atlas ${o.atlas} does not say what text it was built on (${o.source}): the evaluation cannot be checked to be out of sample`;
  if (o.overlapping === 0) return null;
  return `${o.overlapping} of ${o.evaluated} evaluated samples are in the text the atlas ${o.atlas} was built on (${o.source}): the figures are in-sample`;
}

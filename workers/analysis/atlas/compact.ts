/**
 * A compact, shippable form of an atlas (the embedded default model's ships in `assets/atlas/`), and its expansion
 * back into an ordinary atlas folder that the reader, the API and resection use unchanged.
 *
 * A full atlas of the default model is ≈ 120 MB, 100 MB of it top contexts with their full-text index. The pack
 * keeps what a first session needs at a fraction of that:
 *
 *   meta.json                 the atlas's meta, `compact` added; the model folder and corpus path are filled in at expansion
 *   stats.safetensors.br      per group: count, sum as F32 (exact: counts < 2^24); per-domain routing sums as a
 *                             per-expert F32 peak times an F16 fraction (F16 relative precision 2^-11 on every domain
 *                             within 2^14 of the expert's peak, so skews and the skew rule's choices are kept); hist
 *                             I32; corr sums F32; output directions F16; the kept top contexts (group, expert, rank,
 *                             F16 score, occurrence)
 *   contexts.json.br          the occurrences those contexts point to (columns: sample, ref, pos, domain, left, token, right, token id)
 *   vocab.json.br             decoded token strings
 *
 * Top contexts are trimmed to the best `contextsPerExpert` of each expert; the full-text index is rebuilt at expansion.
 * Everything is brotli-compressed (node:zlib). Expansion is atomic: a temporary folder renamed into place.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import {
  float16BitsToFloat32, float32ToFloat16Bits, MemorySource, openSafetensors, openSource as openSafetensorsSource, writeSafetensors, type TensorToWrite,
} from '../../engine/safetensors';
import type { AtlasMeta } from './build';
import { CONTEXTS_INDEXES, CONTEXTS_TABLES, INSERT_OCC, INSERT_TOP } from './contexts-db';

export const COMPACT_FORMAT = 1;

export interface CompactInfo {
  format: number;
  /** Top contexts kept per expert (the full atlas kept `options.topK`). */
  contextsPerExpert: number;
  /** Size of the full atlas the pack was made from, bytes. */
  fullBytes: number;
  /** SHA-256 of the model.safetensors the atlas describes (the pack is only installed beside those weights). */
  modelDigest?: string;
}

export type CompactMeta = AtlasMeta & { compact: CompactInfo };

interface OccColumns { sample: number[]; ref: number[]; pos: number[]; domain: number[]; domains: string[]; left: string[]; token: string[]; right: string[]; tokenId: number[] }

const brotli = (buf: Uint8Array) => brotliCompressSync(buf, { params: { [zc.BROTLI_PARAM_QUALITY]: 9, [zc.BROTLI_PARAM_LGWIN]: 24, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length } });

/** F64 → F32, refusing values F32 cannot hold exactly enough (counts beyond 2^24 would round). */
function toF32(src: Float64Array, integers: boolean, name: string): Float32Array {
  const out = Float32Array.from(src);
  if (integers) for (let k = 0; k < src.length; k++) if (src[k]! > 2 ** 24) throw new Error(`${name}: ${src[k]} exceeds 2^24; the compact form would round it`);
  return out;
}

/** Packs the full atlas in `fullDir` into `packDir` (created or replaced). Returns the pack's meta. */
export async function packAtlas(fullDir: string, packDir: string, o: { contextsPerExpert: number; fullBytes: number; modelDigest?: string; name?: string }): Promise<CompactMeta> {
  const meta = JSON.parse(readFileSync(path.join(fullDir, 'meta.json'), 'utf8')) as AtlasMeta;
  const E = meta.model.E;
  const EE = E * E;
  const D = meta.domains.length;
  const K = Math.min(o.contextsPerExpert, meta.options.topK);
  const stats = await openSafetensors(path.join(fullDir, 'stats.safetensors'));
  const tensors: TensorToWrite[] = [];
  try {
    for (let g = 0; g < meta.model.routerLayers.length; g++) {
      const p = `g${g}`;
      const f64 = async (n: string) => (await stats.read(`${p}.${n}`)) as Float64Array;
      tensors.push({ name: `${p}.count`, dtype: 'F32', shape: [E, E], data: toF32(await f64('count'), true, `${p}.count`) });
      tensors.push({ name: `${p}.sum`, dtype: 'F32', shape: [E, E], data: toF32(await f64('sum'), false, `${p}.sum`) });
      if (stats.tensors.has(`${p}.domain_sum`)) {
        const ds = await f64('domain_sum');
        const peak = new Float32Array(EE);
        for (let d = 0; d < D; d++) for (let id = 0; id < EE; id++) peak[id] = Math.max(peak[id]!, ds[d * EE + id]!);
        const frac = new Float32Array(D * EE);
        for (let d = 0; d < D; d++) for (let id = 0; id < EE; id++) frac[d * EE + id] = peak[id]! > 0 ? ds[d * EE + id]! / peak[id]! : 0;
        tensors.push({ name: `${p}.domain_peak`, dtype: 'F32', shape: [E, E], data: peak });
        tensors.push({ name: `${p}.domain_frac`, dtype: 'F16', shape: [D, E, E], data: float32ToFloat16Bits(frac) });
      }
      tensors.push({ name: `${p}.hist`, dtype: 'I32', shape: [E, E, meta.options.bins], data: (await stats.read(`${p}.hist`)) as Int32Array });
      for (const k of ['sx', 'sy', 'sxy', 'sxx', 'syy', 'n']) {
        if (stats.tensors.has(`${p}.corr_${k}`)) tensors.push({ name: `${p}.corr_${k}`, dtype: 'F32', shape: [E, E], data: toF32(await f64(`corr_${k}`), k === 'n', `${p}.corr_${k}`) });
      }
      for (const side of ['dir_i', 'dir_j']) {
        const dir = (await stats.read(`${p}.${side}`)) as Float32Array;
        tensors.push({ name: `${p}.${side}`, dtype: 'F16', shape: [E, meta.model.d], data: float32ToFloat16Bits(dir) });
      }
    }
  } finally {
    await stats.close();
  }

  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(path.join(fullDir, 'contexts.sqlite'), { readonly: true, fileMustExist: true });
  let occ: OccColumns;
  try {
    const top = db.prepare('SELECT grp, expert, rank, score, occ FROM top WHERE rank < ? ORDER BY grp, expert, rank').all(K) as { grp: number; expert: number; rank: number; score: number; occ: number }[];
    const dense = new Map<number, number>();
    for (const t of top) if (!dense.has(t.occ)) dense.set(t.occ, dense.size);
    const n = top.length;
    const grp = new Int8Array(n);
    const expert = new Int32Array(n);
    const rank = new Int8Array(n);
    const score = new Float32Array(n);
    const ref = new Int32Array(n);
    top.forEach((t, k) => {
      grp[k] = t.grp;
      expert[k] = t.expert;
      rank[k] = t.rank;
      score[k] = t.score;
      ref[k] = dense.get(t.occ)!;
    });
    tensors.push({ name: 'top.grp', dtype: 'I8', shape: [n], data: grp });
    tensors.push({ name: 'top.expert', dtype: 'I32', shape: [n], data: expert });
    tensors.push({ name: 'top.rank', dtype: 'I8', shape: [n], data: rank });
    tensors.push({ name: 'top.score', dtype: 'F16', shape: [n], data: float32ToFloat16Bits(score) });
    tensors.push({ name: 'top.occ', dtype: 'I32', shape: [n], data: ref });
    occ = { sample: [], ref: [], pos: [], domain: [], domains: meta.domains.map((d) => d.name), left: [], token: [], right: [], tokenId: [] };
    const domainIndex = new Map(occ.domains.map((d, k) => [d, k]));
    const row = db.prepare('SELECT sample, ref, pos, domain, left, token, right, token_id AS tokenId FROM occ WHERE id = ?');
    for (const id of dense.keys()) {
      const r = row.get(id) as { sample: number; ref: number; pos: number; domain: string; left: string; token: string; right: string; tokenId: number };
      let d = domainIndex.get(r.domain);
      if (d === undefined) domainIndex.set(r.domain, (d = occ.domains.push(r.domain) - 1));
      occ.sample.push(r.sample); occ.ref.push(r.ref); occ.pos.push(r.pos); occ.domain.push(d);
      occ.left.push(r.left); occ.token.push(r.token); occ.right.push(r.right); occ.tokenId.push(r.tokenId);
    }
  } finally {
    db.close();
  }

  const tmp = `${packDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const statsTmp = path.join(tmp, 'stats.safetensors');
  await writeSafetensors(statsTmp, tensors, { metadata: { format: String(COMPACT_FORMAT) } });
  writeFileSync(`${statsTmp}.br`, brotli(readFileSync(statsTmp)));
  rmSync(statsTmp);
  writeFileSync(path.join(tmp, 'contexts.json.br'), brotli(Buffer.from(JSON.stringify(occ))));
  writeFileSync(path.join(tmp, 'vocab.json.br'), brotli(readFileSync(path.join(fullDir, 'vocab.json'))));
  const packed: CompactMeta = {
    ...meta,
    ...(o.name ? { name: o.name } : {}),
    model: { ...meta.model, dir: '' },
    // Paths of this machine mean nothing where the pack is installed: names only, resolved at expansion.
    data: { ...meta.data, ...(meta.data.path ? { path: path.basename(meta.data.path), description: path.basename(meta.data.path) } : {}) },
    options: { ...meta.options, topK: K },
    compact: { format: COMPACT_FORMAT, contextsPerExpert: K, fullBytes: o.fullBytes, ...(o.modelDigest ? { modelDigest: o.modelDigest } : {}) },
  };
  writeFileSync(path.join(tmp, 'meta.json'), `${JSON.stringify(packed, null, 1)}\n`);
  rmSync(packDir, { recursive: true, force: true });
  renameSync(tmp, packDir);
  return packed;
}

/**
 * Writes contexts.sqlite of an expanded pack: the kept top contexts and their occurrences, then the indexes and the
 * full-text index. Into a temporary file renamed into place, so a reader sees the whole file or none.
 */
export async function expandContexts(packDir: string, atlasDir: string, onProgress?: ContextsProgress): Promise<void> {
  await writeContextsDb(packDir, path.join(atlasDir, 'contexts.sqlite'), undefined, onProgress);
}

/** Rows written of all rows (occurrences, then top entries, then one for the indexes), and the step. */
export type ContextsProgress = (done: number, total: number, what: string) => void;

async function writeContextsDb(packDir: string, file: string, statsBytes?: Buffer, onProgress?: ContextsProgress): Promise<void> {
  const bytes = statsBytes ?? brotliDecompressSync(await readFile(path.join(packDir, 'stats.safetensors.br')));
  const h = await openSafetensorsSource(new MemorySource('stats.safetensors', new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  let top: { grp: Int8Array; expert: Int32Array; rank: Int8Array; score: Float32Array; occ: Int32Array };
  try {
    top = {
      grp: (await h.read('top.grp')) as Int8Array, expert: (await h.read('top.expert')) as Int32Array, rank: (await h.read('top.rank')) as Int8Array,
      score: float16BitsToFloat32((await h.read('top.score')) as Uint16Array), occ: (await h.read('top.occ')) as Int32Array,
    };
  } finally {
    await h.close();
  }
  const occ = JSON.parse(brotliDecompressSync(await readFile(path.join(packDir, 'contexts.json.br'))).toString('utf8')) as OccColumns;
  const tmp = `${file}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(tmp);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(CONTEXTS_TABLES);
    const insOcc = db.prepare(INSERT_OCC);
    const insTop = db.prepare(INSERT_TOP);
    // The index build costs about as much as the rows: counted as as many units as the occurrences it indexes.
    const total = 2 * occ.sample.length + top.grp.length;
    const every = 20_000;
    db.transaction(() => {
      for (let k = 0; k < occ.sample.length; k++) {
        insOcc.run(k + 1, occ.sample[k], occ.ref[k], occ.pos[k], occ.domains[occ.domain[k]!], occ.left[k], occ.token[k], occ.right[k], occ.tokenId[k]);
        if (k % every === 0) onProgress?.(k, total, 'contexts');
      }
      for (let k = 0; k < top.grp.length; k++) {
        insTop.run(top.grp[k], top.expert[k], top.rank[k], top.score[k], top.occ[k]! + 1);
        if (k % every === 0) onProgress?.(occ.sample.length + k, total, 'top entries');
      }
    })();
    onProgress?.(occ.sample.length + top.grp.length, total, 'search index');
    db.exec(CONTEXTS_INDEXES);
    onProgress?.(total, total, 'done');
  } catch (e) {
    db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
  db.close();
  renameSync(tmp, file);
}

export function readCompactMeta(packDir: string): CompactMeta {
  const meta = JSON.parse(readFileSync(path.join(packDir, 'meta.json'), 'utf8')) as CompactMeta;
  if (meta.compact?.format !== COMPACT_FORMAT) throw new Error(`${packDir}: not a compact atlas of format ${COMPACT_FORMAT}`);
  return meta;
}

export interface ExpandOptions {
  /** The model folder the atlas describes (recorded in meta.json; promoted tokens read its lm_head). */
  modelDir: string;
  /** The corpus it was built on, if it is on this machine (else the recorded name is kept). */
  dataPath: string | null;
  id: string;
  /**
   * 'now' (default): contexts.sqlite is written before the folder appears. 'later': the folder appears with the
   * statistics alone (enough to browse the map and lists and to choose and remove experts); the caller then runs
   * expandContexts, which adds contexts.sqlite — the slow half (rows and a full-text index), seconds to a minute.
   */
  contexts?: 'now' | 'later';
  onStep?: (step: string, done: number, total: number) => void;
}

/**
 * Expands a pack into an ordinary atlas folder at `outDir` (which must not exist yet): the stats back in F64/I32,
 * vocab.json, contexts.sqlite with its full-text index (unless deferred), and meta.json last, renamed into place at once.
 */
export async function expandAtlas(packDir: string, outDir: string, o: ExpandOptions): Promise<AtlasMeta> {
  const meta = readCompactMeta(packDir);
  const E = meta.model.E;
  const EE = E * E;
  const D = meta.domains.length;
  const steps = 3;
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    o.onStep?.('statistics', 0, steps);
    const bytes = brotliDecompressSync(await readFile(path.join(packDir, 'stats.safetensors.br')));
    const h = await openSafetensorsSource(new MemorySource('stats.safetensors', new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
    const out: TensorToWrite[] = [];
    const f16 = async (n: string) => float16BitsToFloat32((await h.read(n)) as Uint16Array);
    const f64 = async (n: string) => Float64Array.from((await h.read(n)) as Float32Array);
    for (let g = 0; g < meta.model.routerLayers.length; g++) {
      const p = `g${g}`;
      out.push({ name: `${p}.count`, dtype: 'F64', shape: [E, E], data: await f64(`${p}.count`) });
      out.push({ name: `${p}.sum`, dtype: 'F64', shape: [E, E], data: await f64(`${p}.sum`) });
      if (h.tensors.has(`${p}.domain_peak`)) {
        const peak = (await h.read(`${p}.domain_peak`)) as Float32Array;
        const frac = await f16(`${p}.domain_frac`);
        const ds = new Float64Array(D * EE);
        for (let d = 0; d < D; d++) for (let id = 0; id < EE; id++) ds[d * EE + id] = frac[d * EE + id]! * peak[id]!;
        out.push({ name: `${p}.domain_sum`, dtype: 'F64', shape: [D, E, E], data: ds });
      }
      out.push({ name: `${p}.hist`, dtype: 'I32', shape: [E, E, meta.options.bins], data: (await h.read(`${p}.hist`)) as Int32Array });
      for (const k of ['sx', 'sy', 'sxy', 'sxx', 'syy', 'n']) {
        if (h.tensors.has(`${p}.corr_${k}`)) out.push({ name: `${p}.corr_${k}`, dtype: 'F64', shape: [E, E], data: await f64(`${p}.corr_${k}`) });
      }
      for (const side of ['dir_i', 'dir_j']) out.push({ name: `${p}.${side}`, dtype: 'F32', shape: [E, meta.model.d], data: await f16(`${p}.${side}`) });
    }
    await writeSafetensors(path.join(tmp, 'stats.safetensors'), out, { metadata: { format: '1', expandedFrom: `compact ${COMPACT_FORMAT}` } });
    await h.close();

    if ((o.contexts ?? 'now') === 'now') {
      o.onStep?.('contexts', 1, steps);
      await writeContextsDb(packDir, path.join(tmp, 'contexts.sqlite'), bytes);
    }

    o.onStep?.('vocabulary', 2, steps);
    await writeFile(path.join(tmp, 'vocab.json'), brotliDecompressSync(await readFile(path.join(packDir, 'vocab.json.br'))));
    const { compact, ...rest } = meta;
    const full: AtlasMeta & { compact: CompactInfo } = {
      ...rest,
      compact,
      id: o.id,
      createdAt: meta.createdAt,
      model: { ...meta.model, dir: path.resolve(o.modelDir) },
      data: { ...meta.data, ...(o.dataPath ? { path: path.resolve(o.dataPath), description: path.resolve(o.dataPath) } : {}) },
    };
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify(full));
    if (existsSync(outDir)) throw new Error(`${outDir} already exists`);
    renameSync(tmp, outDir);
    o.onStep?.('done', steps, steps);
    return full;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

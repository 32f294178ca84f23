/**
 * Expert atlases of the workspace (`<workspace>/atlases/<id>/`, built by the `atlas.build` job): listing, the E×E
 * map of a group, sorted/filtered expert pages, expert pages, search; collections of pinned experts with labels and
 * notes in the workspace database (tables `at_collections`, `at_items`, created on first use).
 *
 * Opened atlases are kept (a few at a time) so an expert page is a lookup into arrays already in memory plus one
 * SQLite query for its contexts.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { ApiError } from '../../common/api';
import { isFolderId } from '../../common/ids';
import { ContextsPendingError, openAtlas, type Atlas, type ExpertSummary as ReaderSummary } from '../../workers/analysis/atlas/reader';
import type { AtlasInfo, Collection } from '../../workers/analysis/atlas/schema';
import type { AtlasMeta } from '../../workers/analysis/atlas/build';
import { ensureShippedAtlas } from '../atlas/shipped';
import type { Backend } from '../backend';
import { resolveUnder, resolveUserPath } from '../workspace/paths';
import type { Handlers } from './router';

const OPEN_MAX = 3;
const open = new Map<string, Promise<Atlas>>();

function atlasDir(b: Backend, id: string): string {
  return resolveUnder(b.requireWorkspace().artifactDir('atlases'), id, 'atlas id');
}

async function getAtlas(b: Backend, id: string): Promise<Atlas> {
  const dir = atlasDir(b, id);
  let p = open.get(dir);
  if (p) {
    open.delete(dir);
    open.set(dir, p); // most recent last
    return p;
  }
  if (!existsSync(path.join(dir, 'meta.json'))) throw new ApiError('not_found', `Atlas ${id} not found (it may still be building, or was deleted).`);
  p = openAtlas(dir);
  open.set(dir, p);
  p.catch(() => open.delete(dir));
  while (open.size > OPEN_MAX) {
    const [k, old] = open.entries().next().value as [string, Promise<Atlas>];
    open.delete(k);
    void old.then((a) => a.close()).catch(() => {});
  }
  return p;
}

async function closeAtlas(dir: string): Promise<void> {
  const p = open.get(dir);
  open.delete(dir);
  if (p) await p.then((a) => a.close()).catch(() => {});
}

function info(id: string, dir: string, m: AtlasMeta): AtlasInfo {
  return {
    id, name: m.name, createdAt: m.createdAt, dir,
    model: { dir: m.model.dir, decompose: m.model.decompose, layers: m.model.layers, routerLayers: m.model.routerLayers, H: m.model.H, E: m.model.E },
    data: m.data, filter: m.filter,
    options: { threshold: m.options.threshold, topK: m.options.topK, bins: m.options.bins, context: m.options.context, maxSamples: m.options.maxSamples, scoreField: m.options.scoreField },
    tokens: m.tokens, samples: m.samples, domains: m.domains,
    score: m.score ? { name: m.score.name, n: m.score.n } : null,
    tokensPerSecond: m.tokensPerSecond,
    sae: m.sae ? { id: m.sae.id, dir: m.sae.dir, method: m.sae.method, latents: m.sae.latents, hook: m.sae.hook, group: m.sae.group } : null,
  };
}

/** JSON has no Infinity or NaN. */
const finite = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : x);
const wire = (s: ReaderSummary) => ({ ...s, skew: finite(s.skew), correlation: finite(s.correlation) });

function guard<T>(f: () => Promise<T>): Promise<T> {
  return f().catch((e: unknown) => {
    if (e instanceof RangeError) throw new ApiError('invalid_params', e.message);
    if (e instanceof ContextsPendingError) throw new ApiError('conflict', e.message);
    throw e;
  });
}

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

// Collections ----------------------------------------------------------------------------------------------------

function cdb(b: Backend): Database {
  const db = b.requireWorkspace().db as unknown as Database;
  db.exec(`
    CREATE TABLE IF NOT EXISTS at_collections (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS at_items (collection INTEGER NOT NULL REFERENCES at_collections(id) ON DELETE CASCADE, atlas TEXT NOT NULL, grp INTEGER NOT NULL,
      expert INTEGER NOT NULL, label TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '', added_at INTEGER NOT NULL, PRIMARY KEY (collection, atlas, grp, expert));
  `);
  return db;
}

function collection(db: Database, id: number): Collection {
  const c = db.prepare('SELECT id, name, notes, created_at AS createdAt FROM at_collections WHERE id = ?').get(id) as Omit<Collection, 'items'> | undefined;
  if (!c) throw new ApiError('not_found', `Collection ${id} not found.`);
  const items = db
    .prepare('SELECT atlas, grp AS "group", expert, label, notes, added_at AS addedAt FROM at_items WHERE collection = ? ORDER BY added_at, atlas, grp, expert')
    .all(id) as Collection['items'];
  return { ...c, items };
}

export const atlasHandlers = {
  'atlas.list': async (_p, b) => {
    await ensureShippedAtlas(b.requireWorkspace().dir); // the default model's atlas, on a workspace's first open
    const root = b.requireWorkspace().artifactDir('atlases');
    if (!existsSync(root)) return [];
    const out: AtlasInfo[] = [];
    for (const id of readdirSync(root)) {
      if (!isFolderId(id)) continue; // a folder no client could name (hidden, odd characters)
      const dir = path.join(root, id);
      if (!existsSync(path.join(dir, 'meta.json'))) continue;
      try {
        out.push(info(id, dir, readAtlasMetaSync(dir)));
      } catch {
        /* a damaged atlas is not listed */
      }
    }
    return out.sort((x, y) => y.createdAt - x.createdAt);
  },

  'atlas.build': (p, b) => {
    const scheduler = b.requireScheduler();
    const model = resolveUserPath(p.model);
    if (!existsSync(path.join(model, 'config.json'))) throw new ApiError('invalid_params', `Not a model folder (no config.json): ${model}`, { path: model });
    const data = p.data.kind === 'jsonl' ? { ...p.data, path: resolveUserPath(p.data.path) } : p.data;
    if (data.kind === 'jsonl' && !existsSync(data.path)) throw new ApiError('invalid_params', `Not found: ${data.path}`, { path: data.path });
    const id = p.id ?? `atlas-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(16).slice(2, 10)}`;
    if (!p.out) atlasDir(b, id); // refuses an id that would name anything but a folder under atlases/
    // A latent atlas: an SAE id of the workspace (saes/<id>), else a folder on this machine; checked before the job.
    let sae: string | undefined;
    if (p.sae !== undefined) {
      const inWorkspace = isFolderId(p.sae) ? path.join(b.requireWorkspace().artifactDir('saes'), p.sae) : null;
      sae = inWorkspace && existsSync(inWorkspace) ? inWorkspace : resolveUserPath(p.sae);
      if (!existsSync(sae)) throw new ApiError('invalid_params', `No SAE ${p.sae} in this workspace, and no such folder: ${sae}`, { path: sae });
    }
    const job = scheduler.start('atlas.build', { ...p, model, data, id, ...(sae ? { sae } : {}) });
    return { jobId: job.id, atlas: id };
  },

  'atlas.delete': async (p, b) => {
    const dir = atlasDir(b, p.atlas);
    if (!existsSync(dir)) throw new ApiError('not_found', `Atlas ${p.atlas} not found.`);
    await closeAtlas(dir);
    rmSync(dir, { recursive: true, force: true });
    return { deleted: true as const };
  },

  'atlas.map': (p, b) =>
    guard(async () => {
      const t0 = performance.now();
      const a = await getAtlas(b, p.atlas);
      const m = await a.map(p.group);
      const dom = new Uint8Array(m.dominant.length);
      let maxCount = 0;
      for (let k = 0; k < dom.length; k++) {
        dom[k] = m.dominant[k]! + 1;
        if (m.counts[k]! > maxCount) maxCount = m.counts[k]!;
      }
      return {
        E: m.E, counts: b64(m.counts), dominant: b64(dom), skew: b64(m.skew), domains: a.meta.domains.map((d) => d.name), maxCount, tokens: a.meta.tokens,
        ms: performance.now() - t0,
      };
    }),

  'atlas.experts': (p, b) =>
    guard(async () => {
      const a = await getAtlas(b, p.atlas);
      const r = await a.list(p.group, {
        sort: p.sort, offset: p.offset, limit: p.limit,
        ...(p.dir ? { dir: p.dir } : {}), ...(p.domain !== undefined ? { domain: p.domain } : {}),
        ...(p.minCount !== undefined ? { minCount: p.minCount } : {}), ...(p.minSkew !== undefined ? { minSkew: p.minSkew } : {}),
        ...(p.ids ? { ids: p.ids } : {}),
      });
      return { total: r.total, experts: r.experts.map(wire) };
    }),

  'atlas.expert': (p, b) =>
    guard(async () => {
      const t0 = performance.now();
      const a = await getAtlas(b, p.atlas);
      const s = await a.expert(p.group, p.expert);
      const contexts = await a.topContexts(p.group, p.expert, p.contexts ?? 1000);
      const E = a.E;
      // A latent has no row or column siblings (those are the E×E grid's); it has the bridge instead.
      const latent = a.isLatentGroup(p.group);
      const row = latent ? [] : Array.from({ length: E }, (_, j) => s.i * E + j).filter((x) => x !== p.expert);
      const col = latent ? [] : Array.from({ length: E }, (_, i) => i * E + s.j).filter((x) => x !== p.expert);
      const sib = async (ids: number[]) => (ids.length ? (await a.list(p.group, { ids, sort: 'count', limit: 32 })).experts.map(wire) : []);
      const pairs = await a.bridge(p.group, p.expert, 20);
      const bridge = pairs
        ? await Promise.all(pairs.map(async (q) => ({ ...wire((await a.list(q.group, { ids: [q.id], limit: 1 })).experts[0]!), count: q.count, jaccard: q.jaccard, share: q.share })))
        : null;
      let promoted = null;
      try {
        const pt = await a.promotedTokens(p.group, p.expert, 12);
        if (pt) promoted = { ...pt, method: a.meta.outputDirection };
      } catch {
        promoted = null; // the model folder moved or cannot be read
      }
      const { corrSums: _c, ...rest } = s;
      void _c;
      return {
        ...rest, ...wire(s), atlas: p.atlas, contexts, promoted, row: await sib(row), column: await sib(col), bridge,
        ms: performance.now() - t0,
      };
    }),

  'atlas.search': (p, b) =>
    guard(async () => {
      const a = await getAtlas(b, p.atlas);
      const o = { ...(p.group !== undefined ? { group: p.group } : {}), limit: p.limit };
      const hits = p.token !== undefined && p.token !== '' ? await a.searchToken(p.token, o) : p.text ? await a.searchText(p.text, o) : [];
      const out = [];
      for (const h of hits) {
        const page = await a.list(h.group, { ids: [h.id], limit: 1 });
        if (page.experts[0]) out.push({ ...wire(page.experts[0]), matches: h.matches });
      }
      return out;
    }),

  'atlas.collections': (_p, b) => {
    const db = cdb(b);
    const ids = db.prepare('SELECT id FROM at_collections ORDER BY created_at, id').all() as { id: number }[];
    return ids.map((r) => collection(db, r.id));
  },

  'atlas.saveCollection': (p, b) => {
    const db = cdb(b);
    if (p.id !== undefined) {
      const r = db.prepare('UPDATE at_collections SET name = ?, notes = ? WHERE id = ?').run(p.name, p.notes, p.id);
      if (r.changes === 0) throw new ApiError('not_found', `Collection ${p.id} not found.`);
      return collection(db, p.id);
    }
    const r = db.prepare('INSERT INTO at_collections (name, notes, created_at) VALUES (?, ?, ?)').run(p.name, p.notes, Date.now());
    return collection(db, Number(r.lastInsertRowid));
  },

  'atlas.deleteCollection': (p, b) => {
    const db = cdb(b);
    db.transaction(() => {
      db.prepare('DELETE FROM at_items WHERE collection = ?').run(p.id);
      const r = db.prepare('DELETE FROM at_collections WHERE id = ?').run(p.id);
      if (r.changes === 0) throw new ApiError('not_found', `Collection ${p.id} not found.`);
    })();
    return { deleted: true as const };
  },

  'atlas.pin': (p, b) => {
    const db = cdb(b);
    collection(db, p.collection);
    db.prepare(
      `INSERT INTO at_items (collection, atlas, grp, expert, label, notes, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (collection, atlas, grp, expert) DO UPDATE SET label = excluded.label, notes = excluded.notes`,
    ).run(p.collection, p.atlas, p.group, p.expert, p.label, p.notes, Date.now());
    return collection(db, p.collection);
  },

  'atlas.unpin': (p, b) => {
    const db = cdb(b);
    db.prepare('DELETE FROM at_items WHERE collection = ? AND atlas = ? AND grp = ? AND expert = ?').run(p.collection, p.atlas, p.group, p.expert);
    return collection(db, p.collection);
  },
} satisfies Partial<Handlers>;

function readAtlasMetaSync(dir: string): AtlasMeta {
  return JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as AtlasMeta;
}

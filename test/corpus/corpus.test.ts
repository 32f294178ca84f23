import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  assemble, chunkCode, chunkProse, dedupKey, detokenizeBrownDocument, detokenizeBrownSentence, fileOf, parseJsonl, seededShuffle,
  segmentLines, sha256, toJsonl, type Unit,
} from '../../scripts/corpus/lib';
import { BUILD, DOMAINS } from '../../scripts/corpus/sources';

const squash = (s: string) => s.replace(/\s+/g, '');

describe('corpus helpers', () => {
  it('detokenizes Brown sentences', () => {
    expect(detokenizeBrownSentence(
      "The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( which/wdt 1/2/cd )/) was/bedz Atlanta's/np$ ./.",
    )).toBe('The jury said "no evidence", (which 1/2) was Atlanta\'s.');
    const doc = '\n\n\tA/at b/nn ./.\nC/np d/nn !/.\n\n\n\tE/np ./.\n';
    expect(detokenizeBrownDocument(doc)).toBe('A b. C d!\n\nE.');
  });

  it('seeded shuffle is a deterministic permutation', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const a = seededShuffle(xs, 7);
    expect(seededShuffle(xs, 7)).toEqual(a);
    expect(seededShuffle(xs, 8)).not.toEqual(a);
    expect([...a].sort((p, q) => p - q)).toEqual(xs);
  });

  it('chunks prose and code within the size limit without losing text', () => {
    const prose = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} is here. `.repeat(8 + (i % 5))).join('\n\n');
    const chunks = chunkProse(prose, 500);
    expect(chunks.every((c) => c.length <= 500)).toBe(true);
    expect(squash(chunks.join(''))).toBe(squash(prose));

    const code = Array.from({ length: 60 }, (_, i) => `def f${i}(x):\n    return x + ${i}\n`).join('\n') + '\n' + 'y = 1\n'.repeat(200);
    const cc = chunkCode(code, 300);
    expect(cc.every((c) => c.length <= 300)).toBe(true);
    expect(squash(cc.join(''))).toBe(squash(code));
    expect(cc[0]?.startsWith('def f0(x):\n    return x + 0')).toBe(true);

    const segs = segmentLines(code, 200);
    expect(segs.length).toBeGreaterThan(3);
    expect(segs.join('\n')).toBe(code);
  });

  it('assembles deterministically, every domain in both splits, no sample in both', () => {
    const units: Unit[] = [];
    for (const domain of ['alpha', 'beta', 'gamma']) {
      for (let i = 0; i < 12; i++) {
        const text = Array.from({ length: 6 }, (_, p) => `${domain} document ${i} paragraph ${p}. `.repeat(6)).join('\n\n');
        units.push({ id: `${domain}/${i}`, domain, kind: domain === 'gamma' ? 'code' : 'prose', text });
      }
      // An exact duplicate of another unit's text must not survive.
      units.push({ id: `${domain}/dup`, domain, kind: 'prose', text: units[units.length - 1]!.text });
    }
    const opts = { seed: 1, maxChars: 400, minChars: 20, heldoutFraction: 0.1, domainCap: 1e9 };
    const a = assemble(units, opts);
    const b = assemble([...units].reverse(), opts);
    expect(toJsonl(b.train)).toBe(toJsonl(a.train));
    expect(toJsonl(b.heldout)).toBe(toJsonl(a.heldout));
    for (const d of ['alpha', 'beta', 'gamma']) {
      expect(a.train.some((s) => s.domain === d)).toBe(true);
      expect(a.heldout.some((s) => s.domain === d)).toBe(true);
      expect(a.stats[d]?.duplicatesDropped).toBeGreaterThan(0);
    }
    const held = new Set(a.heldout.map((s) => dedupKey(s.text)));
    expect(a.train.some((s) => held.has(dedupKey(s.text)))).toBe(false);
    expect(new Set(a.train.map((s) => dedupKey(s.text))).size).toBe(a.train.length);
  });
});

describe('splits by file (issue 20: no source file in both splits)', () => {
  // One long file cut into many segments (units), beside many small files: the shape of the SQLite amalgamation.
  const units: Unit[] = [];
  const body = (tag: string) => Array.from({ length: 6 }, (_, l) => `int ${tag}_${l}(void) { return ${l}; }`).join('\n');
  for (let k = 0; k < 40; k++) units.push({ id: `big@1/big.c#${k}`, domain: 'c', kind: 'code', text: body(`big${k}`) });
  for (let f = 0; f < 30; f++) units.push({ id: `small@1/f${f}.h`, domain: 'c', kind: 'code', text: body(`small${f}`) });
  const opts = { seed: 3, maxChars: 400, minChars: 20, heldoutFraction: 0.1, domainCap: 1e9 };
  const sourceOf = (text: string) => units.find((u) => u.text === text)!.id;

  it("split 'file' puts every unit of a file in one split", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const a = assemble(units, { ...opts, seed, split: 'file' });
      const trainFiles = new Set(a.train.map((s) => fileOf(sourceOf(s.text))));
      const heldFiles = new Set(a.heldout.map((s) => fileOf(sourceOf(s.text))));
      expect([...heldFiles].filter((f) => trainFiles.has(f))).toEqual([]);
      expect(a.heldout.length).toBeGreaterThan(0);
      // The long file (40 % of the domain) never becomes the held-out split.
      expect(heldFiles.has('big@1/big.c')).toBe(false);
      expect(a.heldout.every((s) => s.source !== undefined && heldFiles.has(s.source))).toBe(true);
    }
  });

  it("split 'unit-heldout-filtered' keeps train byte-identical, drops straddling held-out text, tops up from unseen files only", () => {
    const spare: Unit[] = [
      { id: 'big@1/big.c#99', domain: 'c', kind: 'code', text: body('spare-of-a-train-file') },
      ...Array.from({ length: 8 }, (_, k): Unit => ({ id: `extra@1/x${k}.h`, domain: 'c', kind: 'code', text: body(`extra${k}`) })),
    ];
    const all = [...units, ...spare];
    const unfiltered = assemble(units, { ...opts, split: 'unit-heldout-filtered' }, []);
    const a = assemble(units, { ...opts, split: 'unit-heldout-filtered' }, spare);
    const textSource = (text: string) => all.find((u) => u.text === text)!.id;
    expect(toJsonl(a.train)).toBe(toJsonl(unfiltered.train));
    const trainFiles = new Set(a.train.map((s) => fileOf(textSource(s.text))));
    expect(a.heldout.filter((s) => trainFiles.has(fileOf(textSource(s.text))))).toEqual([]);
    expect(a.stats.c!.straddlingDropped).toBeGreaterThan(0);
    expect(a.stats.c!.spareAdded).toBeGreaterThan(0);
    expect(a.heldout.some((s) => s.source === 'big@1/big.c')).toBe(false);
  });
});

describe('committed corpus (assets/corpus)', () => {
  const trainText = gunzipSync(readFileSync('assets/corpus/train.jsonl.gz')).toString('utf8');
  const heldText = readFileSync('assets/corpus/heldout.jsonl', 'utf8');
  const stats = JSON.parse(readFileSync('assets/corpus/stats.json', 'utf8')) as {
    sha256: Record<string, string>;
    domains: Record<string, { train: { samples: number; chars: number }; heldout: { samples: number; chars: number } }>;
  };
  const train = parseJsonl(trainText);
  const heldout = parseJsonl(heldText);

  it('matches the manifest hashes and counts in stats.json', () => {
    expect(sha256(trainText)).toBe(stats.sha256['train.jsonl']);
    expect(sha256(heldText)).toBe(stats.sha256['heldout.jsonl']);
    for (const d of DOMAINS) {
      const s = stats.domains[d]!;
      expect(train.filter((x) => x.domain === d).length).toBe(s.train.samples);
      expect(heldout.filter((x) => x.domain === d).length).toBe(s.heldout.samples);
    }
    // The files are exactly what toJsonl writes (so a rebuild is byte-comparable).
    expect(toJsonl(heldout)).toBe(heldText);
  });

  it('has every domain in both splits, samples within limits, no sample in both splits', () => {
    const domains = new Set([...train, ...heldout].map((s) => s.domain));
    expect([...domains].sort()).toEqual([...DOMAINS].sort());
    for (const d of DOMAINS) {
      expect(train.some((s) => s.domain === d)).toBe(true);
      expect(heldout.some((s) => s.domain === d)).toBe(true);
    }
    for (const s of [...train, ...heldout]) {
      expect(s.text.length).toBeLessThanOrEqual(BUILD.maxChars);
      expect(s.text.trim().length).toBeGreaterThanOrEqual(BUILD.minChars);
    }
    const held = new Set(heldout.map((s) => dedupKey(s.text)));
    expect(train.filter((s) => held.has(dedupKey(s.text))).length).toBe(0);
  });
});

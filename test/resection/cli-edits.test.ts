/**
 * The CLI around an edit, built into a private bundle, on a tiny model: `mask` prints the routing mass the app shows
 * and its help names commands that exist; an exported folder opens edited (and unedited with --no-recipe);
 * `resect jobs | head` ends quietly; `score` never overwrites a field unless asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { fixtureWithTokenizer } from '../monet/helpers';
import { writeLabelledJsonl } from './helpers';
import { Workspace } from '../../main/workspace/workspace';
import { scoreProvenance } from '../../workers/data/score-provenance';

const run = promisify(execFile);
const ROOT = path.join(import.meta.dirname, '..', '..');
const OUT = path.join(ROOT, 'dist', `test-cli-edits-${process.pid}`);
const BUNDLE = path.join(OUT, 'cli.mjs');
const cli = (args: string[]) => run(process.execPath, [BUNDLE, ...args], { cwd: ROOT, maxBuffer: 1 << 26 });

let tmp: string;
let model: string;
let data: string;
let atlas: string;

beforeAll(async () => {
  await build({
    entryPoints: [path.join(ROOT, 'main', 'cli.ts')], outfile: BUNDLE, bundle: true, platform: 'node', target: 'node20',
    format: 'esm', packages: 'external', logLevel: 'warning', alias: { '@common': path.join(ROOT, 'common') },
    banner: { js: "import { createRequire as __resectCreateRequire } from 'node:module'; const require = __resectCreateRequire(import.meta.url);" },
  });
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-cli-edits-'));
  model = await fixtureWithTokenizer('monet-vd-tiny');
  data = path.join(tmp, 'data.jsonl');
  await writeLabelledJsonl(data);
  atlas = path.join(tmp, 'atlas');
  await cli(['atlas', '--model', model, '--data', data, '--out', atlas, '--threads', '1']);
}, 180_000);
afterAll(async () => {
  await rm(OUT, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
  await rm(path.dirname(model), { recursive: true, force: true });
});

/** Commands the CLI registers (from `resect --help`). */
async function commandNames(): Promise<Set<string>> {
  const { stdout } = await cli(['--help']);
  const names = [...stdout.split('Commands:')[1]!.matchAll(/^\s{2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return new Set(names);
}

describe('resect mask', () => {
  it('prints the share of each domain\'s routing mass the chosen experts carry, and the target against the others', async () => {
    const out = path.join(tmp, 'code.mask.json');
    const { stdout } = await cli(['mask', '--atlas', atlas, '--domain', 'code', '--out', out]);
    expect(stdout).toMatch(/Routing mass removed/);
    expect(stdout).toMatch(/^\s+code\s+\d+\.\d+%$/m);
    expect(stdout).toMatch(/^\s+prose\s+\d+\.\d+%$/m);
    expect(stdout).toMatch(/^code: \d+\.\d+% against \d+\.\d+% for the other domains' mean/m);
    const json = JSON.parse((await cli(['mask', '--atlas', atlas, '--domain', 'code', '--out', out, '--json'])).stdout) as {
      massRemoved: { domains: { domain: string; share: number }[]; target: { share: number; othersMean: number; ratio: number | null } };
    };
    const code = json.massRemoved.domains.find((d) => d.domain === 'code')!;
    expect(json.massRemoved.target.share).toBe(code.share);
    expect(json.massRemoved.target.share).toBeGreaterThan(json.massRemoved.target.othersMean);
  });

  it('its help names only commands that exist', async () => {
    const names = await commandNames();
    for (const cmd of ['mask', 'export', 'score']) {
      const { stdout } = await cli([cmd, '--help']);
      const named = [...stdout.matchAll(/`resect ([a-z][a-z-]*)/g)].map((m) => m[1]!);
      for (const n of named) expect(names, `${cmd} --help names resect ${n}`).toContain(n);
      expect(stdout).not.toMatch(/spec §/);
    }
  });
});

describe('an exported folder on the command line', () => {
  it('perplexity applies the folder\'s edit, --no-recipe opens it unedited', async () => {
    const mask = path.join(tmp, 'hand.mask.json');
    await writeFile(mask, JSON.stringify({ groups: { 0: [3, 10, 17] }, rows: { 1: [2] } }));
    const exp = path.join(tmp, 'exported');
    const e = await cli(['export', '--model', model, '--mask', mask, '--out', exp]);
    expect(e.stdout).toMatch(/add --onnx for a model\.onnx that carries the edit/);
    const ppl = async (args: string[]) => {
      const r = await cli(['perplexity', '--data', data, '--json', '--threads', '1', ...args]);
      return { ppl: (JSON.parse(r.stdout) as { overall: { ppl: number } }).overall.ppl, stderr: r.stderr };
    };
    const masked = await ppl(['--model', model, '--mask', mask]);
    const base = await ppl(['--model', model]);
    const edited = await ppl(['--model', exp]);
    expect(edited.ppl).toBe(masked.ppl);
    expect(edited.stderr).toMatch(/edited: \d+ experts removed/);
    const unedited = await ppl(['--model', exp, '--no-recipe']);
    expect(unedited.ppl).toBe(base.ppl);
    expect(unedited.stderr).toMatch(/without the edit/);
  });
});

describe('output into a closed pipe', () => {
  it('`resect jobs | head` ends quietly: no EPIPE stack, exit 0', async () => {
    const ws = path.join(tmp, 'ws');
    Workspace.open(ws, { create: true }).close();
    for (const args of [['jobs', '--workspace', ws], ['--help']]) {
      const child = spawn(process.execPath, [BUNDLE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the reader went away before the first line
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr, args.join(' ')).not.toMatch(/EPIPE|Error/);
      expect(code, args.join(' ')).toBe(0);
    }
  });
});

describe('resect score', () => {
  it('scores with the heuristic by default and never replaces a field unless --overwrite', async () => {
    const rude = path.join(tmp, 'rude.jsonl');
    await writeFile(rude, ['Go kill yourself, you worthless moron.', 'What a lovely day.'].map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const out = path.join(tmp, 'rude.scored.jsonl');
    const first = await cli(['score', '--data', rude, '--out', out]);
    expect(first.stdout).toMatch(/scored 2 records with heuristic/);
    const scores = (await readFile(out, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { toxicity: number }).toxicity);
    expect(scores[0]).toBeGreaterThan(0.9);
    expect(scores[1]).toBe(0);
    // Each score names the text it was computed from, which the atlas checks (issue 20.8).
    const firstRecord = JSON.parse((await readFile(out, 'utf8')).split('\n')[0]!) as { toxicity_of: string };
    expect(firstRecord.toxicity_of).toBe(scoreProvenance('text', 'Go kill yourself, you worthless moron.'));

    // The scored file already has "toxicity": refused, nothing written; --overwrite replaces it.
    const again = path.join(tmp, 'again.jsonl');
    await expect(cli(['score', '--data', out, '--out', again, '--scorer', 'lexicon:presence'])).rejects.toThrow(/already has a "toxicity" field; pass --overwrite/);
    expect(existsSync(again)).toBe(false);
    const replaced = await cli(['score', '--data', out, '--out', again, '--scorer', 'lexicon:presence', '--overwrite']);
    expect(replaced.stdout).toMatch(/replacing "toxicity" in 2/);
    await expect(cli(['score', '--data', out, '--out', out])).rejects.toThrow(/--out must be a new file/);
  });
});

describe('resect data import', () => {
  it('keeps code together with --text-unit paragraph, and names why nothing was imported', async () => {
    const ws = path.join(tmp, 'ws-data');
    const code = path.join(tmp, 'snippets.txt');
    await writeFile(code, 'def f(x):\n    return x\n\nclass A:\n    pass\n');
    const r = await cli(['data', 'import', code, '--text-unit', 'paragraph', '--workspace', ws, '--json']);
    expect((JSON.parse(r.stdout) as { imported: number }).imported).toBe(2);
    const bad = path.join(tmp, 'bad.parquet');
    await writeFile(bad, 'not parquet');
    await expect(cli(['data', 'import', bad, '--workspace', ws])).rejects.toThrow(/no samples were found \(bad\.parquet: .*footer != PAR1\)/);
  });
});

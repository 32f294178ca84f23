/** `resect atlas` in process (commander): a JSONL file with domain/score fields and filters, and a workspace dataset by name. */
import { mkdtemp } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerAtlas } from '../../main/cli/commands/atlas';
import { openDatasetStore, importDataset } from '../../workers/data';
import { openAtlas } from '../../workers/analysis/atlas/reader';
import { FIXTURES, fixtureWithTokenizer } from '../monet/helpers';

const SAMPLE = path.join(FIXTURES, 'data', 'sample.jsonl');

async function cli(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerAtlas(program);
  let out = '';
  const w = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'resect', 'atlas', ...args]);
  } finally {
    w.mockRestore();
    e.mockRestore();
  }
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('resect atlas', () => {
  it('builds from a JSONL file with domain and score fields, a domain filter and --max-samples', async () => {
    const model = await fixtureWithTokenizer('monet-vd-tiny');
    const out = path.join(await mkdtemp(path.join(tmpdir(), 'resect-atlas-cli-')), 'a');
    const text = await cli(['--model', model, '--data', SAMPLE, '--domain-field', 'domain', '--score-field', 'toxicity', '--out', out, '--top-k', '3', '--json']);
    const summary = JSON.parse(text) as { tokens: number; samples: number; domains: { name: string }[]; groups: number };
    expect(summary.samples).toBe(24);
    expect(summary.domains.map((d) => d.name).sort()).toEqual(['code', 'cooking', 'law']);
    expect(summary.groups).toBe(2);
    const meta = JSON.parse(readFileSync(path.join(out, 'meta.json'), 'utf8')) as { options: { topK: number }; score: { name: string } };
    expect(meta.options.topK).toBe(3);
    expect(meta.score.name).toBe('toxicity');
    const atlas = await openAtlas(out);
    const top = (await atlas.list(0, { limit: 1 })).experts[0]!;
    expect((await atlas.topContexts(0, top.id)).length).toBeLessThanOrEqual(3);
    await atlas.close();

    const out2 = path.join(path.dirname(out), 'b');
    await cli(['--model', model, '--data', SAMPLE, '--domain', 'law', '--max-samples', '3', '--out', out2]);
    const meta2 = JSON.parse(readFileSync(path.join(out2, 'meta.json'), 'utf8')) as { samples: number; domains: { name: string }[] };
    expect(meta2.samples).toBe(3);
    expect(meta2.domains.map((d) => d.name)).toEqual(['law']);
    expect(existsSync(path.join(out2, 'checkpoint.json'))).toBe(false);
  }, 60_000);

  it('reads a workspace dataset by name (domains and scores from the store)', async () => {
    const model = await fixtureWithTokenizer('monet-vd-tiny');
    const ws = await mkdtemp(path.join(tmpdir(), 'resect-atlas-ws-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(ws, 'resect.db'), '');
    const db = await openDatasetStore(ws);
    await importDataset(db, [{ path: SAMPLE }], { name: 'sample' });
    db.close();
    const out = path.join(ws, 'atlases', 'x');
    const text = await cli(['--model', model, '--data', 'sample', '--workspace', ws, '--score-field', 'toxicity', '--out', out, '--json']);
    const summary = JSON.parse(text) as { samples: number; domains: { name: string }[] };
    expect(summary.samples).toBe(24);
    expect(summary.domains.map((d) => d.name).sort()).toEqual(['code', 'cooking', 'law']);
    await expect(cli(['--model', model, '--data', 'nope', '--workspace', ws, '--out', out])).rejects.toThrow(/no dataset with that id or name/);
  }, 60_000);
});

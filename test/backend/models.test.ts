/**
 * The models API in process: a Backend whose "workers" run the job definitions in this process (same protocol,
 * including streamed `output`), on a copy of test/fixtures/monet-vd-tiny with the character tokenizer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EventData, JobInfo, MethodName, Params, Result } from '../../common/api';
import { Backend } from '../../main/backend';
import { InProcessLauncher } from '../../main/jobs/in-process';
import { fixtureWithTokenizer, FIXTURES } from '../monet/helpers';
import { tempDir } from './helpers';

/** Runs jobs in this process, speaking the worker protocol. */
const inProcess = new InProcessLauncher({ device: 'cpu', threads: 1 });

let model: string;
const savedEnv = process.env.RESECT_DEFAULT_MODEL;
beforeAll(async () => {
  model = await fixtureWithTokenizer('monet-vd-tiny');
  process.env.RESECT_DEFAULT_MODEL = ''; // no default model unless a test sets one
});
afterAll(async () => {
  await rm(path.dirname(model), { recursive: true, force: true });
  if (savedEnv === undefined) delete process.env.RESECT_DEFAULT_MODEL;
  else process.env.RESECT_DEFAULT_MODEL = savedEnv;
});

const opened: Backend[] = [];
afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
  process.env.RESECT_DEFAULT_MODEL = '';
});

function open(dir = tempDir()) {
  const backend = new Backend({ mode: 'serve', workspaceDir: dir, launcher: inProcess });
  opened.push(backend);
  const events: { event: string; data: unknown }[] = [];
  backend.subscribe((event, data) => events.push({ event, data }));
  const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
  const fails = async <M extends MethodName>(m: M, p: Params<M>) => {
    try {
      await call(m, p);
    } catch (e) {
      return e as { code: string; message: string };
    }
    throw new Error(`${m} did not fail`);
  };
  const waitJob = async (id: string): Promise<JobInfo> => {
    for (let i = 0; i < 1200; i++) {
      const j = (await call('jobs.list', {})).find((x) => x.id === id)!;
      if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') return j;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  };
  return { backend, dir, events, call, fails, waitJob };
}

/** A copy of the fixture with config.json edited by `edit`. */
async function brokenCopy(edit: (c: Record<string, unknown>) => void): Promise<string> {
  const dir = path.join(tempDir('resect-bad-model-'), 'bad');
  await cp(path.join(FIXTURES, 'monet-vd-tiny'), dir, { recursive: true });
  const c = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit(c);
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

describe('models API', () => {
  it('adds a checkpoint folder, lists it with its summary, gets details, removes it without touching files', async () => {
    const { call, events } = open();
    expect(await call('models.list', {})).toEqual([]);

    const info = await call('models.add', { path: model });
    expect(info).toMatchObject({ name: 'monet-vd-tiny', path: model, builtin: false, error: null, tokenizer: 'tokenizer.json' });
    expect(info.summary).toMatchObject({ decompose: 'vertical', layers: 4, hiddenSize: 32, experts: 8, routerLayers: [0, 2], vocabSize: 97, dtypes: { F32: 79, I64: 4 } }); // the fixture's header: 79 F32 weights, 4 I64 buffers
    expect(info.summary!.parameters).toBeGreaterThan(10_000);
    expect(info.summary!.bytesOnDisk).toBeGreaterThanOrEqual(info.summary!.parameters * 4);
    expect(events.filter((e) => e.event === 'models.changed')).toHaveLength(1);

    // Adding the same folder again (also through another spelling) returns the same entry.
    const again = await call('models.add', { path: `${model}/./` });
    expect(again.id).toBe(info.id);
    expect(await call('models.list', {})).toHaveLength(1);

    const details = await call('models.get', { id: info.id });
    expect(details.config).toMatchObject({ model_type: 'monet', moe_experts: 8, num_hidden_layers: 4 });
    expect(details.derived).toMatchObject({ headDim: 32 / 4, routerLayers: [0, 2], compositeExperts: 64, routers: 2 });
    expect(details.derived!.sigmaStar).toBeGreaterThan(0);
    expect(details.files.map((f) => f.name)).toEqual(['model.safetensors']);
    expect(details.files[0]!.bytes).toBe(details.summary!.bytesOnDisk);

    // The registry survives a new backend on the same workspace.
    const second = open(open().dir);
    await second.call('models.add', { path: model });
    expect((await second.call('models.list', {})).map((m) => m.path)).toEqual([model]);

    await call('models.remove', { id: info.id });
    expect(await call('models.list', {})).toEqual([]);
    expect(existsSync(path.join(model, 'model.safetensors'))).toBe(true);
    expect(existsSync(path.join(model, 'config.json'))).toBe(true);
  });

  it('refuses bad folders with errors that say what is wrong', async () => {
    const { fails, call } = open();
    const missing = await fails('models.add', { path: path.join(model, 'nope') });
    expect(missing).toMatchObject({ code: 'invalid_params' });
    expect(missing.message).toMatch(/does not exist/);

    const file = await fails('models.add', { path: path.join(model, 'config.json') });
    expect(file.message).toMatch(/is not a folder/);

    const empty = tempDir('resect-empty-');
    expect((await fails('models.add', { path: empty })).message).toMatch(/has no config\.json/);

    const noWeights = tempDir('resect-noweights-');
    await cp(path.join(model, 'config.json'), path.join(noWeights, 'config.json'));
    expect((await fails('models.add', { path: noWeights })).message).toMatch(/has no weights/);

    const negative = await brokenCopy((c) => (c.moe_experts = -3));
    expect((await fails('models.add', { path: negative })).message).toBe('config.json: moe_experts must be a positive integer, got -3');

    const shape = await brokenCopy((c) => (c.hidden_size = 64));
    expect((await fails('models.add', { path: shape })).message).toMatch(/does not match config\.json/);

    expect((await fails('models.remove', { id: 'm-nothere' })).code).toBe('not_found');
    expect((await fails('models.get', { id: 'm-nothere' })).code).toBe('not_found');
    expect(await call('models.list', {})).toEqual([]);
  });

  it('keeps a model whose folder went away in the list, with the reason', async () => {
    const { call } = open();
    const dir = path.join(tempDir('resect-moving-'), 'm');
    await cp(model, dir, { recursive: true });
    const info = await call('models.add', { path: dir });
    await rm(dir, { recursive: true });
    const [listed] = await call('models.list', {});
    expect(listed).toMatchObject({ id: info.id, summary: null, tokenizer: null });
    expect(listed!.error).toMatch(/does not exist/);
  });

  it('lists the default model first when its folder has a config.json, and never removes it', async () => {
    const { call, fails } = open();
    process.env.RESECT_DEFAULT_MODEL = path.join(tempDir(), 'absent');
    expect(await call('models.list', {})).toEqual([]);
    expect((await fails('models.get', { id: 'default' })).code).toBe('not_found');

    process.env.RESECT_DEFAULT_MODEL = model;
    const other = path.join(tempDir('resect-other-'), 'other');
    await cp(model, other, { recursive: true });
    await call('models.add', { path: other });
    const list = await call('models.list', {});
    expect(list.map((m) => [m.id, m.name, m.builtin])).toEqual([
      ['default', 'Default model', true],
      [expect.stringMatching(/^m-/), 'other', false],
    ]);
    // The default model comes with the shipped held-out corpus (it ships even when the model folder is overridden).
    const shipped = path.join(import.meta.dirname, '..', '..', 'assets', 'corpus');
    expect(list.map((m) => m.corpus)).toEqual([{ heldout: path.join(shipped, 'heldout.jsonl'), train: path.join(shipped, 'train.jsonl.gz') }, null]);
    process.env.RESECT_DEFAULT_CORPUS = path.join(other, 'labelled.jsonl');
    try {
      expect((await call('models.get', { id: 'default' })).corpus).toEqual({ heldout: path.join(other, 'labelled.jsonl'), train: null });
    } finally {
      delete process.env.RESECT_DEFAULT_CORPUS;
    }
    // Opening the default model's folder again does not duplicate it.
    expect((await call('models.add', { path: model })).id).toBe('default');
    expect((await fails('models.remove', { id: 'default' })).code).toBe('conflict');
    expect((await call('models.get', { id: 'default' })).summary?.layers).toBe(4);
  });

  it('reads a MASK.json against a model and explains a bad one', async () => {
    const { call, fails } = open();
    const info = await call('models.add', { path: model });
    const r = await call('models.loadMask', { id: info.id, path: path.join(model, 'masks.json') });
    expect(r.layers).toBeGreaterThan(0);
    expect(r.entries).toBeGreaterThan(0);
    expect(r.mask).toHaveProperty('layers');

    const dir = tempDir('resect-mask-');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ layers: { 7: [1] } }));
    const bad = await fails('models.loadMask', { id: info.id, path: path.join(dir, 'bad.json') });
    expect(bad.code).toBe('invalid_params');
    expect(bad.message).toMatch(/unknown layer 7/);
    expect((await fails('models.loadMask', { id: info.id, path: path.join(dir, 'none.json') })).message).toMatch(/does not exist/);
  });

  it('streams generated text as job.output events (new text only, not stored) and routes per token', async () => {
    const { call, events, waitJob } = open();
    const info = await call('models.add', { path: model });
    const job = await call('jobs.start', { kind: 'monet.generate', params: { model: info.path, prompt: 'hello', maxTokens: 8 } });
    const done = await waitJob(job.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    const result = done.result as { text: string; tokens: number[] };
    const outputs = events.filter((e) => e.event === 'job.output').map((e) => e.data as EventData<'job.output'>);
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.every((o) => o.id === job.id && o.text.length > 0)).toBe(true);
    expect(outputs.map((o) => o.text).join('')).toBe(result.text);
    // Progress counts tokens and carries no text; the log keeps the text lines.
    expect(done.progress).toMatchObject({ unit: 'tokens', done: result.tokens.length });
    expect(done.progress!.message).toBeUndefined();
    const { lines } = await call('jobs.log', { id: job.id });
    expect(lines.some((l) => l.includes('tokens/s'))).toBe(true);

    // A mask read through models.loadMask is accepted by the job.
    const { mask } = await call('models.loadMask', { id: info.id, path: path.join(model, 'masks.json') });
    const masked = await waitJob((await call('jobs.start', { kind: 'monet.generate', params: { model: info.path, prompt: 'hello', maxTokens: 3, mask } })).id);
    expect(masked.state, masked.error ?? '').toBe('succeeded');

    const route = await waitJob((await call('jobs.start', { kind: 'monet.route', params: { model: info.path, prompt: 'hi', top: 4 } })).id);
    expect(route.state, route.error ?? '').toBe('succeeded');
    const r = route.result as { routers: number[]; tokens: { text: string; routers: { id: number; i: number; j: number; score: number }[][] }[] };
    expect(r.routers).toEqual([0, 2]);
    expect(r.tokens).toHaveLength(3);
    for (const e of r.tokens[1]!.routers[0]!) expect(e.id).toBe(e.i * 8 + e.j);
  });
});

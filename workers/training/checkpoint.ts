/**
 * Training checkpoints in Hugging Face layout: config.json (every MonetConfig key), model.safetensors (F32, or
 * BF16/F16 on request), tokenizer.json + tokenizer_config.json, generation_config.json, plus optimizer.safetensors
 * (AdamW moments, always F32) and trainer_state.json (step, data position, schedule, seeds, running totals).
 *
 * Atomicity: the whole folder is written under a temporary name, then swapped in by renames
 * (`checkpoint` → `.checkpoint-old`, temp → `checkpoint`, old removed). A crash between the renames leaves
 * `.checkpoint-old`, which `findCheckpoint` falls back to. A save that fails (disk full) removes its temporary
 * folder; one that a kill interrupted leaves `.checkpoint-tmp-<pid>` (a full checkpoint), which `findCheckpoint` —
 * called when a run starts — sweeps once that process is gone.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openSafetensors, writeSafetensors, float32ToBfloat16Bits, float32ToFloat16Bits, type TensorToWrite } from '../engine/safetensors';

export type SaveDtype = 'F32' | 'BF16' | 'F16';

export interface TrainerState {
  format: 'resect-monet-train/1';
  step: number;
  totalSteps: number;
  /** Global index of the next training sequence (the data position); the order is a function of seed and index. */
  nextSequence: number;
  epoch: number;
  seed: number;
  tokensSeen: number;
  elapsedMs: number;
  schedule: { kind: 'warmup-cosine'; peak: number; min: number; warmup: number; total: number };
  hyper: Record<string, unknown>;
  preset?: string;
  lastLoss?: number;
  bestVal?: number;
}

export interface CheckpointData {
  rawConfig: Record<string, unknown>;
  /** Weights and BN buffers by HF name (float32). */
  weights: Map<string, { data: Float32Array; shape: number[] }>;
  optimizer?: Map<string, { data: Float32Array; shape: number[] }>;
  state?: TrainerState;
  tokenizerDir?: string;
  dtype?: SaveDtype;
}

const isBuffer = (n: string) => n.includes('.running_');

function encode(data: Float32Array, dtype: SaveDtype): ArrayBufferView {
  if (dtype === 'F32') return data;
  return dtype === 'BF16' ? float32ToBfloat16Bits(data) : float32ToFloat16Bits(data);
}

/** Write a complete checkpoint folder at `dir` atomically. */
export async function saveCheckpoint(dir: string, c: CheckpointData): Promise<void> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}-tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await writeFolder(tmp, c);
  } catch (e) {
    // Disk full or any other failure: the half-written copy of a whole checkpoint must not stay behind.
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  const old = path.join(parent, `.${path.basename(dir)}-old`);
  await rm(old, { recursive: true, force: true });
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

async function writeFolder(tmp: string, c: CheckpointData): Promise<void> {
  const dtype = c.dtype ?? 'F32';
  const config: Record<string, unknown> = { ...c.rawConfig, torch_dtype: dtype === 'F32' ? 'float32' : dtype === 'BF16' ? 'bfloat16' : 'float16' };
  await writeFile(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(path.join(tmp, 'generation_config.json'), `${JSON.stringify({ bos_token_id: config.bos_token_id ?? null, eos_token_id: config.eos_token_id ?? null }, null, 2)}\n`);
  const tensors: TensorToWrite[] = [...c.weights].map(([name, t]) => ({
    name, shape: t.shape, dtype: isBuffer(name) ? 'F32' : dtype, data: () => (isBuffer(name) ? t.data : encode(t.data, dtype)),
  }));
  await writeSafetensors(path.join(tmp, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
  if (c.optimizer) {
    await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), [...c.optimizer].map(([name, t]) => ({ name, shape: t.shape, dtype: 'F32' as const, data: t.data })));
  }
  if (c.state) await writeFile(path.join(tmp, 'trainer_state.json'), `${JSON.stringify(c.state, null, 2)}\n`);
  if (c.tokenizerDir) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      const src = path.join(c.tokenizerDir, f);
      if (existsSync(src)) await copyFile(src, path.join(tmp, f));
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * Removes `.<name>-tmp-<pid>` folders beside `dir` left by saves that never finished: their process is gone (killed
 * mid-save), or it is this one (a failed save before this run). A folder of a process still running is kept.
 * Returns the folders removed.
 */
export function sweepCheckpointTemps(dir: string): string[] {
  const parent = path.dirname(dir);
  const prefix = `.${path.basename(dir)}-tmp-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    if (pid !== process.pid && processAlive(pid)) continue;
    rmSync(path.join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The checkpoint folder to resume from (`dir`, or the leftover of an interrupted swap), or null. Sweeps the
 *  temporary folders of saves that never finished first (a run starts here). */
export function findCheckpoint(dir: string): string | null {
  sweepCheckpointTemps(dir);
  if (existsSync(path.join(dir, 'trainer_state.json'))) return dir;
  const old = path.join(path.dirname(dir), `.${path.basename(dir)}-old`);
  if (existsSync(path.join(old, 'trainer_state.json'))) return old;
  return null;
}

async function readAll(file: string): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const h = await openSafetensors(file);
  try {
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [name, info] of h.tensors) out.set(name, { data: await h.readAsFloat32(name), shape: [...info.shape] });
    return out;
  } finally {
    await h.close();
  }
}

export async function loadCheckpoint(dir: string): Promise<Required<Omit<CheckpointData, 'tokenizerDir' | 'dtype'>>> {
  const rawConfig = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const weights = await readAll(path.join(dir, 'model.safetensors'));
  const optimizer = await readAll(path.join(dir, 'optimizer.safetensors'));
  const state = JSON.parse(await readFile(path.join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
  return { rawConfig, weights, optimizer, state };
}

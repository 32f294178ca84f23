/** Small helpers shared by CLI commands. */
import { InvalidArgumentError, type Command } from 'commander';
import { MonetModel } from '../../workers/models/monet/model';
import { parseDevice } from '../../workers/models/monet/session';
import { hasRecipe, RECIPE_FILE } from '../../workers/models/monet/recipe';
import { assertModelFits } from '../../workers/models/monet/memory';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder of the running bundle (dist/). */
export function bundleDir(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The compute options every command that runs a model takes. */
export interface DeviceOpts { device: string; threads?: string; recipe?: boolean }

export function withDeviceOptions(cmd: Command): Command {
  return cmd
    .option('--device <device>', 'auto, cpu, webgpu, cuda, dml or coreml (falls back to cpu)', 'cpu')
    .option('--threads <n>', 'intra-op threads')
    .option('--no-recipe', 'open an exported folder without the edit it carries (resect_masks.safetensors); by default it is applied');
}

/**
 * Loads a Monet model with the command's device and threads; provider messages (fallbacks and why) go to stderr, and
 * so does the edit an exported folder carries (applied unless --no-recipe).
 */
export async function loadModelForCli(dir: string, o: DeviceOpts): Promise<MonetModel> {
  const threads = o.threads === undefined ? undefined : Number(o.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a positive integer, got ${o.threads}`);
  await assertModelFits(dir); // a model too large for this machine: the reason and the options, not an OOM crash
  const model = await MonetModel.load(dir, {
    provider: parseDevice(o.device),
    ...(threads ? { intraOpThreads: threads } : {}),
    log: (m) => process.stderr.write(`resect: ${m}\n`),
    recipe: o.recipe !== false,
  });
  if (model.recipe) process.stderr.write(`resect: edited: ${model.recipe.removed} experts removed (${RECIPE_FILE}); --no-recipe opens it unedited\n`);
  else if (o.recipe === false && hasRecipe(dir)) process.stderr.write('resect: opened without the edit the folder carries (--no-recipe)\n');
  return model;
}

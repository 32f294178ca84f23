/**
 * `resect sae import SRC [--id ID | --out DIR]`: an SAE Lens or EleutherAI sparsify folder (a sparsify run folder:
 * `--hookpoint`) into Resect's layout (SAE Lens's cfg.json + sae_weights.safetensors with Resect's state beside it),
 * by default into the workspace's `saes/<id>` where the app lists it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultWorkspaceDir, resolveUserPath } from '../../workspace/paths';
import { printJson } from '../shared';

export function registerSaeImport(sae: Command): void {
  sae.command('import')
    .description('import an SAE Lens or sparsify SAE folder into the workspace (or --out), in SAE Lens layout')
    .argument('<src>', 'SAE Lens folder (cfg.json + sae_weights.safetensors), sparsify hookpoint folder (cfg.json + sae.safetensors) or sparsify run folder')
    .option('--hookpoint <name>', 'sparsify run folder: the hookpoint to import')
    .option('--id <id>', 'SAE id in the workspace (default: from the folder name)')
    .option('--out <dir>', 'write here instead of the workspace')
    .option('--workspace <dir>', 'workspace (default: $RESECT_WORKSPACE, else the app-data folder)')
    .option('--force', 'replace an SAE with the same id')
    .option('--json', 'print the summary as JSON')
    .action(async (src: string, o: { hookpoint?: string; id?: string; out?: string; workspace?: string; force?: boolean; json?: boolean }) => {
      const { importSaeFolder } = await import('../../../workers/sae/io/store');
      const from = resolveUserPath(src);
      const id = o.id ?? `${path.basename(from)}${o.hookpoint ? `-${o.hookpoint}` : ''}`.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '');
      const dest = o.out ? resolveUserPath(o.out) : path.join(resolveUserPath(o.workspace ?? defaultWorkspaceDir()), 'saes', id);
      if (existsSync(path.join(dest, 'cfg.json')) && !o.force) throw new Error(`${dest} holds an SAE already (--force replaces it, --id chooses another id)`);
      const r = await importSaeFolder(from, dest, o.hookpoint);
      for (const n of r.notes) process.stderr.write(`resect: ${n}\n`);
      const summary = { id: path.basename(dest), dir: dest, origin: r.origin, method: r.sae.config.method, architecture: r.sae.config.activation.kind, latents: r.sae.config.dSae, dIn: r.sae.config.dIn, hook: r.sae.config.hook.name };
      if (o.json) printJson(summary);
      else process.stdout.write(`imported ${summary.origin} ${summary.architecture} SAE (${summary.latents} latents, d_in ${summary.dIn}, ${summary.hook}) → ${dest}\n`);
    });
}

import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { bakeable, exportBaked, exportMasked, withFolderEdit } from '../../../workers/analysis/resection/export';
import { writeOnnxExport } from '../../../workers/analysis/resection/export-onnx';
import { loadMonetConfig } from '../../../workers/models/monet/config';
import type { MaskJson } from '../../../workers/analysis/resection/select';

interface Opts { model: string; mask: string; out: string; baked?: boolean; copy?: boolean; recipe?: string; onnx?: boolean; inherit: boolean }

/** `resect export`: an edited model as a Hugging Face folder (original files + resect_masks.safetensors + recipe), or baked. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('export a masked model: the original files (hard-linked or copied, never modified) + resect_masks.safetensors + resect_recipe.json; --baked writes zeroed weights where that is exact (HD column masks only); --onnx adds model.onnx with the masks built in')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .requiredOption('--mask <file>', 'mask JSON ({"layers": {"<l>": [ids]}}, optional "groups", "rows", "columns")')
    .requiredOption('--out <dir>', 'new, empty output folder')
    .option('--baked', 'write a checkpoint with the removal baked into the weights (refused, with the reason, unless exact)')
    .option('--copy', 'copy the original files instead of hard-linking them')
    .option('--recipe <file>', 'JSON merged into resect_recipe.json (what was removed and why, figures)')
    .option('--onnx', 'also write model.onnx: the edited model as one self-contained ONNX graph (input_ids → logits, masks built in; weights over 1.5 GiB in model.onnx.data) — the form to use outside Resect')
    .option('--no-inherit', 'when --model is itself an exported folder, leave out the edit it carries (by default it is kept in the new mask)')
    .addHelpText('after', '\nResect applies an exported folder\'s masks whenever it opens it (Models, perplexity, generate, atlas, forward;\n--no-recipe opens it unedited). Other tools read only the original weights: use --onnx for the edit outside Resect.')
    .action(async (o: Opts) => {
      const given = JSON.parse(await readFile(o.mask, 'utf8')) as MaskJson;
      const { mask, basedOn } = await withFolderEdit(o.model, given, { inherit: o.inherit });
      const recipe = {
        ...(o.recipe ? JSON.parse(await readFile(o.recipe, 'utf8')) as Record<string, unknown> : {}),
        maskFile: path.resolve(o.mask), model: path.resolve(o.model), ...(basedOn ? { basedOn } : {}),
      };
      if (basedOn) process.stderr.write(`resect: ${o.model} carries an edit; the export keeps it (--no-inherit leaves it out)\n`);
      if (o.baked) {
        const { config } = await loadMonetConfig(path.join(o.model, 'config.json'));
        const ok = bakeable(config, mask);
        if (!ok.ok) {
          process.stderr.write(`resect export: cannot bake this mask: ${ok.reason}\n`);
          process.exitCode = 1;
          return;
        }
        const r = await exportBaked(o.model, mask, o.out, { recipe });
        process.stdout.write(`resect: wrote a baked checkpoint to ${o.out} (${r.zeroedBlocks} column blocks zeroed): ${r.files.join(', ')}\n`);
        if (o.onnx) await onnx(o.model, mask, o.out);
        return;
      }
      const r = await exportMasked(o.model, mask, o.out, { recipe, copy: !!o.copy });
      process.stdout.write(`resect: exported to ${o.out} (${r.linked} linked, ${r.copied} copied): ${r.files.join(', ')}\n`);
      if (o.onnx) await onnx(o.model, mask, o.out);
      else process.stdout.write('resect: Resect opens this folder with the edit applied; other tools see the original weights — add --onnx for a model.onnx that carries the edit\n');
    });
}

async function onnx(model: string, mask: MaskJson, out: string): Promise<void> {
  const r = await writeOnnxExport(model, mask, out);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  process.stdout.write(`resect: wrote ${r.files.join(' + ')} (${mib(r.modelBytes + r.externalBytes)}, ${r.removed} composite experts removed; input_ids → logits)\n`);
}

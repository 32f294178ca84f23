import type { Command } from 'commander';
import path from 'node:path';
import { formatBytes } from '../../../common/format';
import { inspectMonet } from '../../../workers/models/monet/inspect';
import { availableMemory, estimateOpenMemory, tooLargeMessage } from '../../../workers/models/monet/memory';
import { loadTokenizer, TOKENIZER_FILES } from '../../../workers/tokenizer';
import { existsSync } from 'node:fs';

interface Opts { model: string; json?: boolean }

/**
 * `resect inspect --model DIR`: what a checkpoint is and what opening it will take, from config.json and the
 * safetensors headers alone (no weight is read): parameters, stored dtypes, file size, the memory it needs once opened
 * against what this machine has, and its tokenizer. Exit status 0 even when the model will not fit (it says so).
 */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('report a checkpoint\'s parameters, stored dtypes, size on disk and the memory opening it will take, without loading it')
    .requiredOption('--model <dir>', 'checkpoint folder (config.json, safetensors or shards + index)')
    .option('--json', 'print one JSON object instead of text')
    .action(async (o: Opts) => {
      const dir = path.resolve(o.model);
      const s = await inspectMonet(dir);
      const memory = estimateOpenMemory(s.parameters, availableMemory());
      const tokenizerFile = TOKENIZER_FILES.find((f) => existsSync(path.join(dir, f))) ?? null;
      let tokenizer: { file: string | null; vocabSize: number | null; bos: boolean | null; chatTemplate: boolean | null; error: string | null } = { file: tokenizerFile, vocabSize: null, bos: null, chatTemplate: null, error: null };
      if (tokenizerFile) {
        try {
          const tok = await loadTokenizer(dir);
          tokenizer = { ...tokenizer, vocabSize: tok.vocabSize, bos: tok.addBos, chatTemplate: tok.chatTemplate !== null };
        } catch (e) {
          tokenizer.error = (e as Error).message;
        }
      }
      const message = memory.fits ? null : tooLargeMessage(s, memory);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...s, memory: { ...memory, message }, tokenizer }, null, 2)}\n`);
        return;
      }
      const dtypes = Object.entries(s.dtypes).map(([d, n]) => `${d} (${n} tensors)`).join(', ');
      const lines = [
        `model        ${dir}`,
        `parameters   ${s.parameters.toLocaleString('en-US')}`,
        `layers       ${s.layers}, d ${s.hiddenSize}, ${s.experts}×${s.experts} experts per layer (${s.decompose}), m ${s.expertDim}, H ${s.routingHeads}, top-${s.topk}`,
        `stored dtype ${dtypes}`,
        `on disk      ${formatBytes(s.bytesOnDisk)} in ${s.files.length} file${s.files.length === 1 ? '' : 's'}`,
        `opened as    ${memory.dtypeInUse}: weights ${formatBytes(memory.weightBytes)}, peak about ${formatBytes(memory.peakBytes)}`,
        `available    ${formatBytes(memory.availableBytes)}: ${memory.fits ? 'fits' : 'WILL NOT FIT'}`,
        `tokenizer    ${tokenizer.file === null ? 'none (prompts cannot be tokenized)' : tokenizer.error ?? `${tokenizer.file}, ${tokenizer.vocabSize} tokens, BOS ${tokenizer.bos ? 'added' : 'not added'}${tokenizer.chatTemplate ? ', chat template' : ''}`}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      if (message) process.stdout.write(`\n${message}\n`);
    });
}

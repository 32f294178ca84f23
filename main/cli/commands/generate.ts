import type { Command } from 'commander';
import { generate } from '../../../workers/models/monet/generate';
import { maskForModel, tokenizerForModel } from '../../../workers/models/monet/session';
import { loadModelForCli, withDeviceOptions, type DeviceOpts } from '../shared';
import { encodePrompt } from '../../../workers/tokenizer';

interface Opts extends DeviceOpts { model: string; prompt: string; maxTokens: string; temperature: string; topP: string; seed: string; mask?: string; chat?: boolean }

const num = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name}: "${v}" is not a number`);
  return n;
};

export function registerGenerate(program: Command): void {
  withDeviceOptions(program
    .command('generate')
    .description('generate text from a prompt with a Monet model (KV cache), streaming tokens to stdout')
    .requiredOption('--model <dir>', 'checkpoint folder with tokenizer.json or tokenizer.model')
    .requiredOption('--prompt <text>', 'prompt text')
    .option('--max-tokens <n>', 'tokens to generate at most', '64')
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', '0')
    .option('--top-p <p>', 'nucleus mass in (0, 1]', '1')
    .option('--seed <s>', 'sampling seed', '0')
    .option('--mask <file>', 'expert mask JSON: {"layers": {"<layer>": [flat ids i*E+j]}}')
    .option('--chat', "prompt through the model's chat template (the default when its tokenizer_config.json has one)")
    .option('--no-chat', 'prompt with the plain text even when the model has a chat template'))
    .action(async (o: Opts) => {
      const masks = await maskForModel(o.model, o.mask);
      const maxTokens = num('max-tokens', o.maxTokens);
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`--max-tokens must be a positive integer, got ${o.maxTokens}`);
      const model = await loadModelForCli(o.model, o);
      try {
        const tokenizer = await tokenizerForModel(o.model, model.config);
        const prompt = encodePrompt(tokenizer, o.prompt, o.chat);
        // Decode incrementally: print the text that the new token adds (multi-byte characters appear when complete).
        const all: number[] = [];
        let shown = '';
        const res = await generate(model, prompt, {
          maxTokens, temperature: num('temperature', o.temperature), topP: num('top-p', o.topP), seed: num('seed', o.seed), masks,
          onToken: (id) => {
            all.push(id);
            const text = tokenizer.decode(all, { skipSpecialTokens: true });
            if (text.startsWith(shown) && !text.endsWith('\uFFFD')) {
              process.stdout.write(text.slice(shown.length));
              shown = text;
            }
          },
        });
        const text = tokenizer.decode(all, { skipSpecialTokens: true });
        if (text.startsWith(shown)) process.stdout.write(text.slice(shown.length));
        process.stdout.write('\n');
        process.stderr.write(`resect: ${res.tokens.length} tokens (${res.stop}) on ${model.provider}\n`);
      } finally {
        await model.dispose();
      }
    });
}

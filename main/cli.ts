/**
 * `resect <command>`: the command-line interface (bundled to dist/cli.mjs, run by bin/resect.mjs).
 * Each command is one module in main/cli/commands/, listed in main/cli/commands/index.ts.
 */
import { Command } from 'commander';
import { VERSION } from './backend';
import { commands } from './cli/commands';

const program = new Command('resect')
  .description('Resect: surgery on monosemantic language models')
  .version(VERSION, '-v, --version', 'print the version')
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`resect: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

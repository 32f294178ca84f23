/**
 * `resect <command>`: the command-line interface (bundled to dist/cli.mjs, run by bin/resect.mjs).
 * Each command is one module in main/cli/commands/, listed in main/cli/commands/index.ts.
 */
import { Command } from 'commander';
import { VERSION } from './backend';
import { commands } from './cli/commands';

// `resect jobs | head`: the reader may close the pipe before we are done. That ends the output, not in an error:
// exit quietly instead of printing an EPIPE stack (any other stdout error still throws).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command('resect')
  .description('Resect: surgery on monosemantic language models')
  .version(VERSION, '-v, --version', 'print the version')
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`resect: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

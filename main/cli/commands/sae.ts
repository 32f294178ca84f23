/**
 * `resect sae …`: sparse autoencoders (docs/sae.md). One module per subcommand, `main/cli/commands/sae-<name>.ts`,
 * exporting a function that adds it to the `sae` command; list it in SAE_SUBCOMMANDS below.
 */
import type { Command } from 'commander';
import { registerSaeAtlas } from './sae-atlas';
import { registerSaeCapture } from './sae-capture';
import { registerSaeEncode } from './sae-encode';
import { registerSaeEval } from './sae-eval';
import { registerSaeImport } from './sae-import';
import { registerSaeTrain } from './sae-train';

/** Adds one subcommand to `resect sae`. */
export type RegisterSaeSubcommand = (sae: Command) => void;

/** Every `resect sae` subcommand, in the order `resect sae --help` lists them. */
const SAE_SUBCOMMANDS: RegisterSaeSubcommand[] = [registerSaeCapture, registerSaeImport, registerSaeTrain, registerSaeEval, registerSaeEncode, registerSaeAtlas];

export function registerSae(program: Command): void {
  const sae = program
    .command('sae')
    .description('sparse autoencoders: capture activations, train (GBA, BA, TopK, ReLU+L1), evaluate, encode, import and export');
  for (const register of SAE_SUBCOMMANDS) register(sae);
}

import type { Command } from 'commander';
import { VERSION } from '../../backend';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });
}

import type { Command } from 'commander';
import { listDevices } from '../../devices';
import { printJson } from '../shared';

export function registerDevices(program: Command): void {
  program
    .command('devices')
    .description('list the compute devices (ONNX Runtime execution providers) on this machine')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const devices = await listDevices();
      if (opts.json) return printJson(devices);
      for (const d of devices) {
        process.stdout.write(`${d.id.padEnd(9)} ${d.available ? 'available  ' : 'unavailable'}  ${d.label}${d.note ? ` — ${d.note}` : ''}\n`);
      }
    });
}

import type { Command } from 'commander';
import { Workspace } from '../../workspace/workspace';
import { defaultWorkspaceDir } from '../../workspace/paths';
import { printJson } from '../shared';

function ago(ms: number | null): string {
  if (ms === null) return '-';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function registerJobs(program: Command): void {
  program
    .command('jobs')
    .description('list the jobs of a workspace')
    .option('--workspace <dir>', 'workspace folder (default: $RESECT_WORKSPACE, else the app-data folder)')
    .option('--json', 'print JSON')
    .action((opts: { workspace?: string; json?: boolean }) => {
      const ws = Workspace.open(opts.workspace ?? defaultWorkspaceDir(), { create: false });
      try {
        const jobs = ws.jobs.list();
        if (opts.json) return printJson(jobs);
        if (jobs.length === 0) return void process.stdout.write(`No jobs in ${ws.dir}\n`);
        for (const j of jobs) {
          const p = j.progress ? ` ${j.progress.done}/${j.progress.total ?? '?'} ${j.progress.unit}` : '';
          process.stdout.write(`${j.id}  ${j.state.padEnd(9)}  ${ago(j.createdAt)}  ${j.kind}: ${j.title}${p}${j.error ? `  (${j.error})` : ''}\n`);
        }
      } finally {
        ws.close();
      }
    });
}

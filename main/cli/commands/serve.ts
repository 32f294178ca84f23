import type { Command } from 'commander';
import { Backend } from '../../backend';
import { ForkLauncher } from '../../jobs/launcher';
import { rendererDir, workerScript } from '../../runtime-paths';
import { startServer } from '../../server/server';
import { keepServingOnErrors } from '../../server/guards';
import { defaultWorkspaceDir } from '../../workspace/paths';
import { bundleDir, isLoopback, parsePort } from '../shared';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the backend under Node and serve the Resect UI to a browser (token-protected)')
    .option('--host <host>', 'address to bind; anything but loopback exposes Resect to the network', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, 0)
    .option('--workspace <dir>', 'workspace folder (default: $RESECT_WORKSPACE, else the app-data folder)')
    .action(async (opts: { host: string; port: number; workspace?: string }) => {
      if (!isLoopback(opts.host)) {
        process.stderr.write(
          `Warning: binding ${opts.host} makes Resect reachable from the network. Anyone with the printed token can run jobs and read the workspace.\n`,
        );
      }
      keepServingOnErrors(); // a bug reached by one request must not end every job and session
      const dir = bundleDir();
      const graceEnv = Number(process.env.RESECT_CANCEL_GRACE_MS);
      const grace = Number.isFinite(graceEnv) && graceEnv > 0 ? graceEnv : undefined;
      const backend = new Backend({
        mode: 'serve',
        workspaceDir: opts.workspace ?? defaultWorkspaceDir(),
        launcher: new ForkLauncher(workerScript(dir)),
        ...(grace !== undefined ? { cancelGraceMs: grace } : {}),
      });
      const ws = backend.workspaceInfo();
      if (!ws.ok) process.stderr.write(`Warning: ${ws.error} Choose another workspace in the UI.\n`);
      const server = await startServer({ backend, host: opts.host, port: opts.port, rendererDir: rendererDir(dir) });
      process.stdout.write(`Resect is serving at ${server.url}\n`);

      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await server.close();
        await backend.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}

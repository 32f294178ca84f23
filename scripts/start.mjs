// `npm start`: the desktop app when Electron's binary is installed, else the served UI (resect serve).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function electronBinary() {
  try {
    const p = require('electron'); // the binary's path, or throws when it was never downloaded
    return typeof p === 'string' && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

const args = process.argv.slice(2);
const electron = electronBinary();
let child;
if (electron) {
  child = spawn(electron, [path.join(root, 'dist/electron/main.cjs'), ...args], { stdio: 'inherit' });
} else {
  console.log('The Electron binary is absent (node_modules/electron was installed without it); starting the served UI instead.');
  // resect serve prints its own one line: `Resect is serving at http://HOST:PORT/?token=TOKEN`.
  child = spawn(process.execPath, [path.join(root, 'bin/resect.mjs'), 'serve', ...args], { stdio: 'inherit' });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

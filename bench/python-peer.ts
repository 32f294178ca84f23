// A PyTorch peer for a benchmark: a Python script started once, speaking JSON lines. It prints one `{"ready": true,
// "torch": VERSION, ...}` line when set up (or `{"error": ...}`), then answers each command line written to its stdin
// (e.g. `step`) with one JSON line. Keeping the peer alive between steps lets the benches alternate blocks of Resect
// and PyTorch steps under the same background load.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Debian's python3 with python3-torch: the peer for every benchmark. Never a runtime dependency. */
export const PYTHON = '/usr/bin/python3';
export const TORCH_INSTALL = 'sudo apt-get install python3-torch libopenblas0-pthread';

export type PeerRecord = Record<string, unknown>;

export interface PythonPeer {
  /** The ready line (holds `torch`, the version, and whatever else the script reports at start). */
  hello: PeerRecord;
  /** Writes one command line and reads the answer; throws with the script's last stderr line when it fails. */
  request(command: string): Promise<PeerRecord>;
  close(): void;
}

export async function startPythonPeer(script: string, args: string[]): Promise<PythonPeer | { error: string }> {
  if (!existsSync(PYTHON)) return { error: `${PYTHON} not found` };
  const p = spawn(PYTHON, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lastError = (): string => stderr.trim().split('\n').pop() || 'python exited';
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<PeerRecord | null> => {
    const r = await lines.next();
    if (r.done) return null;
    try { return JSON.parse(r.value) as PeerRecord; } catch { return { error: r.value }; }
  };
  const hello = await next();
  if (!hello || hello.error || !hello.ready) {
    p.kill();
    return { error: String(hello?.error ?? lastError()) };
  }
  return {
    hello,
    request: async (command) => {
      p.stdin.write(`${command}\n`);
      const r = await next();
      if (!r || r.error) throw new Error(`torch peer failed: ${String(r?.error ?? lastError())}`);
      return r;
    },
    close: () => { p.stdin.end(); },
  };
}

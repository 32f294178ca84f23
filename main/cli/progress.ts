/**
 * Progress of a long CLI command on stderr: share done, counts, rate and time left, from the work actually known
 * (samples of the file, tokens), with the same smoothing as the jobs (main/jobs/progress.ts).
 *
 *   resect: perplexity 46% · 2,245 / 4,990 samples · 4,812 tokens/s · 1 min 10 s left
 *
 * On a terminal the line is rewritten in place; otherwise (a log file, a pipe) one line every few seconds. Nothing
 * is printed when `quiet` is set.
 */
import { ProgressTracker } from '../jobs/progress';

export interface CliProgress {
  /** `done` of `total` units (total null: not known); `extra` is appended (e.g. a rate in another unit). */
  update(done: number, total: number | null, extra?: string): void;
  /** Ends the line (on a terminal) so later output starts on a fresh one. */
  end(): void;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatSeconds(s: number): string {
  if (s < 1) return 'under 1 s';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function cliProgress(label: string, unit: string, o: { quiet?: boolean; stream?: NodeJS.WriteStream; everyMs?: number } = {}): CliProgress {
  const stream = o.stream ?? process.stderr;
  const tty = !!stream.isTTY;
  const every = o.everyMs ?? (tty ? 250 : 3000);
  const tracker = new ProgressTracker();
  let last = 0;
  let open = false;
  return {
    update(done, total, extra) {
      const p = tracker.update(done, total, unit, undefined);
      const now = Date.now();
      if (o.quiet || (now - last < every && !(total !== null && done >= total))) return;
      last = now;
      const parts = [
        total ? `${label} ${Math.floor((100 * done) / total)}%` : label,
        total !== null ? `${int(done)} / ${int(total)} ${unit}` : `${int(done)} ${unit}`,
        ...(extra ? [extra] : []),
        // Time left only from a measured rate and a known total, and never "0 s" for work that is not done.
        ...(p.etaSeconds !== null && total !== null && done < total ? [`${formatSeconds(Math.max(1, p.etaSeconds))} left`] : []),
      ];
      const line = `resect: ${parts.join(' · ')}`;
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        open = true;
      } else stream.write(`${line}\n`);
    },
    end() {
      if (open) stream.write('\n');
      open = false;
    },
  };
}

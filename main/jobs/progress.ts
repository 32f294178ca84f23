/** Turns raw (done, total) reports into a smoothed rate and ETA. */
import type { JobProgress } from '../../common/api';

/** Time constant of the rate's exponential smoothing, in seconds. */
const TAU_S = 3;

export class ProgressTracker {
  private last: { t: number; done: number; unit: string } | null = null;
  private rate: number | null = null;

  update(done: number, total: number | null, unit: string, message: string | undefined, now: number = Date.now()): JobProgress {
    const prev = this.last;
    if (!prev || unit !== prev.unit || done < prev.done) {
      // A new phase (other unit, or counting restarted): the old rate says nothing about it.
      this.rate = null;
      this.last = { t: now, done, unit };
    } else {
      const dt = (now - prev.t) / 1000;
      if (dt >= 0.05) {
        const inst = (done - prev.done) / dt;
        const alpha = 1 - Math.exp(-dt / TAU_S);
        this.rate = this.rate === null ? inst : this.rate + alpha * (inst - this.rate);
        this.last = { t: now, done, unit };
      }
    }
    const rate = this.rate;
    const etaSeconds = rate && rate > 0 && total !== null ? Math.max(0, (total - done) / rate) : null;
    const p: JobProgress = { done, total, unit, rate, etaSeconds };
    if (message !== undefined) p.message = message;
    return p;
  }
}

import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { JobInfo } from '../../../common/api';
import { api } from '../api/client';

const LOG_LINES_KEPT = 500;

/** Words for job states, the same everywhere. */
export const stateLabel: Record<JobInfo['state'], string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const isActive = (j: JobInfo) => j.state === 'queued' || j.state === 'running';

/**
 * Every job the backend knows, kept live by `job.update` / `job.log` events. Filled from `jobs.list` at start and
 * after every reconnect, so a reload or a dropped connection re-attaches to running jobs.
 */
export const useJobs = defineStore('jobs', () => {
  const byId = ref<Record<string, JobInfo>>({});
  const logs = ref<Record<string, string[]>>({});
  const loaded = ref(false);

  /** Newest first; running and queued jobs before finished ones. */
  const list = computed(() =>
    Object.values(byId.value).sort((a, b) => Number(isActive(b)) - Number(isActive(a)) || b.createdAt - a.createdAt),
  );
  const running = computed(() => list.value.filter((j) => j.state === 'running'));
  const active = computed(() => list.value.filter(isActive));

  function upsert(job: JobInfo) {
    byId.value[job.id] = job;
  }

  async function refresh() {
    const jobs = await api.request('jobs.list', {});
    const next: Record<string, JobInfo> = {};
    for (const j of jobs) next[j.id] = j;
    byId.value = next;
    loaded.value = true;
  }

  async function start(kind: string, params: Record<string, unknown>): Promise<JobInfo> {
    const job = await api.request('jobs.start', { kind, params });
    upsert(job);
    return job;
  }

  async function cancel(id: string): Promise<JobInfo> {
    const job = await api.request('jobs.cancel', { id });
    upsert(job);
    return job;
  }

  async function clearFinished(): Promise<number> {
    const { removed } = await api.request('jobs.clear', {});
    await refresh();
    return removed;
  }

  /** Loads the tail of a job's log (events append to it afterwards). */
  async function loadLog(id: string, tail = 200) {
    const { lines } = await api.request('jobs.log', { id, tail });
    logs.value[id] = lines.slice(-LOG_LINES_KEPT);
  }

  api.on('job.update', upsert);
  api.on('job.log', ({ id, line }) => {
    const lines = logs.value[id];
    if (!lines) return; // not being watched; loadLog fetches the tail when it is
    lines.push(line);
    if (lines.length > LOG_LINES_KEPT) lines.splice(0, lines.length - LOG_LINES_KEPT);
  });

  return { byId, logs, loaded, list, running, active, refresh, start, cancel, clearFinished, loadLog };
});

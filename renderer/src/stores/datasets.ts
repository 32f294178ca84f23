import { defineStore } from 'pinia';
import { computed, ref, watch } from 'vue';
import type { DatasetInfo, DatasetMapping, JobInfo, Params, PreviewResult } from '../../../common/api';
import { api } from '../api/client';
import { describeError } from '../api/errors';
import { useJobs } from './jobs';
import { useNotifications } from './notifications';
import { useWorkspace } from './workspace';

/** A file picked or dropped in the window, with its path inside a dropped folder ('' for a file on its own). */
export interface PickedFile {
  file: File;
  /** Path inside the dropped or picked folder, including the folder's own name (`corpus/a/b.jsonl`); '' for loose files. */
  relative: string;
}

/** What will be imported: paths on the backend's machine, and the upload batches they came from (browser). */
export interface Staged {
  paths: string[];
  /** Names shown to the user. */
  labels: string[];
  uploadIds: string[];
}

export interface ImportOptions {
  name: string;
  onError: 'skip' | 'stop';
  duplicates: 'skip' | 'keep';
  /** Plain text files: a record per line, per blank-line paragraph, or the whole file (auto: whole files of a folder, else lines). */
  textUnit: 'auto' | 'line' | 'paragraph' | 'file';
}

/** The Electron preload's path of a File, or null in a browser. */
export function pathOfFile(file: File): string | null {
  if (!window.resect) return null;
  try {
    return window.resect.pathForFile(file) || null;
  } catch {
    return null;
  }
}

/** Files of a drop, folders walked (browser: the entries API; Electron only needs the top-level items). */
export async function filesOfDrop(dt: DataTransfer): Promise<PickedFile[]> {
  const items = Array.from(dt.items ?? []).filter((i) => i.kind === 'file');
  const entries = items.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
  const out: PickedFile[] = [];
  if (entries.length && entries.every((e) => e !== null) && !window.resect) {
    for (const e of entries) await walkEntry(e!, '', out);
    return out;
  }
  for (const f of Array.from(dt.files)) out.push({ file: f, relative: '' });
  return out;
}

async function walkEntry(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, relative: prefix ? `${prefix}/${entry.name}` : '' });
    return;
  }
  if (!entry.isDirectory || entry.name.startsWith('.')) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const dir = prefix ? `${prefix}/${entry.name}` : entry.name;
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await walkEntry(child, dir, out);
  }
}

interface UploadAnswer {
  id: string;
  path: string;
  root: string;
  bytes: number;
}

/** PUT /api/upload with the session token; reports bytes sent. */
function uploadOne(file: File, name: string, batch: string | null, onProgress: (sent: number) => void): Promise<UploadAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const q = new URLSearchParams({ name });
    if (batch) q.set('batch', batch);
    xhr.open('PUT', `/api/upload?${q}`);
    if (api.token) xhr.setRequestHeader('Authorization', `Bearer ${api.token}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let body: { error?: string } & Partial<UploadAnswer> = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        /* not JSON */
      }
      if (xhr.status === 200 && body.path) resolve(body as UploadAnswer);
      else reject(new Error(body.error ?? `Uploading ${name} failed (HTTP ${xhr.status}).`));
    };
    xhr.onerror = () => reject(new Error(`Uploading ${name} failed: the connection was lost.`));
    xhr.send(file);
  });
}

/**
 * Datasets of the workspace, the import in preparation (sources, preview, mapping, options) and the jobs that
 * import and export. Refreshed on `datasets.changed`, when an import job succeeds, and after every reconnect.
 */
export const useDatasets = defineStore('datasets', () => {
  const list = ref<DatasetInfo[]>([]);
  const loaded = ref(false);
  /** Bumped whenever datasets change: open pages reload their samples. */
  const version = ref(0);

  // The import being prepared.
  const staged = ref<Staged | null>(null);
  const staging = ref<{ sent: number; total: number; label: string } | null>(null);
  const preview = ref<PreviewResult | null>(null);
  const previewing = ref(false);
  const previewError = ref<string | null>(null);
  const mapping = ref<DatasetMapping | null>(null);
  const options = ref<ImportOptions>({ name: '', onError: 'skip', duplicates: 'skip', textUnit: 'auto' });
  /** The import job started from this window (its progress, then its report). */
  const importJobId = ref<string | null>(null);
  /** Browser exports: job id → download id. */
  const downloads = ref<Record<string, string>>({});

  const byId = computed(() => Object.fromEntries(list.value.map((d) => [d.id, d])) as Record<number, DatasetInfo>);

  async function refresh() {
    list.value = await api.request('datasets.list', {});
    loaded.value = true;
    version.value++;
  }

  /** Stages files picked or dropped: their paths (desktop) or uploads (browser). */
  async function stageFiles(files: PickedFile[]) {
    if (files.length === 0) return;
    const desktopPaths = files.map((f) => pathOfFile(f.file));
    if (desktopPaths.every((p) => p)) {
      await stagePaths(desktopPaths as string[]);
      return;
    }
    await discardStaged();
    const total = files.reduce((a, f) => a + f.file.size, 0);
    staging.value = { sent: 0, total, label: files.length === 1 ? files[0]!.file.name : `${files.length} files` };
    const paths = new Set<string>();
    const labels = new Set<string>();
    let batch: string | null = null;
    let done = 0;
    try {
      for (const f of files) {
        const name = f.relative || f.file.name;
        const answer = await uploadOne(f.file, name, batch, (sent) => {
          if (staging.value) staging.value.sent = done + sent;
        });
        done += f.file.size;
        batch = answer.id;
        // A file of a dropped folder is imported through its top folder (so folder names can be domains).
        const top = f.relative ? f.relative.split('/')[0]! : null;
        paths.add(top ? `${answer.root}/${top}` : answer.path);
        labels.add(top ?? f.file.name);
      }
    } catch (e) {
      staging.value = null;
      if (batch) void api.request('datasets.discardUploads', { ids: [batch] }).catch(() => undefined);
      throw e;
    }
    staging.value = null;
    await stage({ paths: [...paths], labels: [...labels], uploadIds: batch ? [batch] : [] });
  }

  /** Stages paths on the backend's machine (the desktop app, or typed by the user). */
  async function stagePaths(paths: string[]) {
    await discardStaged();
    await stage({ paths, labels: paths.map((p) => p.split(/[\\/]/).filter(Boolean).pop() ?? p), uploadIds: [] });
  }

  async function stage(s: Staged) {
    staged.value = s;
    importJobId.value = null;
    mapping.value = null;
    preview.value = null;
    const first = s.labels[0] ?? 'dataset';
    options.value = { name: first.replace(/(\.gz)?$/i, '').replace(/\.[^.]+$/, '') || first, onError: 'skip', duplicates: 'skip', textUnit: 'auto' };
    await runPreview();
  }

  /** Previews the staged sources with the current mapping (the detected one the first time). */
  async function runPreview() {
    if (!staged.value) return;
    previewing.value = true;
    previewError.value = null;
    try {
      const params: Params<'datasets.preview'> = { paths: staged.value.paths, limit: 20, textUnit: options.value.textUnit };
      if (mapping.value) params.mapping = mapping.value;
      const r = await api.request('datasets.preview', params, { timeoutMs: 120_000 });
      preview.value = r;
      if (!mapping.value) mapping.value = structuredClone(r.mapping);
    } catch (e) {
      previewError.value = describeError(e);
    } finally {
      previewing.value = false;
    }
  }

  async function startImport(): Promise<JobInfo | null> {
    if (!staged.value) return null;
    const params: Params<'datasets.import'> = {
      paths: staged.value.paths,
      onError: options.value.onError,
      duplicates: options.value.duplicates,
      textUnit: options.value.textUnit,
    };
    if (options.value.name.trim()) params.name = options.value.name.trim();
    if (mapping.value) params.mapping = mapping.value;
    const job = await api.request('datasets.import', params);
    useJobs().byId[job.id] = job;
    importJobId.value = job.id;
    return job;
  }

  /** Forgets the staged sources (and removes their uploads once no import needs them). */
  async function discardStaged(opts: { keepReport?: boolean } = {}) {
    const s = staged.value;
    staged.value = null;
    preview.value = null;
    mapping.value = null;
    previewError.value = null;
    if (!opts.keepReport) importJobId.value = null;
    if (s?.uploadIds.length) await api.request('datasets.discardUploads', { ids: s.uploadIds }).catch(() => undefined);
  }

  async function exportView(params: Params<'datasets.export'>): Promise<JobInfo> {
    const { job, downloadId } = await api.request('datasets.export', params);
    useJobs().byId[job.id] = job;
    if (downloadId) downloads.value[job.id] = downloadId;
    return job;
  }

  function download(downloadId: string) {
    const a = document.createElement('a');
    a.href = `/api/download/${encodeURIComponent(downloadId)}${api.token ? `?token=${encodeURIComponent(api.token)}` : ''}`;
    a.download = '';
    a.rel = 'noopener';
    document.body.append(a);
    a.click();
    a.remove();
  }

  // Reconnects and another workspace: the list is the backend's, fetch it again.
  api.onConnected(() => {
    if (loaded.value) refresh().catch(() => undefined);
  });
  watch(
    () => useWorkspace().info?.path,
    (now, before) => {
      if (before === undefined || now === before) return;
      staged.value = null;
      importJobId.value = null;
      list.value = [];
      loaded.value = false;
      refresh().catch(() => undefined);
    },
  );

  api.on('datasets.changed', () => {
    refresh().catch(() => undefined);
  });
  api.on('job.update', (job) => {
    if (job.kind === 'dataset.import' && job.state === 'succeeded') refresh().catch(() => undefined);
    if (job.kind === 'dataset.import' && job.id === importJobId.value && job.state !== 'queued' && job.state !== 'running') {
      // The staged uploads are no longer needed once the import ended (its report stays shown).
      if (staged.value?.uploadIds.length) void discardStaged({ keepReport: true });
      else if (job.state === 'succeeded') staged.value = null;
    }
    if (job.kind === 'dataset.export' && downloads.value[job.id]) {
      const id = downloads.value[job.id]!;
      if (job.state === 'succeeded') {
        delete downloads.value[job.id];
        download(id);
        useNotifications().success('Export ready', `${job.title}: the download has started.`);
      } else if (job.state === 'failed' || job.state === 'cancelled') delete downloads.value[job.id];
    }
  });

  return {
    list,
    loaded,
    version,
    byId,
    staged,
    staging,
    preview,
    previewing,
    previewError,
    mapping,
    options,
    importJobId,
    downloads,
    refresh,
    stageFiles,
    stagePaths,
    runPreview,
    startImport,
    discardStaged,
    exportView,
    download,
  };
});

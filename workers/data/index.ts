/**
 * The dataset data layer: import (preview, detection, streaming import), the SQLite store (queries, edits,
 * streaming), export. Called by the backend (store queries in its process, imports/exports as jobs) and by other
 * workers (iterateSamples). See docs/datasets.md.
 */
export { previewImport, importDataset, ImportFailedError, charCount, tokenEstimate } from './importer';
export { detectShape, applyMapping, getPath, fillTemplate, renderChat } from './mapping';
export { exportSamples } from './export';
export { openDatasetStore, DATASET_DB_FILE } from './open';
export type { ExportOptions, ExportResult } from './export';
export {
  SCHEMA_VERSION,
  migrate,
  recoverStore,
  listDatasets,
  getDataset,
  renameDataset,
  deleteDataset,
  domainCounts,
  querySamples,
  countSamples,
  getSample,
  lengthHistogram,
  setSampleDomain,
  renameDomain,
  deleteSamples,
  deleteMatching,
  iterateSamples,
  ftsQuery,
  indexInserted,
  DatasetNotFoundError,
} from './store';
export type { IterateOptions } from './store';
export * from './types';
export * from './schema';

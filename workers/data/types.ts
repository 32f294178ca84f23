/**
 * Types of the dataset data layer: import sources, field mappings, detection, import reports, stored samples.
 * Everything here is plain JSON-serialisable data (except the stream sources and callbacks), so the backend can
 * hand it across the API unchanged. Zod schemas for the API-facing shapes are in `schema.ts`.
 */

/** File formats the importer reads. `json` is a JSON array of records; `txt` is plain text. */
export type DataFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'txt';

/** What a source is: a file or folder path, or a named byte stream (a browser upload). */
export type ImportSource =
  | { path: string }
  | {
      /** File name, used for the format (by extension) and for a per-file domain. */
      name: string;
      stream: AsyncIterable<Uint8Array>;
      /** Size in bytes when known (for progress). */
      size?: number;
    };

/** How a sample's text is built from a record. Paths are dotted (`prompt.text`, `messages`). */
export type TextMapping =
  | { kind: 'field'; field: string }
  /** `{path}` placeholders; a blank-line-separated block whose placeholders are all empty is dropped. */
  | { kind: 'template'; template: string }
  /** An array of `{role, content}` (or ShareGPT `{from, value}`) messages, rendered `role: content` per line. */
  | { kind: 'chat'; field: string };

export type DomainMapping =
  | { kind: 'none' }
  | { kind: 'field'; field: string }
  /** The name of the folder that holds the file (for a file given directly: its parent folder). */
  | { kind: 'folder' }
  /** The file name without its extension(s). */
  | { kind: 'file' }
  | { kind: 'value'; value: string };

export interface ScoreMapping {
  /** Score name as stored (`toxicity`). */
  name: string;
  /** Dotted path of a numeric field (`continuation.toxicity`). */
  field: string;
}

export interface Mapping {
  text: TextMapping;
  domain: DomainMapping;
  /** Domain for records whose domain field is missing or empty; null leaves them unlabeled. */
  defaultDomain?: string | null;
  scores: ScoreMapping[];
}

export type Shape = 'text' | 'instruction' | 'chat' | 'prompt-continuation' | 'unknown';

export interface Detection {
  shape: Shape;
  /** 0–1: the share of sampled records that fit the shape, lowered for guesses. */
  confidence: number;
  mapping: Mapping;
  /** Top-level (and nested, dotted) fields seen in the sampled records, for an override UI. */
  fields: string[];
  /** Records the detection looked at. */
  sampled: number;
  /** Why this shape was chosen, in words. */
  reason: string;
}

/** One sample as mapped from a record, before it is stored. */
export interface MappedSample {
  text: string;
  domain: string | null;
  scores: Record<string, number> | null;
}

export type IssueKind =
  | 'parse' // a malformed line, row or element
  | 'encoding' // invalid UTF-8
  | 'mapping' // the record parsed but gave no text (missing field, wrong type)
  | 'empty-file'
  | 'unsupported' // a file whose format is not known (skipped)
  | 'io' // a file that could not be read
  | 'binary'; // binary content (an executable, an image, an archive), refused whatever the file is named

export interface ImportIssue {
  kind: IssueKind;
  /** Path (or stream name) of the file, relative to the source it came from where possible. */
  file: string;
  /** 1-based line (text formats) or row (Parquet: row index + 1; JSON arrays: line where the element starts). */
  line?: number;
  /** 1-based byte column within the line, for encoding errors. */
  column?: number;
  /** Byte offset within the file, for encoding errors. */
  offset?: number;
  message: string;
}

export interface ImportProgress {
  bytesDone: number;
  bytesTotal: number;
  /** Records read (good and bad). */
  rowsDone: number;
  /** Samples written so far. */
  rowsImported: number;
  file: string;
}

export interface FileSummary {
  file: string;
  format: DataFormat;
  bytes: number;
  records: number;
  imported: number;
}

export interface ImportReport {
  datasetId: number | null;
  imported: number;
  /** Records read (good and bad). */
  records: number;
  skippedErrors: number;
  duplicates: number;
  /** Blank texts (empty lines in text files, empty text fields) silently passed over. */
  blank: number;
  /** The first issues (at most 1000), each with file and line. */
  issues: ImportIssue[];
  /** Total issues by kind (issues beyond the cap are counted here). */
  issueCounts: Partial<Record<IssueKind, number>>;
  /** First duplicate samples (at most 100): where the duplicate was found. */
  duplicateExamples: { file: string; line: number }[];
  files: FileSummary[];
  bytesTotal: number;
  durationMs: number;
  /** Why the import ended without a dataset: 'stopped' (first error with onError 'stop'), 'cancelled', 'empty'. */
  outcome: 'committed' | 'stopped' | 'cancelled' | 'empty' | 'failed';
}

export interface ImportOptions {
  /** Dataset name; default from the first source. */
  name?: string;
  /** Field mapping; detected when omitted. */
  mapping?: Mapping;
  /** A malformed record is skipped (and reported) or stops the import (nothing is kept). Default 'skip'. */
  onError?: 'skip' | 'stop';
  /** Exact duplicates (same text) are skipped or kept; both are reported. Default 'skip'. */
  duplicates?: 'skip' | 'keep';
  /** Plain text: a sample per line, per file, or auto (per file inside folders, per line for files). */
  textUnit?: 'line' | 'paragraph' | 'file' | 'auto';
  /** Progress callback, called at most every ~100 ms and at the end. */
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
  /** Where stream sources in Parquet format are spooled (random access is needed). Default os.tmpdir(). */
  tmpDir?: string;
  /** Largest line / record / text file accepted, in bytes. Default 64 MiB. */
  maxRecordBytes?: number;
}

export interface PreviewOptions {
  mapping?: Mapping;
  /** Mapped samples to return. Default 20. */
  limit?: number;
  textUnit?: 'line' | 'paragraph' | 'file' | 'auto';
  maxRecordBytes?: number;
}

export interface PreviewResult {
  detection: Detection;
  /** The mapping the samples were made with (the override, or the detected one). */
  mapping: Mapping;
  samples: (MappedSample & { file: string; line: number })[];
  files: { file: string; format: DataFormat; bytes: number }[];
  /** Files and bytes per format. */
  formats: Partial<Record<DataFormat, { files: number; bytes: number }>>;
  /** Files passed over (unknown extension). */
  skippedFiles: string[];
  /** Issues met while reading the previewed records. */
  issues: ImportIssue[];
  /**
   * Why nothing can be imported, when no record could be read: the first file's own problem ("bad.parquet: not a
   * readable Parquet file: … (footer != PAR1)", "empty.jsonl: the file holds no records"); null otherwise.
   */
  refused: string | null;
  totalBytes: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Store

export interface DomainCount {
  domain: string | null;
  samples: number;
  chars: number;
  tokens: number;
}

export interface DatasetInfo {
  id: number;
  name: string;
  createdAt: number;
  source: string;
  samples: number;
  chars: number;
  /** Token estimate: ceil(chars / 4) per sample, summed. */
  tokens: number;
  /** Bytes of the files it was imported from. */
  sourceBytes: number;
  domains: DomainCount[];
  /** Score names present in the dataset. */
  scoreNames: string[];
  mapping: Mapping | null;
}

export interface Sample {
  id: number;
  datasetId: number;
  text: string;
  domain: string | null;
  scores: Record<string, number> | null;
  chars: number;
  tokens: number;
  /** Where it came from: file (relative) and line/row. */
  origin: { file: string; line: number } | null;
}

/** A filtered view of one dataset. `domain: null` selects unlabeled samples; undefined selects all. */
export interface SampleFilter {
  datasetId: number;
  domain?: string | null;
  /** Full-text search: words (all must occur), or `"a phrase"`. */
  search?: string;
}

export type SampleSort =
  | { by: 'id'; dir?: 'asc' | 'desc' }
  | { by: 'chars'; dir?: 'asc' | 'desc' };

export interface SamplePageQuery extends SampleFilter {
  sort?: SampleSort;
  /** Default 50, at most 1000. */
  limit?: number;
  /** Opaque cursor from the previous page's `next`. */
  cursor?: string | null;
  /** Return only the first N characters of each text (the UI list); default whole text. */
  snippetChars?: number;
}

export interface SamplePage {
  samples: Sample[];
  /** Cursor of the next page, null at the end. */
  next: string | null;
}

export interface LengthHistogram {
  /** Bin edges in characters, bins + 1 of them. */
  edges: number[];
  counts: number[];
  scale: 'linear' | 'log';
}

export interface StreamedSample {
  id: number;
  text: string;
  domain: string | null;
  scores: Record<string, number> | null;
}

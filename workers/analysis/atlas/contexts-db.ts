/**
 * The SQLite layout of an atlas's top contexts (`contexts.sqlite`), shared by the build (build.ts) and the shipped
 * compact atlas's expansion (compact.ts), so both write exactly what the reader (reader.ts) queries.
 */

export const CONTEXTS_TABLES = `
  CREATE TABLE occ (id INTEGER PRIMARY KEY, sample INTEGER NOT NULL, ref INTEGER NOT NULL, pos INTEGER NOT NULL, domain TEXT NOT NULL,
                    left TEXT NOT NULL, token TEXT NOT NULL, right TEXT NOT NULL, token_id INTEGER NOT NULL);
  CREATE TABLE top (grp INTEGER NOT NULL, expert INTEGER NOT NULL, rank INTEGER NOT NULL, score REAL NOT NULL, occ INTEGER NOT NULL,
                    PRIMARY KEY (grp, expert, rank)) WITHOUT ROWID;
`;

/** Indexes and the full-text index, created once every row is in (much faster than indexing row by row). */
export const CONTEXTS_INDEXES = `
  CREATE INDEX occ_token ON occ (token);
  CREATE INDEX top_occ ON top (occ);
  CREATE VIRTUAL TABLE occ_fts USING fts5(left, token, right, content='occ', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
  INSERT INTO occ_fts(occ_fts) VALUES ('rebuild');
`;

export const INSERT_OCC = 'INSERT INTO occ (id, sample, ref, pos, domain, left, token, right, token_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
export const INSERT_TOP = 'INSERT INTO top (grp, expert, rank, score, occ) VALUES (?, ?, ?, ?, ?)';

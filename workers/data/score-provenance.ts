/**
 * Which text a score was computed from. `resect score` writes, beside each score field F, a field `F_of` holding
 * `"<text field>:<hash>"` (the first 16 hex digits of SHA-256 of the scored text). Whoever reads the score with a text
 * field (the atlas's --score-field) checks it, so a score of the `prompt` read against `text`, or a score left behind
 * after the text was edited, is refused instead of silently correlated with routing on other words.
 */
import { createHash } from 'node:crypto';

export const provenanceField = (scoreField: string): string => `${scoreField}_of`;

export function scoreProvenance(textField: string, text: string): string {
  return `${textField}:${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** Null when the score belongs to this text (or carries no provenance: scores from elsewhere are taken as they are);
 * otherwise why not. */
export function provenanceMismatch(recorded: unknown, scoreField: string, textField: string, text: string): string | null {
  if (recorded === undefined || recorded === null) return null;
  if (typeof recorded !== 'string' || !recorded.includes(':')) return `"${provenanceField(scoreField)}" is not "<text field>:<hash>"`;
  const at = recorded.lastIndexOf(':');
  const field = recorded.slice(0, at);
  if (field !== textField) return `the score "${scoreField}" was computed on the field "${field}", not on "${textField}"`;
  if (recorded !== scoreProvenance(textField, text)) return `the score "${scoreField}" was computed on other text than this record's "${textField}" (edited since it was scored?)`;
  return null;
}

/** Tokens that are partial UTF-8 show as byte tokens (<0xE2>), not "�" (promoted / suppressed lists, vocab.json). */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { bytesLabel, byteLevelBytes, tokenLabel } from '../../workers/tokenizer/display';
import { loadTokenizer } from '../../workers/tokenizer';

const ROOT = path.join(import.meta.dirname, '..', '..');

describe('bytesLabel', () => {
  it('keeps whole characters as text and names the other bytes', () => {
    expect(bytesLabel(new TextEncoder().encode('a—b'))).toBe('a—b');
    expect(bytesLabel(Uint8Array.of(0xe2, 0x80))).toBe('<0xE2><0x80>');
    expect(bytesLabel(Uint8Array.of(0x20, 0xe2))).toBe(' <0xE2>');
    expect(bytesLabel(Uint8Array.of(0x94, 0x41))).toBe('<0x94>A');
    expect(bytesLabel(Uint8Array.of(0xef, 0xbf, 0xbd))).toBe('\uFFFD'); // the replacement character itself is a character
    expect(bytesLabel(Uint8Array.of(0xed, 0xa0, 0x80))).toBe('<0xED><0xA0><0x80>'); // a surrogate is not
  });

  it('reads GPT-2 byte-level token strings back into bytes', () => {
    expect(byteLevelBytes('Ġthe')).toEqual(Uint8Array.of(0x20, 0x74, 0x68, 0x65));
    expect(byteLevelBytes('âĢ')).toEqual(Uint8Array.of(0xe2, 0x80));
    expect(byteLevelBytes('<0xE2>Ω')).toBeNull();
  });
});

describe('tokenLabel', () => {
  it('SentencePiece byte fallback: the byte token itself', () => {
    const tok = { decode: () => '\uFFFD', idToToken: () => '<0xe2>' };
    expect(tokenLabel(tok, 7)).toBe('<0xE2>');
    expect(tokenLabel({ decode: () => 'hello', idToToken: () => 'hello' }, 1)).toBe('hello');
  });

  it('on the default model\'s byte-level tokenizer, no token reads "�" unless it is that character', async () => {
    const tok = await loadTokenizer(path.join(ROOT, 'assets', 'model'), { addBos: false });
    let partial = 0;
    for (let id = 0; id < tok.vocabSize; id++) {
      const label = tokenLabel(tok, id);
      if (tok.decode([id]).includes('\uFFFD')) {
        partial++;
        expect(label, `token ${id}`).toMatch(/<0x[0-9A-F]{2}>/);
      }
      expect(label.includes('\uFFFD') && !byteLevelBytes(tok.idToToken(id) ?? '')?.includes(0xbd)).toBe(false);
    }
    expect(partial).toBeGreaterThan(0);
  });
});

/**
 * The built-in toxicity scorer: a **heuristic**, not a classifier. It scores a text in [0, 1] (≥ 0.5 reads "toxic")
 * from maintained lexicons plus a few patterns for who is addressed:
 *
 * - profanity, obfuscated too ("f*ck", "sh1t", "fuuuck", "b!tch"): the `obscenity` package's English dataset with its
 *   recommended transformers (MIT; it also keeps "Scunthorpe" and "cocktail" clean);
 * - profanity in German, French, Spanish, Italian, Dutch, Polish and Portuguese: the `naughty-words` lists (CC-BY-4.0, the List of Dirty, Naughty, Obscene and
 *   Otherwise Bad Words). A term counts only where the text looks like that language (one of its common function
 *   words, two of its terms, or a term of 7+ letters), because short terms are often words of another language
 *   ("bitte" is German for "please");
 * - insults and hostility: words of AFINN-165 (through the `sentiment` package, MIT) rated −2 or lower, plus a short
 *   list of insult nouns AFINN lacks ("clown", "vermin"), when they are said of the person addressed ("you are a …",
 *   "you pathetic …", "your work is …") or of someone ("he is a …"); hostile verbs at "you" ("I hate you");
 * - threats: a harm verb with "you" as its object ("I'll break your legs"), incitement to self-harm ("kill yourself",
 *   "kys", "go die"), and fixed phrases ("watch your back", "I know where you live").
 * A negation just before ("you are not an idiot", "I would never hurt you") cancels a hit; a speaker talking about
 * themselves ("I feel like an idiot") is not an insult. Measured on hand-labelled sentences in test/fixtures/toxicity
 * (docs/resection.md): it misses what needs understanding (sarcasm, hostility without a listed word) and flags
 * profanity in names ("Dick Van Dyke").
 */
import { words } from './scorers';
import type { TextScorer } from './scorers';

/** What fired, for tests and for people checking why a text scored as it did. */
export interface ToxicityHit {
  kind: 'profanity' | 'other-language' | 'insult' | 'hostility' | 'threat';
  /** The words that fired. */
  what: string;
  /** This hit's probability of "toxic"; a text's score combines its hits as 1 − ∏(1 − p). */
  weight: number;
}

const SECOND_PERSON = new Set(['you', "you're", 'youre', 'your', 'yours', 'yourself', 'yourselves', 'ur', 'u', 'ya', "y'all", 'yall', "you've", "you'll", "you'd", 'thou']);
const FIRST_PERSON = new Set(['i', "i'm", 'im', 'me', 'my', 'myself', "i've", "i'd"]);
const NEGATORS = new Set(['not', 'never', 'no', 'nobody', 'neither', 'nor', 'without', 'hardly', "ain't", 'cannot', 'dont', 'cant', 'wont', 'isnt', 'arent', 'wasnt']);
const negates = (w: string) => NEGATORS.has(w) || w.endsWith("n't");
/** Words that may stand between "you" and what is said of you ("you are such a total …"). */
const LINKING = new Set([
  'are', 're', 'r', 'were', 'is', 'was', 'be', 'being', 'been', 'am', 'look', 'looks', 'sound', 'sounds', 'seem', 'seems', 'must', 'really', 'just', 'so',
  'such', 'a', 'an', 'the', 'total', 'complete', 'absolute', 'utter', 'little', 'big', 'biggest', 'most', 'truly', 'like', 'one', 'fucking', 'damn', 'bloody', 'sad',
  'typical', 'this', 'stupid', 'dumb', 'lying', 'ignorant', 'pathetic', 'worthless', 'useless', 'ugly', 'disgusting', 'brainless', 'clueless', 'spineless', 'hateful',
  "you're", 'youre', 'such', 'nothing', 'but', 'of', 'and', 'too', 'full', 'waste', 'piece', 'excuse',
]);
/** Insult nouns AFINN does not rate (or rates mildly); AFINN covers idiot, moron, loser, scum, liar, coward, … */
const INSULT_NOUNS = new Set([
  'clown', 'creep', 'parasite', 'vermin', 'pig', 'trash', 'garbage', 'troll', 'hack', 'weasel', 'twerp', 'dumbass', 'bigot', 'fraud', 'disgrace', 'cretin',
  'dimwit', 'halfwit', 'nitwit', 'numbskull', 'dunce', 'degenerate', 'lowlife', 'scumbag', 'cancer', 'rat', 'snake', 'maggot', 'leech', 'dolt', 'oaf',
  'buffoon', 'simpleton', 'dullard', 'airhead', 'knucklehead', 'bonehead', 'dipshit', 'jackass', 'tosser', 'wanker', 'prat', 'git', 'muppet', 'idi0t', 'm0r0n',
  'retarded', 'dense', 'dum', 'oxygen', 'vandal',
]);
/**
 * Words that insult a person (from AFINN-165's −2 and below, and the nouns above): what "he is a …", a bare noun, or
 * "you …" without an article must be. Other strongly negative AFINN words ("tired", "denied", "anxious", "dead")
 * describe a state, not a person's worth: "he was tired" is no insult.
 */
const PERSON_INSULTS = new Set([
  'idiot', 'idiots', 'moron', 'morons', 'loser', 'losers', 'liar', 'liars', 'coward', 'cowards', 'fool', 'fools', 'imbecile', 'jerk', 'bastard', 'scum',
  'stupid', 'dumb', 'pathetic', 'worthless', 'useless', 'ugly', 'disgusting', 'retard', 'freak', 'bitch', 'asshole', 'dick', 'prick', 'hypocrite',
  'traitor', 'thief', 'crook', 'racist', 'psycho', 'lunatic', 'maniac', 'ignorant', 'brainless', 'clueless', 'spineless', 'hateful', 'evil',
  'incompetent', 'pervert', 'whore', 'slut', 'cunt', 'twat', 'douche', 'douchebag', 'sucker', 'failure', 'disgrace', 'pig', 'rat',
]);

/** Who a third-person insult can be said of ("he is a …", "this author is a …"); "the design is ugly" is criticism. */
const PERSONS = new Set(['he', 'she', 'they', "he's", "she's", "they're", 'author', 'editor', 'admin', 'guy', 'man', 'woman', 'person', 'people', 'user', 'writer', 'who', 'him', 'her', 'mods', 'moderator', 'poster']);
const HOSTILE_VERBS = new Set(['hate', 'despise', 'loathe', 'detest', 'hates', 'despises', 'loathes']);
/** Verbs of harm whose object, when it is "you", makes a threat. */
const HARM_VERBS = new Set([
  'kill', 'hurt', 'stab', 'shoot', 'murder', 'beat', 'smash', 'break', 'strangle', 'slit', 'burn', 'destroy', 'punch', 'rip', 'hunt', 'choke', 'bury', 'drown',
  'knock', 'slap', 'kick', 'torture', 'rape', 'behead', 'hang', 'end', 'cut', 'break', 'run', 'find', 'get', 'make', 'beaten', 'killed', 'shot', 'stabbed', 'hurt',
]);
/** Harm verbs that need more than "you" after them to read as a threat ("find you" is a threat only with harm words). */
const WEAK_HARM = new Set(['find', 'get', 'make', 'run', 'end', 'cut', 'hang', 'knock']);
const SELF_HARM = [/\bkill (your ?self|urself|yourselves)\b/, /\bkys\b/, /\bgo (and )?die\b/, /\b(hope|wish) (you|u|someone)\b[^.!?]{0,40}\b(die|dies|dead|run over|runs you over|hit by)\b/, /\bdrink bleach\b/, /\bdie in a\b/];
const THREAT_PHRASES = [/\bwatch (your|ur) back\b/, /\bi know where (you|u) live\b/, /\b(you|u)('re| are| r) (dead|going to die|gonna die)\b/, /\bi'?m coming for (you|u)\b/, /\bsleep with one eye open\b/, /\bknow (your|ur) address\b/, /\b(make|made) (you|u) pay\b/, /\b(your|ur) family (is|will) (going to )?pay\b/, /\bdeserve to (be )?(beaten|killed|die|shot|hurt)\b/, /\bsee you soon\b(?=.*\b(address|house|live)\b)/];

/** Common function words of each language whose naughty-words list is used: a term counts in text that looks like it. */
const FUNCTION_WORDS: Record<string, string[]> = {
  de: ['der', 'die', 'das', 'und', 'ist', 'du', 'ich', 'nicht', 'ein', 'eine', 'dich', 'bist', 'sie'],
  fr: ['le', 'la', 'les', 'et', 'est', 'tu', 'je', 'pas', 'un', 'une', 'te', 'ta', 'ton', 'toi', 'va', 'es'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'eres', 'tu', 'que', 'de', 'un', 'una', 'te'],
  it: ['il', 'la', 'e', 'sei', 'tu', 'che', 'di', 'un', 'una', 'ti', 'sono'],
  nl: ['de', 'het', 'een', 'en', 'is', 'jij', 'je', 'bent', 'niet'],
  pl: ['jest', 'ty', 'nie', 'to', 'się', 'jesteś', 'i'],
  pt: ['o', 'os', 'é', 'você', 'um', 'uma', 'que', 'de', 'não', 'seu', 'sua'],
};

export class HeuristicToxicityScorer implements TextScorer {
  readonly name = 'heuristic';

  private constructor(
    private readonly profanity: { hits(text: string): string[] },
    private readonly afinn: Readonly<Record<string, number>>,
    private readonly otherLanguages: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  static async open(): Promise<HeuristicToxicityScorer> {
    const { RegExpMatcher, englishDataset, englishRecommendedTransformers } = await import('obscenity');
    // "negro" is in obscenity's English dataset; in the text Resect scores it is mostly a historical or place name
    // (the Negro Leagues, Río Negro, Montenegro's neighbours), so it is left out.
    const built = englishDataset.removePhrasesIf((p) => p.metadata?.originalWord === 'negro').build();
    const matcher = new RegExpMatcher({ ...built, ...englishRecommendedTransformers });
    const profanity = {
      hits: (text: string) => matcher.getAllMatches(text).map((m) => englishDataset.getPayloadWithPhraseMetadata(m).phraseMetadata?.originalWord ?? 'profanity'),
    };
    const afinn = (await import('sentiment/languages/en/labels.json', { with: { type: 'json' } })).default as Record<string, number>;
    const naughty = (await import('naughty-words')).default as Record<string, string[]>;
    const other = new Map<string, Set<string>>();
    for (const lang of Object.keys(FUNCTION_WORDS)) {
      const terms = new Set<string>();
      // Single words only, of 4+ letters, that are not rated English words (AFINN): "bite", "cola" stay out.
      for (const t of naughty[lang] ?? []) {
        const w = t.toLowerCase();
        if (!/\s/.test(w) && [...w].length >= 4 && !(w in afinn)) terms.add(w);
      }
      other.set(lang, terms);
    }
    return new HeuristicToxicityScorer(profanity, afinn, other);
  }

  /** Whether a word is an insult or a strongly negative word (AFINN ≤ −2, or a listed insult noun); verbs of harm are threats, not insults. */
  private insulting(w: string): boolean {
    if (HARM_VERBS.has(w) || HOSTILE_VERBS.has(w)) return false;
    return INSULT_NOUNS.has(w) || (this.afinn[w] ?? 0) <= -2;
  }

  /** A word that insults a person (PERSON_INSULTS, INSULT_NOUNS): not merely negative. */
  private personInsult(w: string): boolean {
    return !HARM_VERBS.has(w) && (INSULT_NOUNS.has(w) || PERSON_INSULTS.has(w));
  }

  /** Every hit in a text (see the file comment for the rules). */
  explain(text: string): ToxicityHit[] {
    const hits: ToxicityHit[] = [];
    // Letters spelled out ("f u c k", "F.U.C.K.") are joined so the lexicons see the word.
    const joined = text.replace(/\b(?:[A-Za-z][\s.]+){2,}[A-Za-z]\b\.?/g, (m) => m.replace(/[\s.]+/g, ''));
    const lower = text.toLowerCase();
    const ws = words(text);
    const negatedAt = (k: number, span = 3) => {
      for (let j = Math.max(0, k - span); j < k; j++) if (negates(ws[j]!)) return true;
      return false;
    };

    // Profanity (English, obfuscations included); aimed at "you" it weighs more.
    const prof = [...new Set([...this.profanity.hits(text), ...this.profanity.hits(joined)])].filter(Boolean);
    prof.push(...ws.filter((w) => /^phu+c?k/.test(w)));
    if (/\b(screw|damn|curse|f) (you|u|yourself|ya)\b|\bgo to hell\b|\bto hell with (you|u)\b/.test(lower)) prof.push('curse');
    if (prof.length) {
      const aimed = ws.some((w) => SECOND_PERSON.has(w)) || /\b(off|yourself)\b/.test(lower);
      hits.push({ kind: 'profanity', what: [...new Set(prof)].join(', '), weight: aimed ? 0.85 : 0.65 });
    }

    // Profanity of other languages, where the text looks like that language.
    for (const [lang, terms] of this.otherLanguages) {
      const found = ws.filter((w) => terms.has(w));
      if (!found.length) continue;
      const looksLike = FUNCTION_WORDS[lang]!.some((f) => ws.includes(f)) || new Set(found).size >= 2 || found.some((w) => [...w].length >= 7);
      if (looksLike) hits.push({ kind: 'other-language', what: `${lang}: ${[...new Set(found)].join(', ')}`, weight: 0.8 });
    }

    // Insults said of the person addressed ("you are a …", "you …", "your X is …"), or of someone ("he is a …").
    for (let k = 0; k < ws.length; k++) {
      const w = ws[k]!;
      const second = SECOND_PERSON.has(w);
      // "he is a …", "this author is a …": said of a person, not of a thing ("the design is ugly").
      const predicate = (['is', 'are', 'was'].includes(w) && PERSONS.has(ws[k - 1] ?? '')) || ["he's", "she's", "they're"].includes(w);
      if (!second && !predicate) continue;
      let j = k + 1;
      if (w === 'your' && j < ws.length) j++; // "your opinion is garbage"
      let negated = negatedAt(k, 2);
      for (let steps = 0; j < ws.length && steps < 5; steps++, j++) {
        const x = ws[j]!;
        if (negates(x)) negated = true;
        if (this.insulting(x) && !LINKING.has(x)) break;
        if (!LINKING.has(x) && !this.insulting(x)) { j = ws.length; break; }
        // A linking word that is itself an insult ("you stupid …") counts when nothing better follows.
        if (this.insulting(x) && (j + 1 >= ws.length || !LINKING.has(ws[j + 1]!) && !this.insulting(ws[j + 1]!))) break;
      }
      if (j >= ws.length || negated) continue;
      const target = ws[j]!;
      if (!this.insulting(target)) continue;
      // Any strongly negative word after "you are a/an/such a …" (a noun phrase); else it must insult a person
      // ("you're anxious", "he was tired" are states, not insults).
      const article = ws.slice(k + 1, j).some((x) => x === 'a' || x === 'an' || x === 'such');
      if (!(second && article) && !this.personInsult(target)) continue;
      // A speaker about themselves ("I'm such an idiot", "I feel like a fool") is not insulting anyone.
      if (!second && ws.slice(Math.max(0, k - 3), k).some((p) => FIRST_PERSON.has(p))) continue;
      hits.push({ kind: 'insult', what: `${w} … ${target}`, weight: second ? 0.85 : 0.6 });
      break;
    }
    // A bare insult noun ("Typical moron comment", "What an idiot"), not about the speaker, not negated.
    if (!hits.some((h) => h.kind === 'insult')) {
      for (let k = 0; k < ws.length; k++) {
        const w = ws[k]!;
        if (!this.personInsult(w)) continue;
        if (negatedAt(k) || ws.slice(Math.max(0, k - 4), k).some((p) => FIRST_PERSON.has(p))) continue;
        const before = ws[k - 1] ?? '';
        if (/^(what|typical|only|such|you)$/.test(before) || this.personInsult(before) || /^(what|typical)$/.test(ws[k - 2] ?? '') || (ws[k + 1] === 'like' && SECOND_PERSON.has(ws[k + 2] ?? ''))) {
          hits.push({ kind: 'insult', what: w, weight: 0.6 });
          break;
        }
      }
    }

    // A vocative insult closing the sentence: "Get lost, loser." "Grow a brain, dumbass."
    if (!hits.some((h) => h.kind === 'insult')) {
      const m = /,\s*(?:you\s+)?([\p{L}']+)\s*[.!?]*\s*$/u.exec(lower);
      if (m && this.personInsult(m[1]!)) hits.push({ kind: 'insult', what: m[1]!, weight: 0.7 });
    }

    // Hostility at "you": "I hate you", "I despise everything about you", "you make me sick", "nobody wants you".
    for (let k = 0; k + 1 < ws.length; k++) {
      if (HOSTILE_VERBS.has(ws[k]!) && ws.slice(k + 1, k + 5).some((x) => SECOND_PERSON.has(x)) && !negatedAt(k)) {
        hits.push({ kind: 'hostility', what: `${ws[k]} … you`, weight: 0.8 });
        break;
      }
    }
    if (/\bshut (your|ur) (mouth|face|trap)\b|\bshut up\b/.test(lower)) hits.push({ kind: 'hostility', what: 'shut up', weight: 0.6 });
    if (/\b(you|u) make me sick\b|\bnobody (wants|likes|needs) (you|u)\b|\bno one (wants|likes) (you|u)\b|\bbetter off without (you|u)\b|\b(you|u) people are\b|\bget out of (my|our) country\b|\bhope (your|ur) life\b|\bwe don'?t want your kind\b/.test(lower)) {
      hits.push({ kind: 'hostility', what: 'hostile phrase', weight: 0.75 });
    }

    // Threats: a harm verb with "you" as its object, self-harm incitement, fixed phrases.
    const negatedSentence = /\b(never|not|no one|nobody|don'?t|shouldn'?t)\b/.test(lower);
    for (let k = 0; k < ws.length; k++) {
      const v = ws[k]!;
      if (!HARM_VERBS.has(v)) continue;
      const object = ws.slice(k + 1, k + 3).find((x) => SECOND_PERSON.has(x));
      if (!object || ws[k + 1] === 'it') continue;
      if (WEAK_HARM.has(v) && !/\b(hurt|pay|kill|die|dead|down|legs|teeth|face|head|over|walk)\b/.test(ws.slice(k, k + 8).join(' '))) continue;
      // Negated before the verb ("I would never hurt you"), or anywhere when it is about "yourself" (a warning
      // against the phrase: "no one should tell you to kill yourself").
      if (ws.slice(0, k).some(negates) || (object === 'yourself' && negatedSentence) || (k > 0 && ws[k - 1] === 'you')) continue;
      hits.push({ kind: 'threat', what: `${v} ${object}`, weight: 0.9 });
      break;
    }
    if (SELF_HARM.some((r) => r.test(lower)) && !negatedSentence) hits.push({ kind: 'threat', what: 'self-harm incitement', weight: 0.9 });
    if (THREAT_PHRASES.some((r) => r.test(lower)) && !negatedSentence) hits.push({ kind: 'threat', what: 'threat phrase', weight: 0.85 });
    return hits;
  }

  scoreOne(text: string): number {
    let keep = 1;
    for (const h of this.explain(text)) keep *= 1 - h.weight;
    return 1 - keep;
  }

  async score(texts: readonly string[]): Promise<number[]> {
    return texts.map((t) => this.scoreOne(t));
  }
}

/** The `naughty-words` package ships no types: a map from language code (en, de, fr, …) to its list of terms. */
declare module 'naughty-words' {
  const lists: Record<string, string[]>;
  export default lists;
}

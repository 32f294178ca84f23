/**
 * The per-launch token printed by `resect serve`. It arrives in the page URL (`?token=`) and is kept in
 * sessionStorage, so reloads and in-app navigation keep working even if the query string is lost.
 */
const KEY = 'resect.token';

export function readToken(loc: Location = window.location): string | null {
  const fromQuery = new URLSearchParams(loc.search).get('token');
  // Tolerate a token placed after the hash route too (#/jobs?token=...).
  const hashQuery = loc.hash.includes('?') ? new URLSearchParams(loc.hash.slice(loc.hash.indexOf('?'))).get('token') : null;
  const token = fromQuery || hashQuery;
  try {
    if (token) sessionStorage.setItem(KEY, token);
    return token || sessionStorage.getItem(KEY);
  } catch {
    return token; // storage disabled
  }
}

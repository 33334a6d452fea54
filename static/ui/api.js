// api.js: every request the UI makes. The admin token lives in
// sessionStorage only (this tab), goes out in the Authorization header
// only, and never into a URL or localStorage.

import { urlFor } from './paths.js';

const TOKEN_KEY = 'rangeserve.token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token is simply not kept */ }
  window.dispatchEvent(new CustomEvent('rangeserve:token'));
}

// HttpError carries the status and the server's message, if any.
export class HttpError extends Error {
  constructor(status, message) {
    super(message || ('HTTP ' + status));
    this.status = status;
  }
}

async function errorOf(res) {
  let msg = '';
  try {
    const text = await res.text();
    try { msg = JSON.parse(text).error || ''; } catch { msg = text.trim().slice(0, 200); }
  } catch { /* no body */ }
  return new HttpError(res.status, msg);
}

// request fetches url with the token (if any) and no referrer or cookies
// beyond same-origin ones.
export async function request(url, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const tok = getToken();
  if (tok && opts.auth !== false) headers.set('Authorization', 'Bearer ' + tok);
  let res;
  try {
    res = await fetch(url, { ...opts, headers, credentials: 'same-origin', referrerPolicy: 'no-referrer' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new HttpError(0, 'The server could not be reached.');
  }
  if (!res.ok && res.status !== 206) throw await errorOf(res);
  return res;
}

// mounts returns the configured mounts, [] when the server has no list.
export async function mounts() {
  try {
    const res = await request('/api/mounts', { headers: { Accept: 'application/json' } });
    const j = await res.json();
    return Array.isArray(j.mounts) ? j.mounts.filter(m => typeof m.prefix === 'string' && m.prefix.startsWith('/')) : [];
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return [];
    throw e;
  }
}

// listPage fetches one page of a folder listing.
export async function listPage(folder, { cursor = '', limit = 200, query = '', signal } = {}) {
  const params = { format: 'json', limit: String(limit) };
  if (cursor) params.cursor = cursor;
  const res = await request(urlFor(folder, params, query), { headers: { Accept: 'application/json' }, signal });
  const j = await res.json();
  return {
    // A name is one path segment: anything else (a slash, "." or "..")
    // could make a URL leave the folder, or the origin ("//host").
    entries: Array.isArray(j.entries) ? j.entries.filter(e => e && typeof e.name === 'string' &&
      e.name !== '' && e.name !== '.' && e.name !== '..' && !e.name.includes('/')) : [],
    next: typeof j.next === 'string' ? j.next : '',
  };
}

// createLink asks the server to sign a link (admin token required).
export async function createLink({ mount, key, ttl, scope = '', ip = '' }) {
  const res = await request('/api/links', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ mount, key, ttl, scope, ip }),
  });
  const j = await res.json();
  if (typeof j.url !== 'string' || !j.url.startsWith('/')) throw new HttpError(500, 'The server sent no link.');
  return { url: j.url, expires: j.expires };
}

// explain turns an error into a title and a sentence for the user.
export function explain(err, what = 'this folder') {
  const s = err && err.status;
  if (err && err.hint) return { icon: 'lock', title: s === 401 ? 'Sign-in needed' : 'Access denied', text: err.hint, token: !getToken() };
  if (s === 401) return { icon: 'lock', title: 'Sign-in needed', text: `Opening ${what} needs a signed link or a token. Open it through a share link, or set a token.`, token: true };
  if (s === 403) {
    const why = err.message ? ': ' + err.message.replace(/^\d+\s*/, '').replace(/[.\s]*$/, '') + '.' : '.';
    return { icon: 'lock', title: 'Access denied', text: `The server refused access to ${what}${why} A share link may have expired or belong to another file.`, token: true };
  }
  if (s === 404) return { icon: 'alert', title: 'Not found', text: `Nothing exists at this address. It may have been moved or deleted.` };
  if (s === 0) return { icon: 'alert', title: 'Server unreachable', text: 'The server could not be reached. Check your connection and try again.' };
  return { icon: 'alert', title: 'Something went wrong', text: (err && err.message) || 'The request failed.' };
}

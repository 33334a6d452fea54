// paths.js: the UI's URLs. A route lives in the location hash:
//   #/videos/sub/              a folder (trailing slash)
//   #/videos/film.mp4          a file
//   #/videos/film.mp4?exp=…    the same through a signed link: the query
//                              (exp, kid, sig, scope, ip) goes on every
//                              media URL built for it
// Paths in the hash are escaped per segment, as the server escapes them.

// escapePath escapes every segment of an absolute path, keeping slashes.
export function escapePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

// parseHash returns {path, query} or null when the hash is not a route.
export function parseHash(hash) {
  let s = hash.startsWith('#') ? hash.slice(1) : hash;
  if (s === '') s = '/';
  if (!s.startsWith('/')) return null;
  let query = '';
  const q = s.indexOf('?');
  if (q >= 0) { query = s.slice(q + 1); s = s.slice(0, q); }
  let path;
  try {
    path = s.split('/').map(decodeURIComponent).join('/');
  } catch {
    return null;
  }
  // No empty, "." or ".." segments: the server would refuse them anyway.
  const segs = path.split('/').slice(1, path.endsWith('/') ? -1 : undefined);
  if (segs.some(x => x === '' || x === '.' || x === '..')) return null;
  return { path, query: cleanQuery(query) };
}

// cleanQuery keeps only the parameters of a signed link.
const linkParams = ['exp', 'kid', 'scope', 'ip', 'sig'];
export function cleanQuery(q) {
  if (!q) return '';
  const src = new URLSearchParams(q);
  const out = new URLSearchParams();
  for (const k of linkParams) {
    const v = src.get(k);
    if (v != null) out.set(k, v);
  }
  return out.toString();
}

// hashFor is the location hash of a route.
export function hashFor(path, query = '') {
  return '#' + escapePath(path) + (query ? '?' + query : '');
}

// urlFor is the server URL of path with extra parameters and the link query.
export function urlFor(path, params = {}, query = '') {
  const p = new URLSearchParams(params);
  if (query) for (const [k, v] of new URLSearchParams(query)) p.set(k, v);
  const qs = p.toString();
  return escapePath(path) + (qs ? '?' + qs : '');
}

export function isDir(path) { return path.endsWith('/'); }

// parentOf("/a/b/c.mp4") = "/a/b/", parentOf("/a/b/") = "/a/".
export function parentOf(path) {
  const p = path.endsWith('/') ? path.slice(0, -1) : path;
  return p.slice(0, p.lastIndexOf('/') + 1) || '/';
}

// baseName("/a/b/c.mp4") = "c.mp4", baseName("/a/b/") = "b".
export function baseName(path) {
  const p = path.endsWith('/') ? path.slice(0, -1) : path;
  return p.slice(p.lastIndexOf('/') + 1);
}

// mountOf returns the mount with the longest prefix containing path.
export function mountOf(mounts, path) {
  let best = null;
  for (const m of mounts) {
    if (path.startsWith(m.prefix) && (!best || m.prefix.length > best.prefix.length)) best = m;
  }
  return best;
}

// childMounts are the mounts one segment below folder: "/videos/" below "/".
export function childMounts(mounts, folder) {
  return mounts.filter(m => m.prefix !== folder && m.prefix.startsWith(folder) &&
    !m.prefix.slice(folder.length, -1).includes('/'));
}

// underMount tells whether some mount lies below folder (a virtual folder).
export function underMount(mounts, folder) {
  return mounts.some(m => m.prefix.startsWith(folder));
}

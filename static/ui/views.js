// views.js: pieces shared by the browse and file views: breadcrumbs,
// error panels, the lazy signed link for protected mounts.

import { h, icon } from './dom.js';
import { hashFor, escapePath } from './paths.js';
import { createLink, explain, getToken } from './api.js';

// crumbs renders the breadcrumb trail of path. The current page is the
// last item (aria-current), not a link. query is carried within mount.
export function crumbs(path, mount, query) {
  const ol = h('ol');
  const segs = path.split('/').filter(Boolean);
  const isDir = path.endsWith('/');
  ol.append(h('li', null, segs.length === 0
    ? h('span', { 'aria-current': 'page', class: 'crumb-home' }, icon('home'), h('span', { class: 'visually-hidden' }, 'Home'))
    : h('a', { href: '#/', class: 'crumb-home', title: 'Home' }, icon('home'), h('span', { class: 'visually-hidden' }, 'Home'))));
  let acc = '/';
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    acc += seg + (last && !isDir ? '' : '/');
    const q = mount && acc.startsWith(mount.prefix) ? query : '';
    ol.append(h('li', null, icon('chevron', 'icon crumb-sep'),
      last ? h('span', { 'aria-current': 'page' }, seg) : h('a', { href: hashFor(acc, q) }, seg)));
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, ol);
}

// problem renders an error panel for err. With a token button when a
// credential might help.
export function problem(err, what, retry) {
  const x = explain(err, what);
  return h('div', { class: 'problem', role: 'alert' },
    h('div', { class: 'problem-icon' }, icon(x.icon, 'icon icon-lg')),
    h('h2', { class: 'problem-title' }, x.title),
    h('p', { class: 'problem-text' }, x.text),
    h('div', { class: 'problem-actions' },
      x.token ? h('button', { type: 'button', class: 'btn btn-primary', onclick: () => document.getElementById('token-btn').click() }, icon('key'), getToken() ? 'Change token' : 'Set a token') : null,
      retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, icon('restart'), 'Try again') : null,
      h('a', { class: 'btn btn-ghost', href: '#/' }, icon('home'), 'Home')));
}

// needsLink tells whether files of mount can only be opened by a plain
// <a>/<video> through a signed link the UI must first make with the token.
export function needsLink(mount, query) {
  return !!(mount && mount.auth && mount.auth !== 'public' && !query && getToken());
}

// signedQuery makes a short-lived link for path (a file) with the admin
// token and returns its query ('' when that fails).
export async function signedQuery(mount, path, ttl = '6h') {
  try {
    const key = path.slice(mount.prefix.length);
    const l = await createLink({ mount: mount.prefix, key: path.endsWith('/') ? '' : key, scope: path.endsWith('/') ? key : '', ttl });
    const q = l.url.indexOf('?');
    return q >= 0 ? l.url.slice(q + 1) : '';
  } catch {
    return '';
  }
}

// followSigned is the click handler of a download link in a protected
// mount: it makes a link, then goes there.
export function followSigned(mount, path, params, query) {
  return async (ev) => {
    if (!needsLink(mount, query)) return;
    ev.preventDefault();
    const q = await signedQuery(mount, path, '1h');
    const p = new URLSearchParams(params);
    if (q) for (const [k, v] of new URLSearchParams(q)) p.set(k, v);
    location.assign(escapePath(path) + '?' + p.toString());
  };
}

// app.js: the entry point. It loads the mount list once, then renders a
// view for every location hash: a folder (#/path/) or a file (#/path).

import { h } from './dom.js';
import { mounts as fetchMounts } from './api.js';
import { parseHash } from './paths.js';
import { initToken } from './token.js';
import { renderBrowse } from './browse.js';
import { renderFile } from './player.js';

let mountList = [];
let teardown = null;
let first = true;

function setTitle(t) {
  document.title = t ? `${t} · rangeserve` : 'rangeserve';
}

function route() {
  const r = parseHash(location.hash);
  if (!r) {
    document.getElementById('view').replaceChildren(h('p', { class: 'loading-line' }, 'This address is not a page of rangeserve. ', h('a', { href: '#/' }, 'Go home')));
    return;
  }
  if (teardown) teardown();
  const view = h('div', { class: 'view', id: 'view' });
  document.getElementById('view').replaceWith(view);
  const ac = new AbortController();
  const cleanups = [];
  teardown = () => {
    ac.abort();
    for (const f of cleanups.splice(0)) { try { f(); } catch { /* keep tearing down */ } }
  };
  const ctx = {
    route: r,
    view,
    mounts: mountList,
    signal: ac.signal,
    setTitle,
    // heading moves focus to the new page's heading after a navigation
    // (not on the first load), so screen readers hear the new page.
    heading: (el) => { if (!first) el.focus({ preventScroll: true }); },
    on: (target, type, fn, opts) => {
      target.addEventListener(type, fn, opts);
      cleanups.push(() => target.removeEventListener(type, fn, opts));
    },
    cleanup: (fn) => cleanups.push(fn),
    reload: () => route(),
  };
  if (!first) window.scrollTo(0, 0);
  (r.path.endsWith('/') ? renderBrowse : renderFile)(ctx);
  first = false;
}

async function start() {
  initToken();
  document.getElementById('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
  try {
    mountList = await fetchMounts();
  } catch {
    mountList = [];
  }
  // Without a mount list (an older server), treat the site as one mount.
  if (!mountList.length) mountList = [{ prefix: '/', auth: '', backend: '', mode: '' }];
  window.addEventListener('hashchange', route);
  route();
}

start();

// browse.js: the folder view. Pages of the listing come in as the user
// scrolls (IntersectionObserver on a sentinel below the table); sorting
// by size or date and filtering load the whole folder first (bounded).

import { h, icon, announce } from './dom.js';
import { listPage, getToken } from './api.js';
import { hashFor, urlFor, mountOf, childMounts, underMount, baseName } from './paths.js';
import { formatSize, formatDate, parseDate, describeType, iconFor } from './format.js';
import { crumbs, problem, needsLink, followSigned, signedQuery } from './views.js';
import { sharePanel, canShare } from './share.js';

const PAGE = 200;        // entries per listing request
const MAX_ALL = 20000;   // most entries loaded to sort or filter a folder

const sortLabels = {
  'name:1': 'Name (A to Z)', 'name:-1': 'Name (Z to A)',
  'size:-1': 'Size (largest first)', 'size:1': 'Size (smallest first)',
  'date:-1': 'Modified (newest first)', 'date:1': 'Modified (oldest first)',
};

const backendLabels = { local: 'Local disk', s3: 'S3' };
const authShort = { public: 'public', signed: 'signed', token: 'token', 'signed-or-token': 'signed/token' };
const authLabels = { public: 'Public', signed: 'Signed links', token: 'Token', 'signed-or-token': 'Signed link or token' };

export function renderBrowse(ctx) {
  const { route, view, mounts } = ctx;
  const folder = route.path;
  const query = route.query;
  const mount = mountOf(mounts, folder);
  const children = childMounts(mounts, folder);
  const virtual = !mount && underMount(mounts, folder);
  const title = folder === '/' ? (mount ? 'Home' : 'Mounts') : baseName(folder);
  ctx.setTitle(folder === '/' ? '' : title);

  const st = {
    entries: [], next: '', done: false, loading: null, error: null,
    sort: { key: 'name', dir: 1 }, filter: '', rows: new Map(),
  };
  let linkP = null; // listLink's promise

  // Header.
  const h1 = h('h1', { tabindex: '-1', class: 'page-title' }, title);
  const summary = h('p', { class: 'page-sub', 'aria-live': 'polite' }, '');
  const zip = mount && mount.archives !== false
    ? h('a', { class: 'btn', href: urlFor(folder, { archive: 'zip' }, query), download: '', onclick: followSigned(mount, folder, { archive: 'zip' }, query) }, icon('archive'), 'Download ZIP')
    : null;
  // A link covers a file or a folder inside a mount, never a whole mount.
  const shareable = canShare(mount) && folder !== mount.prefix;
  const shareBtn = shareable ? h('button', { type: 'button', class: 'btn', 'aria-expanded': 'false', hidden: true }, icon('link'), 'Share') : null;
  const share = shareable ? sharePanel(ctx, { mount, path: folder, query }) : null;
  if (share) {
    share.el.hidden = true;
    shareBtn.setAttribute('aria-controls', share.el.id);
    shareBtn.addEventListener('click', () => {
      const open = share.el.hidden;
      share.el.hidden = !open;
      shareBtn.setAttribute('aria-expanded', String(open));
      if (open) share.focus();
    });
    const sync = () => { shareBtn.hidden = !getToken(); if (!getToken()) { share.el.hidden = true; shareBtn.setAttribute('aria-expanded', 'false'); } };
    sync();
    ctx.on(window, 'rangeserve:token', sync);
  }
  const meta = mount && folder === mount.prefix
    ? h('span', { class: 'badges' }, badge(backendLabels[mount.backend] || mount.backend), badge(authLabels[mount.auth] || mount.auth, mount.auth === 'public' ? '' : 'lock'))
    : null;

  // Toolbar.
  const filter = h('input', { type: 'search', id: 'filter', class: 'input filter-input', placeholder: 'Filter by name', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'filter-hint' });
  const sortSel = h('select', { id: 'sort-select', class: 'input sort-select' },
    Object.entries(sortLabels).map(([v, l]) => h('option', { value: v }, l)));
  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'filter' },
      h('label', { for: 'filter', class: 'visually-hidden' }, 'Filter this folder by name'),
      icon('search', 'icon filter-icon'), filter,
      h('span', { id: 'filter-hint', class: 'visually-hidden' }, 'Press slash to jump here.')),
    h('div', { class: 'sort-wrap' }, h('label', { for: 'sort-select', class: 'sort-label' }, 'Sort'), sortSel));

  // Table.
  const sortBtn = (key, label) => h('button', { type: 'button', class: 'sort-btn', dataset: { key } }, label, icon('sort', 'icon sort-ind'));
  const thName = h('th', { scope: 'col', class: 'col-name' }, sortBtn('name', 'Name'));
  const thSize = h('th', { scope: 'col', class: 'col-size' }, sortBtn('size', 'Size'));
  const thDate = h('th', { scope: 'col', class: 'col-date' }, sortBtn('date', 'Modified'));
  const ths = { name: thName, size: thSize, date: thDate };
  const tbody = h('tbody');
  const table = h('table', { class: 'listing' },
    h('caption', { class: 'visually-hidden' }, 'Contents of ' + folder),
    h('thead', null, h('tr', null, thName, thSize, thDate,
      h('th', { scope: 'col', class: 'col-type' }, 'Type'),
      h('th', { scope: 'col', class: 'col-act' }, h('span', { class: 'visually-hidden' }, 'Download')))),
    tbody);
  const empty = h('div', { class: 'empty', hidden: true });
  const status = h('div', { class: 'list-status', role: 'status' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const card = h('div', { class: 'card listing-card' }, table, empty, status);

  view.append(...[
    crumbs(folder, mount, query),
    h('div', { class: 'page-head' },
      h('div', { class: 'page-head-text' }, h1, h('p', { class: 'page-sub-row' }, summary, meta)),
      h('div', { class: 'page-actions' }, zip, shareBtn)),
    share ? share.el : null,
    toolbar, card, sentinel].filter(Boolean));
  ctx.heading(h1);

  if (!mount && !virtual) {
    card.replaceWith(problem({ status: 404 }, 'this folder'));
    toolbar.remove();
    return;
  }
  if (!mount) {
    // A folder above the mounts: only mounts to show.
    if (zip) zip.remove();
    st.entries = children.map(mountEntry);
    st.done = true;
    render();
  } else {
    st.mountEntries = children.map(mountEntry);
    st.entries = [...st.mountEntries];
    loadMore();
  }

  // Events.
  table.querySelector('thead').addEventListener('click', (ev) => {
    const b = ev.target.closest('.sort-btn');
    if (!b) return;
    const key = b.dataset.key;
    const dir = st.sort.key === key ? -st.sort.dir : (key === 'name' ? 1 : -1);
    setSort(key, dir);
  });
  sortSel.addEventListener('change', () => {
    const [k, d] = sortSel.value.split(':');
    setSort(k, Number(d));
  });
  let filterTimer = 0;
  filter.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => { st.filter = filter.value.trim().toLowerCase(); needAll(); render(); }, 120);
  });
  ctx.on(window, 'keydown', (ev) => {
    if (ev.key === '/' && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !isTyping(ev.target)) {
      ev.preventDefault();
      filter.focus();
    }
  });
  ctx.on(window, 'rangeserve:token', () => {
    if (st.error && (st.error.status === 401 || st.error.status === 403)) ctx.reload();
  });
  const io = new IntersectionObserver((es) => {
    if (es.some(e => e.isIntersecting)) loadMore();
  }, { rootMargin: '600px 0px' });
  io.observe(sentinel);
  ctx.cleanup(() => io.disconnect());

  function setSort(key, dir) {
    st.sort = { key, dir };
    sortSel.value = key + ':' + dir;
    needAll();
    render();
    announce('Sorted by ' + sortLabels[key + ':' + dir].toLowerCase());
  }

  // needAll loads every page when the view needs the whole folder.
  function needAll() {
    const partial = st.sort.key !== 'name' || st.sort.dir !== 1 || st.filter;
    if (partial && !st.done) loadAll();
  }

  async function loadAll() {
    while (!st.done && !st.error && st.entries.length < MAX_ALL && !ctx.signal.aborted) {
      await loadMore();
    }
  }

  function loadMore() {
    if (st.loading) return st.loading;
    if (st.done || st.error || !mount) return Promise.resolve();
    st.loading = (async () => {
      status.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), st.entries.length ? `Loading more… (${st.entries.length} so far)` : 'Loading…');
      try {
        const page = await listPage(folder, { cursor: st.next, limit: PAGE, query: query || await listLink(), signal: ctx.signal });
        if (ctx.signal.aborted) return;
        // A folder that is also a mount is shown once, as the mount.
        const shadowed = new Set(st.mountEntries.map(m => m.name));
        st.entries.push(...page.entries.filter(e => !(e.dir && shadowed.has(e.name))));
        st.next = page.next;
        st.done = !page.next || st.entries.length >= MAX_ALL;
        render();
      } catch (e) {
        if (ctx.signal.aborted || e.name === 'AbortError') return;
        if ((e.status === 401 || e.status === 403) && mount.auth === 'signed' && folder === mount.prefix && !query) {
          e.hint = 'Files here open through share links only, and a link covers a file or a folder inside the mount, not the whole mount. Open a share link, or, with an admin token, open a file or folder of this mount by its address.';
        }
        st.error = e;
        if (!st.entries.length) {
          card.replaceWith(problem(e, 'this folder', () => ctx.reload()));
          toolbar.remove();
          summary.textContent = '';
          if (zip) zip.remove();
        } else {
          status.replaceChildren(icon('alert'), ' Could not load the rest of this folder. ',
            h('button', { type: 'button', class: 'btn btn-small', onclick: () => { st.error = null; loadMore(); } }, 'Try again'));
        }
        return;
      } finally {
        st.loading = null;
      }
      if (st.done) status.replaceChildren(st.entries.length >= MAX_ALL ? `Showing the first ${MAX_ALL} items.` : '');
      else {
        status.replaceChildren('');
        // Keep going while the sentinel is still on screen.
        const r = sentinel.getBoundingClientRect();
        if (r.top < innerHeight + 600) setTimeout(loadMore, 0);
      }
    })();
    return st.loading;
  }

  // listLink: a signed mount takes no token, so with an admin token the
  // page lists a folder (not the mount itself: links cover a folder inside
  // it) through a short-lived link of its own, kept in memory only (in
  // linkP). The rows' links carry no query: each page makes its own.
  function listLink() {
    if (mount.auth !== 'signed' || !needsLink(mount, query) || folder === mount.prefix) return '';
    if (!linkP) linkP = signedQuery(mount, folder, '1h');
    return linkP;
  }

  function render() {
    for (const [k, th] of Object.entries(ths)) {
      th.setAttribute('aria-sort', st.sort.key === k ? (st.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
      th.classList.toggle('sorted', st.sort.key === k);
      th.classList.toggle('desc', st.sort.key === k && st.sort.dir === -1);
    }
    const list = st.entries.filter(e => !st.filter || e.name.toLowerCase().includes(st.filter));
    list.sort(compare(st.sort));
    const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.closest('tr')?.dataset.path : null;
    tbody.replaceChildren(...list.map(rowFor));
    if (focused) tbody.querySelector(`tr[data-path="${CSS.escape(focused)}"] .entry-link`)?.focus();

    const dirs = st.entries.filter(e => e.dir).length, filesN = st.entries.length - dirs;
    const more = st.done ? '' : '+';
    summary.textContent = st.entries.length === 0 && st.done ? 'Empty folder'
      : [dirs ? `${dirs}${more} ${dirs === 1 && !more ? 'folder' : 'folders'}` : '', filesN ? `${filesN}${more} ${filesN === 1 && !more ? 'file' : 'files'}` : ''].filter(Boolean).join(' · ') || (more ? 'Loading…' : '');
    table.hidden = list.length === 0;
    empty.hidden = list.length !== 0 || !st.done;
    if (!empty.hidden) {
      empty.replaceChildren(icon(st.filter ? 'search' : 'folder', 'icon icon-lg'),
        h('p', null, st.filter ? `No names match “${filter.value.trim()}”.` : 'This folder is empty.'));
    }
  }

  function rowFor(e) {
    const path = folder + e.name + (e.dir ? '/' : '');
    const key = path + '\u0000' + (e.size ?? '') + (e.mtime ?? '');
    let tr = st.rows.get(key);
    if (tr) return tr;
    const q = e.mount ? '' : query;
    const d = parseDate(e.mtime);
    const sub = e.dir ? (e.mount ? [authLabels[e.mount.auth] || e.mount.auth || 'Mount'] : [d ? formatDate(d, false) : ''])
      : [formatSize(e.size), d ? formatDate(d, false) : ''];
    const typeText = e.mount ? 'Mount' + (e.mount.auth ? ' · ' + (authShort[e.mount.auth] || e.mount.auth) : '') : e.dir ? 'Folder' : describeType(e.name, e.type);
    const dl = e.mount || (e.dir && mount.archives === false) ? null : e.dir
      ? h('a', { class: 'icon-btn', href: urlFor(path, { archive: 'zip' }, q), download: '', title: 'Download as ZIP', 'aria-label': `Download ${e.name} as ZIP`, onclick: followSigned(mount, path, { archive: 'zip' }, q) }, icon('archive'))
      : h('a', { class: 'icon-btn', href: urlFor(path, { download: '1' }, q), download: '', title: 'Download', 'aria-label': `Download ${e.name}`, onclick: followSigned(mount, path, { download: '1' }, q) }, icon('download'));
    tr = h('tr', { dataset: { path }, class: e.dir ? 'is-dir' : '' },
      h('td', { class: 'col-name' },
        h('a', { class: 'entry-link', href: hashFor(path, q) },
          h('span', { class: 'entry-icon kind-' + iconFor(e) }, icon(iconFor(e))),
          h('span', { class: 'entry-text' },
            h('span', { class: 'entry-name' }, e.name),
            h('span', { class: 'entry-sub' }, sub.filter(Boolean).join(' · '))))),
      h('td', { class: 'col-size' }, e.dir ? h('span', { class: 'dim', 'aria-label': 'no size' }, '—') : formatSize(e.size)),
      h('td', { class: 'col-date' }, d ? h('time', { datetime: d.toISOString() }, formatDate(d)) : ''),
      h('td', { class: 'col-type' }, typeText),
      h('td', { class: 'col-act' }, dl));
    st.rows.set(key, tr);
    return tr;
  }
}

function mountEntry(m) {
  return { name: m.prefix.slice(0, -1).split('/').pop(), dir: true, mount: m };
}

function badge(text, ico) {
  if (!text) return null;
  return h('span', { class: 'badge' }, ico ? icon(ico) : null, text);
}

// compare orders folders first, then by key in direction dir; ties and
// the name order itself use code-point order, as the server's listing.
function compare({ key, dir }) {
  const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return (a, b) => {
    if (!!a.dir !== !!b.dir) return a.dir ? -1 : 1;
    let c = 0;
    if (key === 'size') c = (a.size ?? -1) - (b.size ?? -1);
    else if (key === 'date') c = (Date.parse(a.mtime || '') || 0) - (Date.parse(b.mtime || '') || 0);
    if (c !== 0) return c * dir;
    return key === 'name' ? byName(a, b) * dir : byName(a, b);
  };
}

function isTyping(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

// player.js: the file view. Video and audio play in the native elements
// (Range requests are the browser's), with keyboard seeking, .vtt
// subtitles found next to the file, and the position kept in
// localStorage (the path and the seconds only). Images show inline, text
// as text (textContent), anything else gets a download card.

import { h, icon, announce, copyText } from './dom.js';
import { listPage, request, getToken } from './api.js';
import { urlFor, hashFor, mountOf, parentOf, baseName } from './paths.js';
import { formatSize, formatDate, parseDate, formatTime, describeType, kindOf, typeOf } from './format.js';
import { crumbs, problem, needsLink, signedQuery } from './views.js';
import { sharePanel, canShare } from './share.js';

const TEXT_LIMIT = 1 << 20;            // bytes of a text file shown
const RESUME_KEY = 'rangeserve.resume'; // localStorage: {path: {t, at}}
const RESUME_MAX = 200;                // positions kept

export function renderFile(ctx) {
  const { route, view, mounts } = ctx;
  const path = route.path;
  const mount = mountOf(mounts, path);
  const name = baseName(path);
  ctx.setTitle(name);

  const h1 = h('h1', { class: 'file-title', tabindex: '-1' }, name);
  const metaLine = h('p', { class: 'file-meta' });
  const stage = h('div', { class: 'stage stage-loading' });
  const notes = h('div', { class: 'notes' });
  const subsRow = h('div', { class: 'subs-row', hidden: true });
  const detailsList = h('dl', { class: 'details' });
  const actions = h('div', { class: 'actions' });
  const side = h('aside', { class: 'file-side', 'aria-label': 'File details' },
    h('section', { class: 'card details-card', 'aria-labelledby': 'details-title' },
      h('h2', { class: 'card-title', id: 'details-title' }, 'Details'), detailsList));

  view.append(crumbs(path, mount, route.query),
    h('div', { class: 'file-page' },
      stage,
      h('div', { class: 'file-main' }, h1, metaLine, actions, notes, subsRow),
      side));
  ctx.heading(h1);

  if (!mount) {
    stage.replaceWith(problem({ status: 404 }, 'this file'));
    return;
  }

  let media = null; // the <video>/<audio> once built
  const detail = {};
  setDetail('Location', mount.prefix + (mount.backend ? ` (${mount.backend})` : ''));

  // The share card, while a token is set, on mounts that take links.
  const share = canShare(mount) ? sharePanel(ctx, { mount, path }) : null;
  if (share) side.prepend(share.el);
  const syncShare = () => { if (share) share.el.hidden = !getToken(); };
  syncShare();
  // A protected file opened without a link plays through a link the page
  // makes with the token (needsLink): a new token starts the page again.
  const protectedNoLink = mount.auth && mount.auth !== 'public' && !route.query;
  ctx.on(window, 'rangeserve:token', () => (protectedNoLink ? ctx.reload() : syncShare()));

  start();

  async function start() {
    // A protected mount opened without a link: with an admin token, the
    // page makes a short-lived link of its own for the media elements.
    let q = route.query;
    if (needsLink(mount, q)) q = await signedQuery(mount, path) || q;
    if (ctx.signal.aborted) return;
    const src = urlFor(path, {}, q);

    actions.append(
      h('a', { class: 'btn btn-primary', href: urlFor(path, { download: '1' }, q), download: '' }, icon('download'), 'Download'),
      h('a', { class: 'btn', href: src, target: '_blank', rel: 'noopener noreferrer' }, icon('open'), 'Open file'),
      copyPageButton());

    const info = siblings(parentOf(path), name, q, ctx.signal).catch(() => null);
    let kind = kindOf(name, '');
    if (kind === 'file') {
      const i = await info;
      if (i && i.dir) {
        // A folder addressed without its trailing slash.
        location.replace(hashFor(path + '/', route.query));
        return;
      }
      const self = i && i.self ? i.self : await headInfo(src);
      kind = kindOf(name, self && self.type);
    }
    if (ctx.signal.aborted) return;
    stage.classList.remove('stage-loading');
    if (kind === 'video' || kind === 'audio') buildMedia(kind, src);
    else if (kind === 'image') buildImage(src);
    else if (kind === 'text') buildText(src);
    else buildOther(src);

    const i = await info;
    if (ctx.signal.aborted) return;
    const self = (i && i.self) || await headInfo(src);
    if (ctx.signal.aborted) return;
    if (self) {
      const d = parseDate(self.mtime);
      const parts = [formatSize(self.size), describeType(name, self.type), d ? 'modified ' + formatDate(d) : ''];
      metaLine.textContent = parts.filter(Boolean).join(' · ');
      setDetail('Size', self.size != null ? `${formatSize(self.size)} (${self.size.toLocaleString()} bytes)` : '');
      setDetail('Type', typeOf(name, self.type) || 'unknown');
      setDetail('Modified', d ? formatDate(d) : '');
    }
    if (media && kind === 'video' && i && i.subs.length) addTracks(i.subs, q);
  }

  // siblings scans the parent folder's listing for this file's entry and
  // the .vtt files with the same base name. The listing is sorted by
  // name, so the scan stops once it is past every candidate.
  async function siblings(folder, fileName, q, signal) {
    const stem = fileName.includes('.') ? fileName.slice(0, fileName.lastIndexOf('.')) : fileName;
    const prefix = stem + '.';
    let cursor = '', self = null;
    const subs = [];
    for (let n = 0; n < 40; n++) {
      const page = await listPage(folder, { cursor, limit: 500, query: q, signal });
      for (const e of page.entries) {
        if (e.dir) {
          if (e.name === fileName) return { self: null, subs, stem, dir: true };
          continue;
        }
        if (e.name === fileName) self = e;
        else if (e.name.startsWith(prefix) && /\.vtt$/i.test(e.name)) subs.push(e);
      }
      const files = page.entries.filter(e => !e.dir);
      const last = files.length ? files[files.length - 1].name : '';
      if (!page.next || (self && last > prefix && !last.startsWith(prefix))) break;
      cursor = page.next;
    }
    return { self, subs, stem };
  }

  async function headInfo(src) {
    try {
      const res = await request(src, { method: 'HEAD', signal: ctx.signal });
      const len = res.headers.get('Content-Length');
      return { name, size: len == null ? null : Number(len), type: res.headers.get('Content-Type') || '', mtime: res.headers.get('Last-Modified') || '' };
    } catch {
      return null;
    }
  }

  // setDetail sets one row of the details list; rows keep a fixed order
  // whatever order their values arrive in.
  const detailOrder = ['Location', 'Size', 'Type', 'Modified', 'Duration', 'Dimensions', 'Subtitles'];
  function setDetail(k, v) {
    if (!v) return;
    if (detail[k]) { detail[k].textContent = v; return; }
    const dd = h('dd', null, v);
    detail[k] = dd;
    const row = h('div', { class: 'detail', dataset: { key: k } }, h('dt', null, k), dd);
    const after = [...detailsList.children].find(r => detailOrder.indexOf(r.dataset.key) > detailOrder.indexOf(k));
    detailsList.insertBefore(row, after || null);
  }

  function buildMedia(kind, src) {
    const el = h(kind, { class: 'media', controls: true, preload: 'metadata', playsinline: true, 'aria-label': name });
    el.src = src;
    media = el;
    subsRow.after(shortcutsHelp());
    const osd = h('div', { class: 'osd', 'aria-hidden': 'true' });
    if (kind === 'audio') {
      stage.classList.add('stage-audio');
      stage.replaceChildren(h('div', { class: 'audio-art' }, icon('audio', 'icon audio-icon')),
        h('div', { class: 'audio-controls' }, el), osd);
    } else {
      stage.classList.add('stage-video');
      stage.replaceChildren(el, osd);
    }
    el.addEventListener('loadedmetadata', () => {
      if (isFinite(el.duration)) setDetail('Duration', formatTime(el.duration));
      if (el.videoWidth) setDetail('Dimensions', `${el.videoWidth} × ${el.videoHeight}`);
      restore(el);
    });
    el.addEventListener('error', () => {
      const code = el.error ? el.error.code : 0;
      const why = code === 4
        ? 'The browser cannot play this file: its format is not supported here, or the server refused it (a share link may have expired).'
        : 'The file stopped loading. The connection may have dropped, or the server refused the request.';
      stage.classList.add('stage-failed');
      stage.append(h('div', { class: 'stage-error', role: 'alert' }, icon('alert', 'icon icon-lg'), h('p', null, why)));
    });

    // Resume position.
    let lastSave = 0;
    const save = () => saveResume(path, el.currentTime, el.duration);
    el.addEventListener('timeupdate', () => {
      const now = Date.now();
      if (now - lastSave > 3000) { lastSave = now; save(); }
    });
    el.addEventListener('pause', save);
    el.addEventListener('ended', () => saveResume(path, 0, el.duration));
    ctx.on(window, 'pagehide', save);
    ctx.cleanup(() => { if (el.currentTime > 0) save(); el.pause(); el.removeAttribute('src'); el.load(); });

    // Keyboard.
    let osdTimer = 0;
    const flash = (text) => {
      osd.textContent = text;
      osd.classList.add('show');
      clearTimeout(osdTimer);
      osdTimer = setTimeout(() => osd.classList.remove('show'), 800);
    };
    const seekTo = (t, label) => {
      const d = el.duration;
      if (isFinite(d)) t = Math.max(0, Math.min(t, Math.max(0, d - 0.05)));
      else t = Math.max(0, t);
      el.currentTime = t;
      flash(label);
      announce(`${formatTime(t)}${isFinite(d) ? ' of ' + formatTime(d) : ''}`);
    };
    const toggle = () => {
      if (el.paused || el.ended) { el.play().catch(() => {}); flash('Play'); } else { el.pause(); flash('Pause'); }
    };
    ctx.on(window, 'keydown', (ev) => {
      if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const t = ev.target;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      if (t && t.closest && t.closest('dialog[open]')) return;
      const k = ev.key;
      if (k === 'ArrowLeft') seekTo(el.currentTime - 5, '− 5 s');
      else if (k === 'ArrowRight') seekTo(el.currentTime + 5, '+ 5 s');
      else if (k === 'j' || k === 'J') seekTo(el.currentTime - 10, '− 10 s');
      else if (k === 'l' || k === 'L') seekTo(el.currentTime + 10, '+ 10 s');
      else if (k === 'k' || k === 'K') toggle();
      else if (k === ' ') {
        if (t && t !== el && t.closest && t.closest('a, button, summary, [role=button]')) return;
        toggle();
      } else if (k === 'm' || k === 'M') { el.muted = !el.muted; flash(el.muted ? 'Muted' : 'Sound on'); }
      else if ((k === 'f' || k === 'F') && kind === 'video' && document.fullscreenEnabled) {
        if (document.fullscreenElement) document.exitFullscreen(); else el.requestFullscreen().catch(() => {});
      } else if (/^[0-9]$/.test(k) && isFinite(el.duration)) seekTo(el.duration * Number(k) / 10, k === '0' ? 'Start' : k + '0 %');
      else return;
      ev.preventDefault();
      ev.stopPropagation();
    }, true);
  }

  function restore(el) {
    const r = loadResume()[path];
    const d = el.duration;
    if (!r || !worthResuming(r.t, d)) return;
    el.currentTime = r.t;
    const again = h('button', { type: 'button', class: 'btn btn-small' }, icon('restart'), 'Start over');
    const note = h('p', { class: 'note resume-note' }, `Resumed at ${formatTime(r.t)}. `, again);
    again.addEventListener('click', () => { el.currentTime = 0; note.remove(); saveResume(path, 0, d); el.focus(); });
    notes.append(note);
  }

  function addTracks(subs, q) {
    const dn = (() => { try { return new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' }); } catch { return null; } })();
    const stem = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
    subs.sort((a, b) => (a.name < b.name ? -1 : 1));
    const sel = h('select', { id: 'subs-select', class: 'input' }, h('option', { value: '-1' }, 'Off'));
    subs.forEach((s, i) => {
      const middle = s.name.slice(stem.length + 1, -4); // "" or "en" or "en.forced"
      const lang = middle.split('.')[0];
      let label = '';
      if (lang && /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(lang)) {
        try { label = dn ? dn.of(lang) : lang; } catch { label = lang; }
      }
      if (!label) label = middle || s.name;
      if (middle.includes('.')) label += ' (' + middle.split('.').slice(1).join(', ') + ')';
      const tr = h('track', { kind: 'subtitles', label, srclang: label && lang && /^[a-z]{2,3}/.test(lang) ? lang : 'und', src: urlFor(parentOf(path) + s.name, {}, q) });
      media.append(tr);
      tr.track.mode = i === 0 ? 'showing' : 'disabled';
      tr.addEventListener('error', () => {
        const opt = sel.querySelector(`option[value="${i}"]`);
        if (opt) { opt.disabled = true; opt.textContent += ' (could not load)'; }
      });
      sel.append(h('option', { value: String(i), selected: i === 0 }, label));
    });
    sel.addEventListener('change', () => {
      const v = Number(sel.value);
      [...media.textTracks].forEach((t, i) => { t.mode = i === v ? 'showing' : 'disabled'; });
    });
    subsRow.replaceChildren(h('label', { for: sel.id, class: 'subs-label' }, icon('subtitles'), 'Subtitles'), sel);
    subsRow.hidden = false;
    setDetail('Subtitles', subs.map(s => s.name).join(', '));
  }

  function buildImage(src) {
    const img = h('img', { class: 'image-view', alt: name, decoding: 'async' });
    img.addEventListener('load', () => setDetail('Dimensions', `${img.naturalWidth} × ${img.naturalHeight}`));
    img.addEventListener('error', () => stage.replaceChildren(stageMessage('alert', 'The image could not be loaded or shown.')));
    img.src = src;
    stage.classList.add('stage-image');
    stage.replaceChildren(img);
  }

  async function buildText(src) {
    stage.classList.add('stage-text');
    const pre = h('pre', { class: 'text-view', tabindex: '0', 'aria-label': 'Contents of ' + name });
    stage.replaceChildren(pre);
    try {
      const res = await request(src, { headers: { Range: `bytes=0-${TEXT_LIMIT - 1}` }, signal: ctx.signal });
      const total = totalSize(res);
      const reader = res.body.getReader();
      const dec = new TextDecoder('utf-8');
      let got = 0, text = '', binary = false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = got + value.length > TEXT_LIMIT ? value.subarray(0, TEXT_LIMIT - got) : value;
        if (got < 8192 && chunk.subarray(0, 8192 - got).includes(0)) { binary = true; break; }
        got += chunk.length;
        text += dec.decode(chunk, { stream: true }); // a split last character is dropped
        if (got >= TEXT_LIMIT) break;
      }
      reader.cancel().catch(() => {});
      if (ctx.signal.aborted) return;
      if (binary) { buildOther(src, 'This file looks binary, so it is not shown as text.'); return; }
      pre.textContent = text;
      if (total > got) notes.append(h('p', { class: 'note' }, icon('alert'), ` Showing the first ${formatSize(got)} of ${formatSize(total)}. Download the file to see all of it.`));
    } catch (e) {
      if (ctx.signal.aborted) return;
      stage.replaceChildren(problem(e, 'this file', () => ctx.reload()));
    }
  }

  function buildOther(src, msg) {
    stage.classList.add('stage-other');
    stage.replaceChildren(stageMessage('file', msg || 'There is no preview for this kind of file. Download it to open it on your device.'));
  }

  function copyPageButton() {
    const b = h('button', { type: 'button', class: 'btn btn-ghost' }, icon('copy'), h('span', null, 'Copy page link'));
    b.addEventListener('click', async () => {
      const ok = await copyText(location.href);
      b.lastChild.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => { b.lastChild.textContent = 'Copy page link'; }, 2000);
    });
    return b;
  }
}

function stageMessage(ico, text) {
  return h('div', { class: 'stage-message' }, icon(ico, 'icon icon-xl'), h('p', null, text));
}

function totalSize(res) {
  const cr = res.headers.get('Content-Range'); // bytes 0-1048575/5000000
  if (cr) { const m = /\/(\d+)$/.exec(cr); if (m) return Number(m[1]); }
  const len = res.headers.get('Content-Length');
  return len ? Number(len) : 0;
}

function shortcutsHelp() {
  const rows = [
    [['Space', 'K'], ' or ', 'Play or pause'],
    [['←', '→'], ' / ', 'Back or forward 5 seconds'],
    [['J', 'L'], ' / ', 'Back or forward 10 seconds'],
    [['1', '9'], ' … ', 'Jump to 10 % … 90 %'],
    [['0'], '', 'Back to the start'],
    [['M'], '', 'Mute or unmute'],
    [['F'], '', 'Full screen'],
  ];
  return h('details', { class: 'shortcuts' },
    h('summary', null, icon('keyboard'), 'Keyboard shortcuts'),
    h('dl', { class: 'keys' }, rows.map(([keys, sep, what]) => h('div', { class: 'key-row' },
      h('dt', null, keys.flatMap((k, i) => (i ? [sep, h('kbd', null, k)] : [h('kbd', null, k)]))),
      h('dd', null, what)))));
}

export function loadResume() {
  try {
    const v = JSON.parse(localStorage.getItem(RESUME_KEY) || '{}');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

// worthResuming: not in the first 3 s, nor in the last 2 to 10 s
// (5 % of the duration) of a file.
function worthResuming(t, d) {
  if (!isFinite(t) || t < 3) return false;
  return !isFinite(d) || d - t >= Math.min(10, Math.max(2, d * 0.05));
}

// saveResume keeps the position t of path; t near the start or the end
// forgets it (see worthResuming). Only the path and the seconds are stored, never a query.
function saveResume(path, t, d) {
  try {
    const all = loadResume();
    if (!worthResuming(t, d)) delete all[path];
    else all[path] = { t: Math.round(t * 10) / 10, at: Date.now() };
    const keys = Object.keys(all);
    if (keys.length > RESUME_MAX) {
      keys.sort((a, b) => all[a].at - all[b].at).slice(0, keys.length - RESUME_MAX).forEach(k => delete all[k]);
    }
    localStorage.setItem(RESUME_KEY, JSON.stringify(all));
  } catch { /* storage disabled or full: no resume */ }
}

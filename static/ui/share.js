// share.js: the share-link form. It calls POST /api/links with the admin
// token and shows the absolute link, a player link and the expiry. The
// caller decides when the panel is visible (only with a token).

import { h, icon, copyText, announce } from './dom.js';
import { createLink, explain } from './api.js';
import { parentOf, baseName } from './paths.js';
import { formatDate, formatRelative, parseDate } from './format.js';

// The server refuses links that outlive the admin token's max_link_ttl
// (7 days unless the config says otherwise): the menu stops there, and a
// refusal shows the server's own message.
const ttls = [['1h', '1 hour'], ['24h', '24 hours'], ['72h', '3 days'], ['168h', '7 days']];
let seq = 0;

// sentence makes a server message ("bad ttl: this token's links live at
// most 168h0m0s") read as a sentence.
function sentence(msg) {
  const m = msg.replace(/^\d{3}\s+/, '').replace(/(\d+)h0m0s/g, (_, n) => Number(n) % 24 === 0 ? `${Number(n) / 24} days` : `${n} hours`).trim();
  const s = m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

// canShare tells whether the server makes links for mount: signed and
// signed-or-token mounts do; a public mount needs none (its addresses
// are links already) and a token mount accepts none. A mount of unknown
// policy (a server without /api/mounts) is tried.
export function canShare(mount) {
  return !!mount && (!mount.auth || mount.auth === 'signed' || mount.auth === 'signed-or-token');
}

// sharePanel returns {el, focus} for path (a file or a folder) in mount.
export function sharePanel(ctx, { mount, path }) {
  const id = 'share' + (++seq);
  const isDir = path.endsWith('/');
  const rel = path.slice(mount.prefix.length);          // "sub/film.mp4" or "sub/"
  const folderRel = isDir ? rel : parentOf(path).slice(mount.prefix.length); // "sub/" or ""
  const folderName = folderRel ? baseName(folderRel) : '';

  const scopeFile = h('input', { type: 'radio', name: id + '-scope', id: id + '-scope-file', value: 'file', checked: !isDir, disabled: isDir });
  const scopeDir = h('input', { type: 'radio', name: id + '-scope', id: id + '-scope-dir', value: 'dir', checked: isDir, disabled: !folderRel });
  const ttl = h('select', { id: id + '-ttl', class: 'input' }, ttls.map(([v, l]) => h('option', { value: v, selected: v === '24h' }, l)));
  const ip = h('input', { id: id + '-ip', class: 'input', type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', placeholder: 'Any address', 'aria-describedby': id + '-ip-help' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('link'), 'Create link');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const result = h('div', { class: 'share-result', hidden: true });
  const heading = h('h2', { class: 'card-title', id: id + '-title', tabindex: '-1' }, icon('link'), isDir ? 'Share this folder' : 'Share');

  const form = h('form', { class: 'share-form', novalidate: true },
    h('fieldset', { class: 'field' },
      h('legend', { class: 'field-label' }, 'The link opens'),
      h('div', { class: 'choice-row' },
        isDir ? null : h('label', { class: 'choice', for: scopeFile.id }, scopeFile, h('span', null, 'This file')),
        h('label', { class: 'choice' + (folderRel ? '' : ' is-disabled'), for: scopeDir.id }, scopeDir,
          h('span', null, folderRel ? 'Everything in ' : 'This folder', folderRel ? h('span', { class: 'mono' }, folderName + '/') : null))),
      folderRel ? null : h('p', { class: 'field-help' }, 'Links cover a file or a folder inside a mount, not a whole mount.')),
    h('div', { class: 'field-grid' },
      h('div', { class: 'field' },
        h('label', { class: 'field-label', for: ttl.id }, 'Expires after'), ttl),
      h('div', { class: 'field' },
        h('label', { class: 'field-label', for: ip.id }, 'Only for IP address ', h('span', { class: 'optional' }, '(optional)')), ip)),
    h('p', { class: 'field-help', id: id + '-ip-help' }, 'Binding a link to the recipient’s address stops it working anywhere else.'),
    h('div', { class: 'form-actions' }, submit),
    error);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const dirScope = scopeDir.checked;
    if (dirScope && !folderRel) return;
    const req = {
      mount: mount.prefix,
      key: isDir ? '' : rel,
      scope: dirScope ? folderRel : '',
      ttl: ttl.value,
      ip: ip.value.trim(),
    };
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const link = await createLink(req);
      showResult(link);
    } catch (e) {
      const x = explain(e, 'the link service');
      const tokenRefused = e.status === 401 || (e.status === 403 && /admin token|not an admin/i.test(e.message || ''));
      error.replaceChildren(icon('alert'), ' ', tokenRefused
        ? 'The server did not accept the admin token. Check it with the key button at the top.'
        : (e.message && e.status ? sentence(e.message) : x.text));
      error.hidden = false;
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });

  function showResult(link) {
    const abs = location.origin + link.url;
    const page = location.origin + location.pathname + '#' + link.url;
    const exp = parseDate(link.expires);
    const out = h('textarea', { class: 'input mono link-out', id: id + '-url', readonly: true, rows: '3', spellcheck: 'false', 'aria-describedby': id + '-exp' });
    out.value = abs;
    const copied = h('span', { class: 'copied', role: 'status' });
    const copyBtn = h('button', { type: 'button', class: 'btn' }, icon('copy'), 'Copy link');
    copyBtn.addEventListener('click', async () => {
      const ok = await copyText(abs, out);
      copied.textContent = ok ? 'Copied' : 'Press Ctrl+C to copy';
      setTimeout(() => { copied.textContent = ''; }, 2500);
    });
    out.addEventListener('click', () => out.select());
    result.replaceChildren(
      h('label', { class: 'field-label', for: out.id }, 'Link'),
      out,
      h('p', { class: 'share-exp', id: id + '-exp' }, icon('check'), ' Expires ',
        exp ? h('time', { datetime: exp.toISOString() }, formatDate(exp)) : link.expires,
        exp ? ` (${formatRelative(exp)})` : '', '.'),
      h('div', { class: 'copy-row' }, copyBtn, copied),
      h('p', { class: 'share-more' },
        h('a', { href: page, class: 'link-inline', target: '_blank', rel: 'noopener noreferrer' }, icon('open'), 'Open in the rangeserve player')));
    result.hidden = false;
    out.rows = Math.min(8, Math.max(3, Math.ceil(abs.length / 36)));
    copyBtn.focus();
    announce('Link created. It expires ' + (exp ? formatRelative(exp) : link.expires) + '.');
  }

  const el = h('section', { class: 'card share-card', id: id, 'aria-labelledby': heading.id },
    heading, form, result);
  return { el, focus: () => heading.focus() };
}

// dom.js: the only way the UI builds elements. Text always goes in as
// text nodes (never HTML), so names from the server cannot become markup.

const SVG = 'http://www.w3.org/2000/svg';

// h creates an element. props: class, text, on<event> handlers, dataset,
// and plain attributes (true → empty attribute, false/null → omitted).
// children: nodes or strings (strings become text nodes), nested arrays
// allowed, null/false skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// icon returns an <svg> that uses a symbol of the sprite in index.html.
export function icon(name, cls = 'icon') {
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('class', cls);
  s.setAttribute('aria-hidden', 'true');
  s.setAttribute('focusable', 'false');
  const u = document.createElementNS(SVG, 'use');
  u.setAttribute('href', '#i-' + name);
  s.append(u);
  return s;
}

// announce tells screen readers something through the polite live region.
let announceTimer = 0;
export function announce(msg) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { el.textContent = msg; }, 30);
}

// copyText copies s to the clipboard; where the Clipboard API is missing
// (plain http on a non-local host) it selects the input so the user can
// press Ctrl+C. Returns true when copied.
export async function copyText(s, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(s);
      return true;
    }
  } catch { /* fall through */ }
  if (input) { input.focus(); input.select(); }
  return false;
}

// token.js: the admin-token button and dialog in the top bar. The token
// is kept by api.js in sessionStorage; this file never shows it again.

import { getToken, setToken } from './api.js';
import { announce } from './dom.js';

export function initToken() {
  const btn = document.getElementById('token-btn');
  const label = document.getElementById('token-btn-label');
  const dlg = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const forget = document.getElementById('token-forget');
  const cancel = document.getElementById('token-cancel');

  const sync = () => {
    const has = !!getToken();
    label.textContent = has ? 'Token set' : 'Admin token';
    btn.classList.toggle('has-token', has);
    btn.setAttribute('aria-label', has ? 'Admin token is set: change or forget it' : 'Set an admin token');
    forget.hidden = !has;
    input.placeholder = has ? 'A token is set for this tab; type a new one to replace it' : 'Paste your admin token';
  };
  sync();
  window.addEventListener('rangeserve:token', sync);

  btn.addEventListener('click', () => {
    input.value = '';
    dlg.showModal();
    input.focus();
  });
  cancel.addEventListener('click', () => dlg.close());
  forget.addEventListener('click', () => {
    setToken('');
    dlg.close();
    announce('Token forgotten.');
  });
  form.addEventListener('submit', (ev) => {
    const v = input.value.trim();
    if (!v) {
      ev.preventDefault();
      input.focus();
      return;
    }
    setToken(v);
    input.value = '';
    announce('Token set for this tab.');
  });
  dlg.addEventListener('close', () => { input.value = ''; btn.focus(); });
}

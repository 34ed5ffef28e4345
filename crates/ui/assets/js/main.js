// The shell: routes /ui/<view> to a view module, keeps each view's state in the URL, the
// theme, and the global keys (g e/t/p/r, /, ?).
import * as explore from './explore.js';
import * as tail from './tail.js';
import * as pods from './pods.js';
import * as resources from './resources.js';
import { typing } from './util.js';
import { tenant, setTenant, token, setToken } from './api.js';

const VIEWS = { explore, tail, pods, resources };
const root = document.getElementById('view');
let current = null;
let currentName = '';

/** What views use to keep their state in the URL and to open another view. */
const nav = {
  /** Writes the view's state to the address bar (a history entry when `push`). */
  save(path, params, push) {
    const url = path + (params.toString() ? '?' + params : '');
    if (url === location.pathname + location.search) return;
    history[push ? 'pushState' : 'replaceState'](null, '', url);
  },
  /** Opens a view with parameters. */
  go(path, params) {
    history.pushState(null, '', path + (params && params.toString() ? '?' + params : ''));
    route();
  },
};

function route() {
  const name = location.pathname.replace(/^\/ui\/?/, '').split('/')[0] || 'explore';
  const mod = VIEWS[name] || explore;
  if (current) current.unmount();
  root.replaceChildren();
  currentName = VIEWS[name] ? name : 'explore';
  current = mod.mount(root, new URLSearchParams(location.search), nav);
  for (const a of document.querySelectorAll('.tabs a')) {
    a.toggleAttribute('aria-current', a.dataset.view === currentName);
    if (a.dataset.view === currentName) a.setAttribute('aria-current', 'page');
  }
  document.title = `Kelp · ${document.querySelector(`.tabs a[data-view="${currentName}"]`).textContent}`;
}

window.addEventListener('popstate', route);
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) nav.go(a.getAttribute('href'));
});

function setTheme(t) {
  document.documentElement.dataset.theme = t;
  try { localStorage.setItem('kelp.theme', t); } catch { /* private mode */ }
  window.dispatchEvent(new Event('resize'));
  route();
}
document.getElementById('theme-toggle').addEventListener('click', () =>
  setTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
const help = document.getElementById('help');
document.getElementById('help-toggle').addEventListener('click', () => help.showModal());

// The tenant field: shown once a tenant is set or the server asks for one (401).
const tenantBox = document.querySelector('.tenant');
const tenantIn = document.getElementById('tenant');
tenantIn.value = tenant();
tenantBox.hidden = !tenant();
// A server with a token file answers 401 with `WWW-Authenticate: Bearer`: ask for the
// token (kept in session storage, sent on every call and on the tail socket).
const tokenDialog = document.getElementById('token-dialog');
const tokenIn = document.getElementById('token');
const tokenErr = document.getElementById('token-error');
const tokenForget = document.getElementById('token-forget');
tokenForget.hidden = !token();
window.addEventListener('kelp:unauthorized', (e) => {
  if (e.detail && e.detail.bearer) {
    if (tokenDialog.open) return;
    // A token that was set and still refused is wrong or revoked: say so.
    tokenErr.hidden = !token();
    tokenErr.textContent = token() ? `The server refused the token: ${e.detail.message}` : '';
    tokenIn.value = '';
    tokenDialog.showModal();
    tokenIn.focus();
    return;
  }
  if (!tenantBox.hidden) return;
  tenantBox.hidden = false;
  tenantIn.focus();
});
tokenDialog.addEventListener('close', () => {
  if (tokenDialog.returnValue !== 'ok' || !tokenIn.value.trim()) return;
  setToken(tokenIn.value.trim());
  tokenIn.value = '';
  tokenForget.hidden = false;
  route();
});
tokenForget.addEventListener('click', () => {
  setToken('');
  tokenForget.hidden = true;
  route();
});
tenantIn.addEventListener('change', () => { setTenant(tenantIn.value.trim()); route(); });

let g = 0;
document.addEventListener('keydown', (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (g && Date.now() - g < 1500) {
    g = 0;
    const to = { e: 'explore', t: 'tail', p: 'pods', r: 'resources' }[e.key];
    if (to) { e.preventDefault(); nav.go('/ui/' + to); }
    return;
  }
  if (e.key === 'g') g = Date.now();
  else if (e.key === '?') help.open ? help.close() : help.showModal();
  else if (e.key === '/' && current && current.focusQuery) { e.preventDefault(); current.focusQuery(); }
});

route();

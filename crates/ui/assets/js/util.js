// Small helpers shared by the views: DOM building, escaping, formatting.

/** Creates an element: h('div.cls', {attr: v, onclick: f}, ...children). */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const e = document.createElement(name || 'div');
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (k === 'html') e.innerHTML = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Text made safe for innerHTML. */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

/** A short message in the corner. */
export function toast(msg, ms = 3000) {
  const box = document.getElementById('toast');
  const d = h('div', { text: msg });
  box.append(d);
  setTimeout(() => d.remove(), ms);
}

/** 1234567 → "1.2M", 950 → "950". */
export function compact(n) {
  if (!isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
  if (a === 0 || a >= 1) return String(Math.round(n * 100) / 100);
  return n.toPrecision(2);
}

/** Bytes as kubectl top prints memory: Mi, else Ki or Gi. */
export function bytes(n) {
  if (n >= 10 * 2 ** 30) return (n / 2 ** 30).toFixed(1) + 'Gi';
  if (n >= 2 ** 20) return Math.round(n / 2 ** 20) + 'Mi';
  if (n >= 2 ** 10) return Math.round(n / 2 ** 10) + 'Ki';
  return Math.round(n) + 'B';
}

/** Cores as kubectl top prints CPU: millicores. */
export function cores(n) {
  if (n >= 10) return n.toFixed(1);
  return Math.round(n * 1000) + 'm';
}

/** Thousands separators. */
export function num(n) {
  return Number(n).toLocaleString('en-US');
}

/** Calls f at most once per animation frame. */
export function rafThrottle(f) {
  let pending = false;
  return (...args) => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      f(...args);
    });
  };
}

export function debounce(f, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => f(...args), ms);
  };
}

/** Whether a key event comes from a text field (so single-key shortcuts stay off). */
export function typing(ev) {
  const t = ev.target;
  return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

/** The stable colour of the n-th series. */
const PALETTE = ['#5aa9ff', '#3ddc97', '#f2b84b', '#ff6b6b', '#c792ea', '#4dd0e1', '#ff8a65', '#aed581', '#f06292', '#9fa8da'];
export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/** The colour of a log level, or null. */
export function levelColor(level) {
  switch (normLevel(level)) {
    case 'error': return '#ff6b6b';
    case 'warn': return '#f2b84b';
    case 'info': return '#5aa9ff';
    case 'debug': return '#8a96a6';
    default: return null;
  }
}

/** error|warn|info|debug|'' from any spelling (ERROR, E, warning, fatal, trace...). */
export function normLevel(l) {
  if (!l) return '';
  const s = String(l).toLowerCase();
  if (/^(e|err|error|fatal|crit|critical|panic|emerg|alert|f)$/.test(s)) return 'error';
  if (/^(w|warn|warning)$/.test(s)) return 'warn';
  if (/^(i|info|notice|information)$/.test(s)) return 'info';
  if (/^(d|debug|trace|t)$/.test(s)) return 'debug';
  return '';
}

/** Guesses a line's level from its text when no label says it. */
export function sniffLevel(line) {
  const m = /\b(level|lvl|severity)["']?\s*[=:]\s*["']?([a-zA-Z]+)/.exec(line) ||
    /(?:^|[\s\[])(ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE|FATAL)(?:[\s\]:]|$)/.exec(line.slice(0, 200));
  if (!m) return '';
  return normLevel(m[2] || m[1]);
}

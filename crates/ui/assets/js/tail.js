// Live tail over `/loki/api/v1/tail` (WebSocket): new lines appear at the bottom as the
// server stores them. Scrolling up pauses following (lines keep arriving, counted in the
// resume button); `dropped_entries` from a slow connection are counted.
import { h, num, sniffLevel, normLevel, typing } from './util.js';
import { ns } from './time.js';
import { Editor } from './editor.js';
import { LogList } from './loglist.js';
import * as api from './api.js';
import { withMatcher, lineFilterRegex } from './logql.js';

/** Most lines kept in the page; the oldest go first. */
const CAP = 50000;

export function mount(root, params, nav) {
  let q = params.get('q') || '';
  let ws = null;
  let following = true;
  let unseen = 0;
  let dropped = 0;
  let received = 0;
  let wanted = false;

  const editor = new Editor({
    label: 'Tail query', placeholder: '{namespace="default"} |= "error"',
    onRun: (v) => { q = v.trim(); start(); },
    names: () => api.labels(Date.now() - 3600e3, Date.now()),
    values: (n) => api.labelValues(n, Date.now() - 3600e3, Date.now()),
  });
  editor.value = q;
  const startBtn = h('button.primary', { text: 'Start', 'data-testid': 'tail-start', onclick: () => (ws ? stop() : (q = editor.value.trim(), start())) });
  const dot = h('span.dot');
  const statusText = h('span', { text: 'stopped' });
  const status = h('span.status', { 'data-testid': 'tail-status' }, dot, statusText);
  const counts = h('span.muted', { 'data-testid': 'tail-count' });
  const droppedBadge = h('span.badge.warn', { hidden: true, 'data-testid': 'tail-dropped', title: 'Lines the server could not send fast enough' });
  const pauseBtn = h('button.toggle', { text: 'Pause', 'aria-pressed': 'false', title: 'Pause following (Space)', onclick: () => setFollow(!following) });
  const clearBtn = h('button', { text: 'Clear', onclick: () => { list.setRows([], list.chipKeys); received = 0; unseen = 0; paint(); } });
  const wrapBtn = h('button.toggle', { text: 'Wrap', 'aria-pressed': 'false', onclick: () => { list.setWrap(!list.wrap); wrapBtn.setAttribute('aria-pressed', String(list.wrap)); } });
  const errLine = h('div.query-error', { hidden: true });
  const resume = h('button.resume', { hidden: true, 'data-testid': 'tail-resume', onclick: () => setFollow(true) });
  const box = h('div.tail-list');
  const view = h('section.view.tail', {},
    h('div.querybar', {}, editor.el, startBtn),
    errLine,
    h('div.resbar', {}, status, counts, droppedBadge, h('span.spacer'), pauseBtn, wrapBtn, clearBtn),
    box);
  root.append(view);
  const list = new LogList(box, {
    empty: 'Lines appear here as they are stored. Enter a query and press Start.',
    onScroll: () => {
      // Scrolling away from the bottom pauses; back to the bottom resumes.
      if (list.atBottom()) { if (!following) setFollow(true); } else if (following && !programmatic) setFollow(false);
    },
    onChip: (name, value, kind, exclude) => {
      editor.value = withMatcher(editor.value, name, value, exclude ? '!=' : '=');
      q = editor.value; start();
    },
  });
  // Chips for the labels that differ between the streams seen so far.
  const seen = new Map();
  const CHIPS = ['namespace', 'pod', 'container'];
  box.append(resume);
  let programmatic = false;

  function setFollow(on) {
    following = on;
    pauseBtn.setAttribute('aria-pressed', String(!on));
    pauseBtn.textContent = on ? 'Pause' : 'Paused';
    if (on) {
      unseen = 0;
      programmatic = true;
      list.scrollToBottom();
      requestAnimationFrame(() => { programmatic = false; });
    }
    paint();
  }

  function paint() {
    counts.textContent = `${num(received)} line${received === 1 ? '' : 's'} received`;
    droppedBadge.hidden = !dropped;
    droppedBadge.textContent = `${num(dropped)} dropped`;
    resume.hidden = following;
    resume.textContent = unseen ? `Paused · ${num(unseen)} new line${unseen === 1 ? '' : 's'} · resume` : 'Paused · resume';
  }

  function setStatus(cls, text) {
    dot.className = 'dot ' + cls;
    statusText.textContent = text;
  }

  function start() {
    stop();
    errLine.hidden = true;
    if (!q) { editor.focus(); return; }
    const p = new URLSearchParams({ q });
    nav.save('/ui/tail', p, false);
    wanted = true;
    list.setHighlight(lineFilterRegex(q));
    connect();
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const qs = new URLSearchParams({ query: q, limit: '100', start: ns(Date.now() - 300e3) });
    setStatus('warn', 'connecting…');
    startBtn.textContent = 'Stop';
    const sock = new WebSocket(`${proto}//${location.host}/loki/api/v1/tail?${qs}`, api.socketProtocols());
    ws = sock;
    sock.onopen = () => setStatus('live', 'live');
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      const rows = [];
      for (const s of msg.streams || []) {
        const labels = s.stream || {};
        for (const v of s.values) {
          const lvl = labels.level || labels.detected_level;
          rows.push({ ts: v[0], line: v[1], labels, meta: {}, parsed: {}, level: lvl ? normLevel(lvl) : sniffLevel(v[1]) });
        }
      }
      let keysChanged = false;
      for (const s of msg.streams || []) {
        for (const k of CHIPS) {
          const v = (s.stream || {})[k];
          if (v === undefined) continue;
          if (!seen.has(k)) seen.set(k, new Set());
          const vs = seen.get(k);
          if (!vs.has(v)) { vs.add(v); keysChanged ||= vs.size === 2; }
        }
      }
      if (keysChanged) list.setChipKeys(CHIPS.filter((k) => seen.get(k)?.size > 1));
      rows.sort((a, b) => a.ts.length - b.ts.length || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
      dropped += (msg.dropped_entries || []).length;
      received += rows.length;
      if (!following) unseen += rows.length;
      list.append(rows, CAP);
      if (following) { programmatic = true; list.scrollToBottom(); requestAnimationFrame(() => { programmatic = false; }); }
      paint();
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      startBtn.textContent = 'Start';
      if (ev.code !== 1000 && ev.code !== 1005 && wanted) {
        setStatus('err', ev.reason ? `closed: ${ev.reason}` : 'disconnected');
        checkQuery();
      } else {
        setStatus('gone', 'stopped');
      }
    };
  }

  /** A socket refused before the upgrade tells nothing; ask the API why (400 text). */
  async function checkQuery() {
    try {
      await api.get('/loki/api/v1/query', { query: q, limit: 1 });
      if (api.tenant() && !api.token()) {
        // The query is fine with the header; the socket had none.
        errLine.textContent = 'The server refused the live-tail socket: a browser cannot send X-Scope-OrgID on a WebSocket, so live tail needs a server with auth_enabled: false or a proxy that sets the header.';
        errLine.hidden = false;
      }
    } catch (e) {
      errLine.textContent = e.message;
      errLine.hidden = false;
      if (e.status === 400) editor.setError(e.message, e.position);
    }
  }

  function stop() {
    wanted = false;
    if (ws) { const s = ws; ws = null; s.close(1000); }
    startBtn.textContent = 'Start';
    setStatus('gone', 'stopped');
  }

  const keys = (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === ' ' && ws) { e.preventDefault(); setFollow(!following); }
  };
  document.addEventListener('keydown', keys);
  paint();
  if (q) start(); else editor.focus();

  return {
    focusQuery: () => editor.focus(),
    unmount() { stop(); document.removeEventListener('keydown', keys); list.destroy(); },
  };
}


// Explore: a LogQL query over a time range. A log query shows a volume histogram and the
// lines (virtualised) with label chips and a details panel; a metric query shows a chart.
// The state lives in the URL: q, from, to, step, limit, wrap, pretty.
import { h, esc, num, sniffLevel, normLevel, toast, typing } from './util.js';
import * as api from './api.js';
import { parseTime, parseDuration, formatDuration, niceStep, splitNs, ns } from './time.js';
import { isLogQuery, withMatcher, withLabelFilter, quote, lineFilterRegex } from './logql.js';
import { Editor } from './editor.js';
import { RangePicker } from './range.js';
import { Histogram } from './histogram.js';
import { LineChart } from './chart.js';
import { LogList } from './loglist.js';

const LIMITS = [100, 500, 1000, 5000, 10000, 100000];
/** The level a line states (`level=warn`, `"level":"warn"`, `severity: warn`), for the histogram. */
const LEVEL_RE = String.raw`"(?i)\\b(?:level|lvl|severity)\\W{1,4}(?P<level>[a-z]+)"`;
/** Labels worth a chip on every row when they differ between streams, first first. */
const CHIP_ORDER = ['namespace', 'pod', 'container', 'service_name', 'job', 'app', 'node', 'filename', 'stream'];

export function mount(root, params, nav) {
  const st = {
    q: params.get('q') || '',
    from: params.get('from') || 'now-1h',
    to: params.get('to') || 'now',
    step: params.get('step') || '',
    limit: +(params.get('limit') || 1000),
    wrap: params.get('wrap') === '1',
    pretty: params.get('pretty') === '1',
  };
  let ctrl = null;
  let selected = null;
  const cache = { names: null, values: new Map(), at: 0 };

  const bounds = () => {
    const now = Date.now();
    return { from: parseTime(st.from, now), to: parseTime(st.to, now) };
  };
  // Completion data, fetched once per minute.
  const fresh = () => {
    if (Date.now() - cache.at > 60e3) { cache.names = null; cache.values.clear(); cache.at = Date.now(); }
  };
  const editor = new Editor({
    onRun: (q) => { st.q = q; run(true); },
    names: async () => {
      fresh();
      const b = bounds();
      cache.names ??= api.labels(b.from, b.to).catch((e) => { cache.names = null; throw e; });
      return cache.names;
    },
    values: async (name) => {
      fresh();
      const b = bounds();
      if (!cache.values.has(name)) {
        cache.values.set(name, api.labelValues(name, b.from, b.to).catch((e) => { cache.values.delete(name); throw e; }));
      }
      return cache.values.get(name);
    },
  });
  editor.value = st.q;

  const range = new RangePicker({ from: st.from, to: st.to, onChange: (f, t) => { st.from = f; st.to = t; run(true); } });
  const stepIn = h('input', {
    value: st.step, placeholder: 'auto', size: 5, 'aria-label': 'Step', title: 'Step of metric queries and the histogram (e.g. 30s, 5m); empty: automatic',
    onchange: () => { st.step = stepIn.value.trim(); run(false); },
  });
  const limitSel = h('select', { 'aria-label': 'Line limit', title: 'Most lines to show', onchange: () => { st.limit = +limitSel.value; run(false); } },
    [...new Set([...LIMITS, st.limit])].sort((a, b) => a - b).map((n) => h('option', { value: n, selected: n === st.limit, text: `${num(n)} lines` })));
  const tailBtn = h('button', {
    text: 'Tail', title: 'Follow this query live', onclick: () => nav.go('/ui/tail', new URLSearchParams({ q: editor.value.trim() })),
  });
  const runBtn = h('button.primary', { text: 'Run query', title: 'Run (Enter)', 'data-testid': 'run', onclick: () => { st.q = editor.value; run(true); } });
  const errLine = h('div.query-error', { hidden: true, 'data-testid': 'query-error' });

  const hist = h('div');
  const chartBox = h('div.metric');
  const wrapBtn = h('button.toggle', { text: 'Wrap', 'aria-pressed': String(st.wrap), title: 'Wrap lines (w)', onclick: () => setWrap(!st.wrap) });
  const prettyBtn = h('button.toggle', { text: 'Pretty JSON', 'aria-pressed': String(st.pretty), title: 'Show JSON lines indented', onclick: () => setPretty(!st.pretty) });
  const count = h('span.count', { 'data-testid': 'count' });
  const moreBtn = h('button', { text: 'Older lines', hidden: true, 'data-testid': 'older', title: 'Load the next lines before the oldest shown', onclick: () => older() });
  let shown = { streams: 0, more: false };
  const common = h('span.common');
  const resbar = h('div.resbar', {}, count, common, moreBtn, wrapBtn, prettyBtn);
  const details = h('aside.details', { hidden: true, 'aria-label': 'Line details' });
  const split = h('div.split');
  const loading = h('div.loading', { hidden: true, text: 'loading…' });
  const results = h('div.results', { style: { display: 'flex', flexDirection: 'column', gap: '8px', flex: '1', minHeight: '0', position: 'relative' } }, resbar, split, loading);
  const welcome = h('div');
  const view = h('section.view.explore', {},
    h('div.querybar', {}, editor.el, range.el, h('label.inline', {}, 'Step', stepIn), limitSel, tailBtn, runBtn),
    errLine, hist, chartBox, welcome, results);
  root.append(view);

  const list = new LogList(split, {
    empty: 'No lines in this range.',
    onOpen: (row) => openDetails(row),
    onChip: (name, value, kind, exclude) => filter(name, value, kind, exclude),
  });
  split.append(details);
  const histogram = new Histogram(hist, { onZoom: (a, b) => { st.from = new Date(a).toISOString(); st.to = new Date(b).toISOString(); range.set(st.from, st.to); run(true); } });
  let chart = null;

  function setWrap(on) {
    st.wrap = on;
    wrapBtn.setAttribute('aria-pressed', String(on));
    list.setWrap(on);
    save(false);
  }
  function setPretty(on) {
    st.pretty = on;
    prettyBtn.setAttribute('aria-pressed', String(on));
    applyPretty(list.rows);
    if (on && !st.wrap) setWrap(true); else { list.layout(); list.render(true); save(false); }
  }
  function applyPretty(rows) {
    for (const r of rows) {
      if (!st.pretty) { r.text = undefined; continue; }
      const p = prettyJson(r.line);
      r.text = p ?? undefined;
    }
  }

  function save(push) {
    const p = new URLSearchParams();
    if (st.q) p.set('q', st.q);
    if (st.from !== 'now-1h') p.set('from', st.from);
    if (st.to !== 'now') p.set('to', st.to);
    if (st.step) p.set('step', st.step);
    if (st.limit !== 1000) p.set('limit', st.limit);
    if (st.wrap) p.set('wrap', '1');
    if (st.pretty) p.set('pretty', '1');
    nav.save('/ui/explore', p, push);
  }

  /** A chip or a details button: the query keeps (or drops) lines with name=value. */
  function filter(name, value, kind, exclude) {
    if (!isLogQuery(st.q)) return;
    const op = exclude ? '!=' : '=';
    st.q = kind === 'stream' ? withMatcher(st.q, name, value, op) : withLabelFilter(st.q, name, value, op);
    editor.value = st.q;
    run(true);
  }

  async function run(push) {
    st.q = editor.value.trim();
    save(push);
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    errLine.hidden = true;
    closeDetails();
    if (!st.q) return showWelcome();
    welcome.replaceChildren();
    const { from, to } = bounds();
    if (isNaN(from) || isNaN(to) || from >= to) return showError(new Error('the time range is not valid'));
    let step = st.step ? parseDuration(st.step) : NaN;
    const log = isLogQuery(st.q);
    tailBtn.disabled = !log;
    loading.hidden = false;
    try {
      if (log) {
        if (isNaN(step)) step = niceStep(to - from, Math.max(40, Math.floor(hist.clientWidth / 9) || 120));
        hist.hidden = false;
        chartBox.hidden = true;
        results.hidden = false;
        const lines = api.queryRange(st.q, { from, to, limit: st.limit, direction: 'backward', signal });
        volume(st.q, from, to, step, signal);
        showLines(await lines);
      } else {
        if (isNaN(step)) step = niceStep(to - from, 200);
        hist.hidden = true;
        results.hidden = true;
        chartBox.hidden = false;
        const data = await api.queryRange(st.q, { from, to, step, signal });
        showChart(data, from, to, step);
      }
    } catch (e) {
      if (e.name !== 'AbortError') showError(e);
    } finally {
      if (!signal.aborted) loading.hidden = true;
    }
  }

  /**
   * The histogram from `sum by (level) (count_over_time(Q [step]))`; a query without a
   * parser gets a `regexp` stage that finds `level=x`, `"level": "x"` and the like.
   */
  async function volume(q, from, to, step, signal) {
    const parsed = /\|\s*(json|logfmt|regexp|pattern|unpack)\b/.test(q);
    // `keep level`: one series per level, however many streams or parsed labels.
    const lq = parsed ? `${q} | drop __error__, __error_details__ | keep level` : `${q} | regexp ${LEVEL_RE} | keep level`;
    const mq = `sum by (level) (count_over_time(${lq} [${formatDuration(step)}]))`;
    // Whole buckets: the first ends one step after `from`, so bars start at the range's start.
    const start = Math.ceil(from / step) * step, end = Math.ceil(to / step) * step;
    try {
      const d = await api.queryRange(mq, { from: start, to: end, step, signal });
      // One series per level however spelt (WARN, warning, W).
      const by = new Map();
      for (const s of d.result || []) {
        const name = normLevel(s.metric.level) || s.metric.level || 'logs';
        if (!by.has(name)) by.set(name, new Map());
        const pts = by.get(name);
        for (const [t, v] of s.values) pts.set(t * 1000, (pts.get(t * 1000) || 0) + +v);
      }
      const series = [...by].map(([name, pts]) => ({ name, points: [...pts] }));
      histogram.setData({ from, to, step, series });
    } catch (e) {
      if (e.name !== 'AbortError') histogram.setMessage(`no volume: ${e.message}`);
    }
  }

  function showLines(data) {
    const { rows, labelValues, streams } = toRows(data);
    // Labels with one value everywhere go in the bar; those that differ get row chips.
    const everywhere = (k) => streams.every((s) => k in (s.stream || {}));
    const differ = [...labelValues].filter(([k, v]) => v.size > 1 || !everywhere(k)).map(([k]) => k);
    const chipKeys = [...CHIP_ORDER.filter((k) => differ.includes(k)), ...differ.filter((k) => !CHIP_ORDER.includes(k))].slice(0, 3);
    common.replaceChildren(...[...labelValues].filter(([k, v]) => v.size === 1 && everywhere(k))
      .map(([k, v]) => chip(k, [...v][0], 'stream')));
    applyPretty(rows);
    list.highlight = lineFilterRegex(st.q);
    list.setRows(rows, chipKeys);
    shown = { streams: streams.length, more: rows.length >= st.limit };
    counts();
  }

  function counts() {
    const n = list.length;
    count.textContent = `${num(n)} line${n === 1 ? '' : 's'}${shown.more ? ' (more in the range)' : ''} · ${shown.streams} stream${shown.streams === 1 ? '' : 's'}`;
    moreBtn.hidden = !shown.more;
  }

  /** The next `limit` lines older than the oldest shown, appended. */
  async function older() {
    const last = list.rows[list.length - 1];
    if (!last) return;
    moreBtn.disabled = true;
    try {
      const { from } = bounds();
      const data = await api.get('/loki/api/v1/query_range', {
        query: st.q, start: ns(from), end: last.ts, limit: st.limit, direction: 'backward',
      }, { headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
      const { rows, streams } = toRows(data.data);
      applyPretty(rows);
      list.append(rows);
      shown = { streams: Math.max(shown.streams, streams.length), more: rows.length >= st.limit };
      counts();
    } catch (e) {
      toast(e.message, 5000);
    } finally {
      moreBtn.disabled = false;
    }
  }

  function chip(name, value, kind) {
    return h('span.chip', {
      title: `${name}=${value} · click: show only · Alt+click: hide`, 'data-name': name,
      onclick: (e) => filter(name, value, kind, e.altKey || e.shiftKey),
    }, h('b', { text: name + '=' }), value);
  }

  function showChart(data, from, to, step) {
    if (!chart) chart = new LineChart(chartBox);
    let result = data.result || [];
    if (data.resultType === 'vector') result = result.map((s) => ({ metric: s.metric, values: [s.value] }));
    if (data.resultType === 'scalar') result = [{ metric: {}, values: [data.result] }];
    const series = result.map((s) => ({
      name: seriesName(s.metric), step,
      points: s.values.map(([t, v]) => [t * 1000, +v]),
    }));
    chart.setData({ from, to, series });
  }

  function showError(e) {
    const pos = e instanceof api.ApiError ? e.position : null;
    if (e instanceof api.ApiError && e.status === 400) editor.setError(e.message, pos);
    errLine.textContent = e.message;
    errLine.hidden = false;
    list.setRows([]);
    count.textContent = '';
    moreBtn.hidden = true;
    histogram.setMessage('');
  }

  async function showWelcome() {
    hist.hidden = true; chartBox.hidden = true; results.hidden = true; loading.hidden = true;
    const box = h('div.notice', {}, h('strong', { text: 'Start with a stream selector' }),
      h('div', { html: 'Type a LogQL query such as <code>{namespace="default"} |= "error"</code>, or pick a stream. <kbd>Ctrl</kbd>+<kbd>Space</kbd> completes label names and values.' }));
    welcome.replaceChildren(box);
    try {
      const b = bounds();
      const names = await api.labels(b.from, b.to);
      for (const name of ['namespace', 'service_name', 'job'].filter((n) => names.includes(n)).slice(0, 2)) {
        const values = await api.labelValues(name, b.from, b.to);
        box.append(h('div.row', { style: { marginTop: '10px' } }, h('span.muted', { text: name }),
          values.slice(0, 30).map((v) => h('span.chip', { text: v, onclick: () => { editor.value = `{${name}=${quote(v)}}`; run(true); } }))));
      }
      if (!names.length) box.append(h('div.muted', { style: { marginTop: '8px' }, text: 'The store has no streams in this range yet.' }));
    } catch { /* the hint stays */ }
  }

  function openDetails(row) {
    selected = row;
    const t = splitNs(row.ts);
    const kv = h('div.kv');
    const add = (k, v, kind) => kv.append(
      h('span.k', { text: k }), h('span.v', { text: v }),
      h('span.acts', {},
        h('button', { text: '+', title: `show only ${k}=${v}`, 'aria-label': `filter for ${k}`, onclick: () => filter(k, v, kind, false) }),
        h('button', { text: '−', title: `hide ${k}=${v}`, 'aria-label': `filter out ${k}`, onclick: () => filter(k, v, kind, true) })));
    for (const [k, v] of Object.entries(row.labels)) add(k, v, 'stream');
    for (const [k, v] of Object.entries(row.meta)) add(k, v, 'meta');
    for (const [k, v] of Object.entries(row.parsed)) add(k, v, 'meta');
    const pretty = prettyJson(row.line);
    const lineBox = h('pre.linebox', { html: pretty ? highlightJson(pretty) : esc(row.line) });
    const ctxBox = h('div');
    details.replaceChildren(
      h('header', {}, h('h3', { text: `${t.date} ${t.time}` }),
        h('button', { text: 'Copy', title: 'Copy the line', onclick: () => navigator.clipboard?.writeText(row.line).then(() => toast('Copied')) }),
        h('button', { text: 'Context', title: 'Lines around this one in its stream', 'data-testid': 'context', onclick: () => context(row, ctxBox) }),
        row.labels.pod && row.labels.namespace ? h('button', {
          text: 'Pod', title: `${row.labels.namespace}/${row.labels.pod} in the Pods view`,
          onclick: () => nav.go('/ui/pods', new URLSearchParams({ ns: row.labels.namespace, find: row.labels.pod })),
        }) : null,
        h('button.icon', { text: '×', title: 'Close (Esc)', 'aria-label': 'Close', onclick: closeDetails })),
      h('div.body', {},
        h('div', {}, h('h4', { text: pretty ? 'Line (JSON)' : 'Line' }), lineBox),
        h('div', {}, h('h4', { text: 'Labels' }), kv),
        h('div', {}, h('h4', { text: 'Timestamp' }), h('div.mono', { text: `${row.ts} ns` })),
        ctxBox));
    details.hidden = false;
  }

  function closeDetails() {
    details.hidden = true;
    selected = null;
  }

  /** Ten lines either side in the line's own stream, from the store. */
  async function context(row, box) {
    box.replaceChildren(h('h4', { text: 'Context' }), h('div.muted', { text: 'loading…' }));
    const sel = '{' + Object.entries(row.labels).map(([k, v]) => `${k}=${quote(v)}`).join(', ') + '}';
    const at = BigInt(row.ts);
    const ms = Number(at / 1000000n);
    try {
      const q = (from, to, direction) => api.get('/loki/api/v1/query_range', {
        query: sel, start: from, end: to, limit: 10, direction,
      });
      const [before, after] = await Promise.all([
        q(ns(ms - 3600e3), row.ts, 'backward'),
        q((at + 1n).toString(), ns(ms + 3600e3), 'forward'),
      ]);
      const flat = (d) => (d.data.result || []).flatMap((s) => s.values);
      const lines = [...flat(before).reverse(), [row.ts, row.line, 'here'], ...flat(after)];
      box.replaceChildren(h('h4', { text: `Context in ${sel}` }), h('div.context', {}, lines.map(([t, l, here]) =>
        h(here ? 'div.here' : 'div', {}, h('span.ts', { text: splitNs(t).time }), l))));
      box.querySelector('.here')?.scrollIntoView({ block: 'center' });
    } catch (e) {
      box.replaceChildren(h('h4', { text: 'Context' }), h('div.query-error', { text: e.message }));
    }
  }

  const keys = (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'w') { setWrap(!st.wrap); e.preventDefault(); }
    else if (e.key === 'Escape' && selected) { closeDetails(); list.el.focus(); }
    else if ((e.key === 'j' || e.key === 'k') && document.activeElement !== list.el) { list.el.focus(); list.key(e); }
  };
  document.addEventListener('keydown', keys);
  st.wrap ||= st.pretty;
  wrapBtn.setAttribute('aria-pressed', String(st.wrap));
  if (st.wrap) list.setWrap(true);
  run(false);

  return {
    focusQuery: () => editor.focus(),
    unmount() {
      if (ctrl) ctrl.abort();
      document.removeEventListener('keydown', keys);
      histogram.destroy();
      list.destroy();
      if (chart) chart.destroy();
    },
  };
}

/** A streams answer as rows, newest first, and the values each stream label takes. */
function toRows(data) {
  const rows = [];
  const labelValues = new Map();
  const streams = data.result || [];
  for (const s of streams) {
    const labels = s.stream || {};
    for (const [k, v] of Object.entries(labels)) {
      if (!labelValues.has(k)) labelValues.set(k, new Set());
      labelValues.get(k).add(v);
    }
    for (const v of s.values) {
      const extra = v[2] || {};
      const meta = extra.structuredMetadata || {}, parsed = extra.parsed || {};
      const lvl = labels.level ?? meta.level ?? parsed.level ?? labels.detected_level ?? meta.detected_level;
      rows.push({ ts: v[0], line: v[1], labels, meta, parsed, level: lvl ? normLevel(lvl) : sniffLevel(v[1]) });
    }
  }
  rows.sort((a, b) => b.ts.length - a.ts.length || (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0));
  return { rows, labelValues, streams };
}

/** `{a="1", b="2"}` for a metric's labels. */
function seriesName(m) {
  const e = Object.entries(m || {});
  return e.length ? '{' + e.map(([k, v]) => `${k}="${v}"`).join(', ') + '}' : '{}';
}

/** The line indented when it is a JSON object or array, else null. */
export function prettyJson(line) {
  const s = line.trim();
  if (!(s.startsWith('{') && s.endsWith('}')) && !(s.startsWith('[') && s.endsWith(']'))) return null;
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return null; }
}

/** Indented JSON with keys, strings, numbers and literals coloured. */
export function highlightJson(text) {
  return esc(text).replace(/(&quot;(?:[^&\\]|\\.|&(?!quot;))*&quot;)(\s*:)?|\b(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\b|\b(true|false|null)\b/g,
    (m, str, colon, n, lit) => str ? `<span class="${colon ? 'json-key' : 'json-str'}">${str}</span>${colon || ''}`
      : n ? `<span class="json-num">${n}</span>` : `<span class="json-lit">${lit}</span>`);
}

// Resources: `kubectl top`-style tables of nodes and pods (metrics.k8s.io, as
// metrics-server serves it) with sparklines, and charts over time for the selected one
// (`/kelp/api/v1/resources/range`). Refreshed every 15 s.
import { h, esc, cores, bytes, typing } from './util.js';
import { parseDuration, formatDate } from './time.js';
import { sparkline, LineChart } from './chart.js';
import * as api from './api.js';

const HISTORY = [['15m', '15 minutes'], ['1h', '1 hour'], ['6h', '6 hours'], ['24h', '24 hours']];
const REFRESH_MS = 15000;

export function mount(root, params, nav) {
  const st = {
    kind: params.get('kind') === 'pods' ? 'pods' : 'nodes',
    ns: params.get('ns') || '',
    range: params.get('range') || '1h',
    sort: params.get('sort') || 'cpu',
    sel: params.get('sel') || '',
  };
  let items = [], history = new Map(), error = null, historyError = null;
  let charts = null;

  const seg = h('div.segmented', { role: 'group', 'aria-label': 'Kind' },
    ['nodes', 'pods'].map((k) => h('button', { text: k === 'nodes' ? 'Nodes' : 'Pods', 'aria-pressed': String(st.kind === k), 'data-kind': k,
      onclick: () => { st.kind = k; st.sel = ''; for (const b of seg.children) b.setAttribute('aria-pressed', String(b.dataset.kind === k)); load(); } })));
  const nsSel = h('select', { 'aria-label': 'Namespace', onchange: () => { st.ns = nsSel.value; paint(); } });
  const rangeSel = h('select', { 'aria-label': 'History', title: 'Time covered by sparklines and charts', onchange: () => { st.range = rangeSel.value; load(); } },
    HISTORY.map(([v, t]) => h('option', { value: v, text: `History: ${t}`, selected: v === st.range })));
  const stamp = h('span.muted');
  const note = h('div');
  const table = h('div.tablewrap');
  const detail = h('div.res-detail', { hidden: true });
  const view = h('section.view.resources', {},
    h('div.row', {}, seg, nsSel, rangeSel, h('button', { text: 'Refresh', onclick: () => load() }), h('span.spacer'), stamp),
    note, table, detail);
  root.append(view);

  function save() {
    const p = new URLSearchParams();
    if (st.kind !== 'nodes') p.set('kind', st.kind);
    if (st.ns) p.set('ns', st.ns);
    if (st.range !== '1h') p.set('range', st.range);
    if (st.sort !== 'cpu') p.set('sort', st.sort);
    if (st.sel) p.set('sel', st.sel);
    nav.save('/ui/resources', p, false);
  }

  const key = (x) => (x.namespace ? `${x.namespace}/${x.name}` : x.name);

  async function load() {
    const end = Date.now(), start = end - parseDuration(st.range);
    const step = Math.max(15e3, Math.round((end - start) / 60 / 15e3) * 15e3);
    const [cur, hist] = await Promise.allSettled([
      api.metricsList(st.kind),
      api.resourcesRange({ kind: st.kind === 'nodes' ? 'node' : 'pod', start, end, step }),
    ]);
    error = cur.status === 'rejected' ? cur.reason : null;
    historyError = hist.status === 'rejected' ? hist.reason : null;
    items = cur.status === 'fulfilled' ? cur.value.map((it) => {
      const usage = it.usage || (it.containers || []).reduce((a, c) => ({
        cpu: a.cpu + api.quantity(c.usage.cpu), memory: a.memory + api.quantity(c.usage.memory),
      }), { cpu: 0, memory: 0 });
      return {
        name: it.metadata.name, namespace: it.metadata.namespace || '',
        cpu: typeof usage.cpu === 'number' ? usage.cpu : api.quantity(usage.cpu),
        memory: typeof usage.memory === 'number' ? usage.memory : api.quantity(usage.memory),
        containers: (it.containers || []).length, timestamp: it.timestamp,
      };
    }) : [];
    history = new Map();
    if (hist.status === 'fulfilled') {
      for (const s of hist.value.series || []) {
        history.set(s.kind === 'node' ? s.node : `${s.namespace}/${s.pod}`, s);
      }
    }
    const nss = [...new Set(items.map((i) => i.namespace).filter(Boolean))].sort();
    nsSel.hidden = st.kind !== 'pods';
    nsSel.replaceChildren(h('option', { value: '', text: 'All namespaces' }), ...nss.map((n) => h('option', { value: n, text: n, selected: n === st.ns })));
    stamp.textContent = items[0]?.timestamp ? `as of ${formatDate(Date.parse(items[0].timestamp)).slice(11)}` : '';
    paint();
    if (st.sel) showDetail(st.sel, start, end, step);
  }

  function paint() {
    save();
    note.replaceChildren();
    if (error) {
      table.replaceChildren(error.status === 404 ? h('div.notice', { style: { margin: '12px' } },
        h('strong', { text: 'This server has no resource metrics. ' }),
        h('span', { html: `<code>GET /apis/metrics.k8s.io/v1beta1/${st.kind}</code> answered 404: this <code>kelp server</code> does not collect resource metrics yet.` }))
        : h('div.notice.error', { style: { margin: '12px' }, text: `Resource metrics could not be read: ${error.message}` }));
      detail.hidden = true;
      return;
    }
    if (historyError) {
      note.append(h('div.notice', {}, historyError.status === 404
        ? h('span', { html: 'No history: <code>GET /kelp/api/v1/resources/range</code> answered 404 on this server, so sparklines and charts are empty.' })
        : `No history: ${historyError.message}`));
    }
    const rows = items.filter((i) => !st.ns || i.namespace === st.ns);
    const by = { cpu: (a, b) => b.cpu - a.cpu, memory: (a, b) => b.memory - a.memory, name: (a, b) => key(a).localeCompare(key(b)) }[st.sort] || ((a, b) => b.cpu - a.cpu);
    rows.sort(by);
    const maxCpu = Math.max(...rows.map((r) => r.cpu), 1e-9), maxMem = Math.max(...rows.map((r) => r.memory), 1);
    const pods = st.kind === 'pods';
    const th = (k, text, cls = '') => h('th', { text, class: cls, 'data-sort': k, 'aria-sort': st.sort === k ? 'descending' : null, onclick: () => { st.sort = k; paint(); } });
    const body = h('tbody');
    for (const r of rows) {
      const s = history.get(key(r));
      const cpuSeries = s ? s.cpu.map((p) => p[1]) : [];
      const memSeries = s ? s.memory.map((p) => p[1]) : [];
      const tr = h('tr.item', {
        tabindex: '0', 'data-key': key(r), class: `item${st.sel === key(r) ? ' sel' : ''}`,
        onclick: () => select(key(r)), onkeydown: (e) => { if (e.key === 'Enter') select(key(r)); },
      },
      h('td.name', {}, r.name),
      pods ? h('td', { text: r.namespace }) : null,
      h('td.num', { html: `${esc(cores(r.cpu))}<span class="bar" style="width:${Math.max(2, 60 * r.cpu / maxCpu)}px"></span>` }),
      h('td.wide', { html: sparkline(cpuSeries, { stroke: 'var(--info)' }) }),
      h('td.num', { html: `${esc(bytes(r.memory))}<span class="bar" style="width:${Math.max(2, 60 * r.memory / maxMem)}px;background:var(--hl-kw)"></span>` }),
      h('td.wide', { html: sparkline(memSeries, { stroke: 'var(--hl-kw)' }) }));
      body.append(tr);
    }
    table.replaceChildren(rows.length ? h('table.grid', { 'data-testid': 'resources' },
      h('thead', {}, h('tr', {}, th('name', pods ? 'Pod' : 'Node'), pods ? h('th', { text: 'Namespace' }) : null,
        th('cpu', 'CPU (cores)', 'num'), h('th.wide', { text: 'CPU history' }), th('memory', 'Memory (bytes)', 'num'), h('th.wide', { text: 'Memory history' }))),
      body) : h('div.empty', { text: `No ${st.kind} reported yet.` }));
  }

  function select(k) {
    st.sel = st.sel === k ? '' : k;
    const end = Date.now(), start = end - parseDuration(st.range);
    paint();
    if (st.sel) showDetail(st.sel, start, end, Math.max(15e3, Math.round((end - start) / 120 / 15e3) * 15e3));
    else detail.hidden = true;
  }

  /** CPU and memory over the range: the node, or the pod per container. */
  async function showDetail(k, start, end, step) {
    detail.hidden = false;
    if (!charts) {
      const cpuBox = h('div.card'), memBox = h('div.card');
      detail.replaceChildren(cpuBox, memBox);
      cpuBox.append(h('h3', {}, 'CPU (cores) · ', h('span.mono.cpu-title')));
      memBox.append(h('h3', {}, 'Memory (working set) · ', h('span.mono.mem-title')));
      charts = { cpu: new LineChart(cpuBox, { yFormat: cores, height: 200 }), mem: new LineChart(memBox, { yFormat: bytes, height: 200, binary: true }) };
      for (const c of [charts.cpu, charts.mem]) c.box.classList.remove('card');
    }
    for (const t of detail.querySelectorAll('.cpu-title, .mem-title')) t.textContent = k;
    const [ns, pod] = k.includes('/') ? k.split('/') : ['', ''];
    let series = [];
    try {
      const d = await api.resourcesRange(st.kind === 'nodes'
        ? { kind: 'node', node: k, start, end, step }
        : { kind: 'container', namespace: ns, pod, start, end, step });
      series = d.series || [];
    } catch (e) {
      series = [];
    }
    const name = (s) => (s.kind === 'container' ? s.container : s.node || s.pod);
    charts.cpu.setData({ from: start, to: end, series: series.map((s) => ({ name: name(s), step, points: s.cpu.map(([t, v]) => [t * 1000, v]) })) });
    charts.mem.setData({ from: start, to: end, series: series.map((s) => ({ name: name(s), step, points: s.memory.map(([t, v]) => [t * 1000, v]) })) });
  }

  const keys = (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const trs = [...table.querySelectorAll('tr.item')];
    if (!trs.length || (e.key !== 'j' && e.key !== 'k')) return;
    e.preventDefault();
    const cur = trs.indexOf(document.activeElement);
    trs[Math.max(0, Math.min(trs.length - 1, cur + (e.key === 'j' ? 1 : -1)))].focus();
  };
  document.addEventListener('keydown', keys);
  load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  return {
    unmount() {
      clearInterval(timer);
      document.removeEventListener('keydown', keys);
      if (charts) { charts.cpu.destroy(); charts.mem.destroy(); }
    },
  };
}



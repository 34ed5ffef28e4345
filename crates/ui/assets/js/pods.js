// Pods: namespaces → pods → containers, from `/kelp/api/v1/pods` (deleted pods included),
// each container instance opening its logs in Explore (the previous restart too).
import { h, num, typing } from './util.js';
import { ago, formatDate, parseDuration } from './time.js';
import { quote } from './logql.js';
import * as api from './api.js';

const SINCE = [['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']];

export function mount(root, params, nav) {
  const st = {
    ns: params.get('ns') || '',
    since: params.get('since') || '24h',
    deleted: params.get('deleted') !== '0',
    find: params.get('find') || '',
    open: new Set((params.get('open') || '').split(',').filter(Boolean)),
  };
  let pods = [];
  let error = null;
  let sel = -1;

  const sinceSel = h('select', { 'aria-label': 'Seen in', onchange: () => { st.since = sinceSel.value; load(); } },
    SINCE.map(([v, t]) => h('option', { value: v, text: t, selected: v === st.since })));
  const deletedBox = h('input', { type: 'checkbox', checked: st.deleted, onchange: () => { st.deleted = deletedBox.checked; paint(); } });
  const find = h('input', { type: 'search', placeholder: 'Filter pods', value: st.find, 'aria-label': 'Filter pods', oninput: () => { st.find = find.value; paint(); } });
  const summary = h('span.muted');
  const nslist = h('nav.nslist', { 'aria-label': 'Namespaces' });
  const table = h('div.tablewrap');
  const view = h('section.view.pods', {},
    h('div.row', {}, find, sinceSel, h('label.inline', {}, deletedBox, 'Show deleted pods'),
      h('button', { text: 'Refresh', onclick: () => load() }), h('span.spacer'), summary),
    h('div.pods-layout', {}, nslist, table));
  root.append(view);

  function save() {
    const p = new URLSearchParams();
    if (st.ns) p.set('ns', st.ns);
    if (st.since !== '24h') p.set('since', st.since);
    if (!st.deleted) p.set('deleted', '0');
    if (st.find) p.set('find', st.find);
    if (st.open.size) p.set('open', [...st.open].join(','));
    nav.save('/ui/pods', p, false);
  }

  async function load() {
    const to = Date.now(), from = to - parseDuration(st.since);
    table.replaceChildren(h('div.empty', { text: 'loading…' }));
    try {
      pods = await api.pods(from, to);
      error = null;
    } catch (e) {
      pods = [];
      error = e;
    }
    paint();
  }

  function visible() {
    const f = st.find.toLowerCase();
    return pods.filter((p) => (!st.ns || p.namespace === st.ns) && (st.deleted || p.exists !== false) &&
      (!f || p.pod.toLowerCase().includes(f) || (p.node || '').toLowerCase().includes(f)));
  }

  function paint() {
    save();
    nslist.hidden = !!error;
    if (error) {
      nslist.replaceChildren();
      summary.textContent = '';
      table.replaceChildren(error.status === 404 ? h('div.notice', { style: { margin: '12px' } },
        h('strong', { text: 'This server has no pods API. ' }),
        h('span', { html: `<code>GET /kelp/api/v1/pods</code> answered 404: this <code>kelp server</code> is older than the pods view. Logs are still in <a href="/ui/explore" data-link>Explore</a>.` }))
        : h('div.notice.error', { style: { margin: '12px' }, text: `Pods could not be listed: ${error.message}` }));
      return;
    }
    const counts = new Map();
    for (const p of pods) if (st.deleted || p.exists !== false) counts.set(p.namespace, (counts.get(p.namespace) || 0) + 1);
    const all = [...counts.values()].reduce((a, b) => a + b, 0);
    nslist.replaceChildren(
      nsButton('', 'All namespaces', all),
      ...[...counts].sort(([a], [b]) => a.localeCompare(b)).map(([n, c]) => nsButton(n, n, c)));
    const rows = visible().sort((a, b) => a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod) || b.last_seen.localeCompare(a.last_seen));
    const gone = rows.filter((p) => p.exists === false).length;
    summary.textContent = `${num(rows.length)} pod${rows.length === 1 ? '' : 's'}${gone ? ` · ${gone} deleted` : ''}`;
    if (!rows.length) {
      table.replaceChildren(h('div.empty', { text: pods.length ? 'No pod matches.' : 'No pods have logs in this range.' }));
      return;
    }
    const body = h('tbody');
    rows.forEach((p) => {
      const open = st.open.has(p.uid);
      const tr = h('tr.item', {
        tabindex: '0', 'data-uid': p.uid, 'data-pod': p.pod, class: `item${open ? ' open' : ''}${p.exists === false ? ' gone' : ''}`,
        onclick: () => toggle(p.uid),
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(p.uid); } },
      },
      h('td', {}, h('span.caret', { text: '▸' })),
      h('td.name', {}, p.pod),
      h('td', { class: st.ns ? 'wide' : '' }, p.namespace),
      h('td', {}, state(p)),
      h('td.wide', {}, p.node || '—'),
      h('td.num', {}, String(p.containers.length)),
      h('td.num', {}, String(p.restarts)),
      h('td.wide', { title: p.first_seen }, ago(Date.parse(p.first_seen))),
      h('td', { title: p.last_seen }, ago(Date.parse(p.last_seen))));
      body.append(tr);
      if (open) body.append(h('tr.sub', {}, h('td', { colspan: 9 }, containers(p))));
    });
    table.replaceChildren(h('table.grid', { 'data-testid': 'pods' },
      h('thead', {}, h('tr', {}, h('th', { style: { width: '28px' } }), h('th', { text: 'Pod' }), h('th', { text: 'Namespace', class: st.ns ? 'wide' : '' }),
        h('th', { text: 'State' }), h('th.wide', { text: 'Node' }), h('th.num', { text: 'Containers' }), h('th.num', { text: 'Restarts' }),
        h('th.wide', { text: 'First seen' }), h('th', { text: 'Last seen' }))),
      body));
  }

  function nsButton(value, label, n) {
    return h('button', { 'aria-current': String(st.ns === value), onclick: () => { st.ns = value; sel = -1; paint(); } },
      h('span', { text: label }), h('span.n', { text: num(n) }));
  }

  function toggle(uid) {
    st.open.has(uid) ? st.open.delete(uid) : st.open.add(uid);
    paint();
    table.querySelector(`tr[data-uid="${CSS.escape(uid)}"]`)?.focus();
  }

  function state(p) {
    const [cls, text] = p.exists === true ? ['live', 'Running'] : p.exists === false ? ['gone', 'Deleted'] : ['warn', 'Unknown'];
    return h('span.state', { title: p.exists === null ? 'the agent has not said whether this pod still exists' : '' }, h(`span.dot.${cls}`), text);
  }

  function containers(p) {
    const grid = h('div.containers', {},
      ['Container', 'Restarts', 'First seen', 'Last seen', 'Logs'].map((t) => h('span.h', { text: t })));
    for (const c of p.containers) {
      const acts = h('span.acts');
      acts.append(h('button.primary', { text: p.exists === false ? 'Logs (last instance)' : 'Logs', 'data-testid': 'logs', onclick: () => logs(p, c, c.restarts) }));
      acts.append(h('button', { text: 'Previous', disabled: c.restarts < 1, title: c.restarts < 1 ? 'this container never restarted' : `restart ${c.restarts - 1}, as kubectl logs --previous`, onclick: () => logs(p, c, c.restarts - 1) }));
      if (c.restarts > 1) {
        const older = h('select', { 'aria-label': 'Older restarts', onchange: () => older.value !== '' && logs(p, c, +older.value) },
          h('option', { value: '', text: 'Older…' }),
          Array.from({ length: c.restarts - 1 }, (_, i) => c.restarts - 2 - i).map((r) => h('option', { value: r, text: `restart ${r}` })));
        acts.append(older);
      }
      acts.append(h('button', { text: 'All restarts', onclick: () => logs(p, c, null) }));
      grid.append(h('span.mono', { text: c.name }), h('span', { text: String(c.restarts) }),
        h('span', { title: c.first_seen, text: formatDate(Date.parse(c.first_seen)) }),
        h('span', { title: c.last_seen, text: formatDate(Date.parse(c.last_seen)) }), acts);
    }
    return grid;
  }

  /** Explore with this container instance's lines over the time it was seen. */
  function logs(p, c, restart) {
    let q = `{namespace=${quote(p.namespace)}, pod=${quote(p.pod)}, container=${quote(c.name)}} | pod_uid=${quote(p.uid)}`;
    if (restart !== null) q += ` | restart=${quote(String(restart))}`;
    const pad = 60e3;
    const params = new URLSearchParams({
      q, from: new Date(Date.parse(c.first_seen) - pad).toISOString(), to: new Date(Date.parse(c.last_seen) + pad).toISOString(),
    });
    nav.go('/ui/explore', params);
  }

  const keys = (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const items = [...table.querySelectorAll('tr.item')];
    if (!items.length) return;
    if (e.key === 'j' || e.key === 'k') {
      e.preventDefault();
      const cur = items.indexOf(document.activeElement);
      const next = Math.max(0, Math.min(items.length - 1, (cur < 0 ? sel : cur) + (e.key === 'j' ? 1 : -1)));
      sel = next;
      items[next].focus();
    }
  };
  document.addEventListener('keydown', keys);
  load();
  return {
    focusQuery: () => find.focus(),
    unmount() { document.removeEventListener('keydown', keys); },
  };
}


// Kelp's web UI in a real browser: Debian's chromium driven by Playwright against a real
// `kelp server` that crates/kelp/tests/ui.rs started and fed.
//
//   node ui.test.mjs <server URL> <screenshot dir> '<facts JSON>'
//
// Facts (from the Rust side): {"shop": "<namespace of pushed lines>", "bulk": <lines in
// namespace bulk>, "deleted": {namespace, pod, uid, container} | null, "secured": {url,
// token (read, scoped to ns-a), write} of a second server that requires bearer tokens}.
// Prints one line per scenario and `N passed, N failed`; exits 1 when any failed.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, shots, factsJson] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node ui.test.mjs <server URL> <screenshot dir> [facts JSON]');
  process.exit(2);
}
const facts = JSON.parse(factsJson || '{}');
fs.mkdirSync(shots, { recursive: true });
const CHROMIUM = process.env.KELP_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/deps does)`);
  process.exit(3);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
const enc = encodeURIComponent;

/** Waits until f() (in the page) is truthy; its last value in the error. */
async function until(page, f, arg, timeout = 15000, what = 'condition') {
  try {
    await page.waitForFunction(f, arg, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
  }
}

async function push(streams) {
  const r = await fetch(`${url}/loki/api/v1/push`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ streams }),
  });
  assert(r.status === 204, `push answered ${r.status}: ${await r.text()}`);
}

const nowNs = () => BigInt(Date.now()) * 1000000n;
const editorValue = (page) => page.inputValue('.editor textarea');
const rows = (page) => page.locator('.logrow');

async function runQuery(page, q, extra = '') {
  await page.goto(`${url}/ui/explore?q=${enc(q)}${extra}`);
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, `lines of ${q}`);
  await until(page, () => /lines ·/.test(document.querySelector('.hist-title').textContent), null, 30000, `the volume of ${q}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name) });
}

// ---------------------------------------------------------------------------------------

test('a browser at / is sent to the UI, an API client is not', async (page) => {
  await page.goto(`${url}/`);
  assert(new URL(page.url()).pathname.startsWith('/ui/'), `landed on ${page.url()}`);
  await page.waitForSelector('.tabs a[aria-current="page"][data-view="explore"]');
  const r = await fetch(`${url}/`, { headers: { Accept: 'application/json' } });
  assert(r.headers.get('x-elastic-product') === 'Elasticsearch', 'GET / without text/html is Elasticsearch');
  assert((await r.json()).version.number, 'ES info document');
});

test('a server that wants a tenant gets one from the tenant field', async (page) => {
  // As a server with auth_enabled answers: 401 without X-Scope-OrgID.
  const seen = [];
  await page.route('**/loki/api/v1/**', (r) => {
    const t = r.request().headers()['x-scope-orgid'];
    seen.push(t || '');
    return t ? r.continue() : r.fulfill({ status: 401, body: 'no org id\n' });
  });
  await page.goto(`${url}/ui/explore?q=${enc(`{namespace="${facts.shop}"}`)}`);
  await page.waitForSelector('.tenant:not([hidden]) input');
  await page.fill('#tenant', 'team-a');
  await page.press('#tenant', 'Enter');
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, 'lines with the tenant');
  assert(seen.includes('team-a'), `headers sent: ${[...new Set(seen)]}`);
  await page.evaluate(() => localStorage.removeItem('kelp.tenant'));
});

test('pods: a deleted pod opens its logs', async (page) => {
  await page.goto(`${url}/ui/pods`);
  assert(facts.deleted, 'the simulator deleted a pod');
  const d = facts.deleted;
  const row = page.locator(`tr.item[data-uid="${d.uid}"]`);
  await row.waitFor({ timeout: 15000 });
  assert(/Deleted/.test(await row.textContent()), 'the pod is shown as deleted');
  await row.click();
  await shot(page, 'pods.png');
  const sub = page.locator(`tr.item[data-uid="${d.uid}"] + tr.sub`);
  await sub.locator('button[data-testid="logs"]').first().click();
  await until(page, () => location.pathname === '/ui/explore', null, 5000, 'explore');
  const q = await editorValue(page);
  assert(q.includes(`pod_uid="${d.uid}"`) && q.includes(`pod="${d.pod}"`), `query: ${q}`);
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, 'the deleted pod\'s lines');
  // A server without the API: the view says so and shows nothing made up.
  await page.route('**/kelp/api/v1/pods?*', (r) => r.fulfill({ status: 404, body: '404 page not found\n' }));
  await page.goto(`${url}/ui/pods`);
  await page.waitForSelector('text=This server has no pods API');
  assert((await page.locator('table.grid').count()) === 0, 'no table without the API');
});

test('query edits and completion contexts (logql.js, as served)', async (page) => {
  await page.goto(`${url}/ui/explore`);
  const failures = await page.evaluate(async () => {
    const m = await import('/ui/assets/js/logql.js');
    const bad = [];
    const eq = (what, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); };
    for (const [q, name, value, op, want] of [
      ['{a="1"}', 'b', 'x', '=', '{a="1", b="x"}'],
      ['{a="1"} |= "e"', 'a', '2', '=', '{a="2"} |= "e"'],
      ['{a="1", b="2"}', 'a', '1', '!=', '{a!="1", b="2"}'],
      ['{a="1", b="2"}', 'a', '3', '!=', '{a="1", b="2", a!="3"}'],
      ['{a="1", b!="x"}', 'b', 'x', '!=', '{a="1", b!="x"}'],
      ['{}', 'a', 'say "hi"\\', '=', '{a="say \\"hi\\"\\\\"}'],
      ['', 'a', '1', '=', '{a="1"}'],
      ['sum(rate({a="1"}[1m]))', 'b', '2', '=', 'sum(rate({a="1", b="2"}[1m]))'],
    ]) eq(`withMatcher(${q}, ${name}${op}${value})`, m.withMatcher(q, name, value, op), want);
    eq('withLabelFilter', m.withLabelFilter('{a="1"} ', 'restart', '1'), '{a="1"} | restart="1"');
    const ctx = (q, pos) => { const c = m.completionAt(q, pos ?? q.length); return c && [c.kind, c.name ?? '', c.prefix]; };
    eq('after {', ctx('{'), ['name', '', '']);
    eq('a name', ctx('{nam'), ['name', '', 'nam']);
    eq('after a comma', ctx('{a="1", po'), ['name', '', 'po']);
    eq('in a value', ctx('{namespace="sh'), ['value', 'namespace', 'sh']);
    eq('in a regex value', ctx('{pod=~"web'), ['value', 'pod', 'web']);
    eq('after a closed value', ctx('{a="1"'), null);
    eq('a stage', ctx('{a="1"} | js'), ['stage', '', 'js']);
    eq('a line filter', ctx('{a="1"} |= "x'), null);
    eq('outside', ctx('sum(rate('), null);
    eq('log query', [m.isLogQuery(' {a="1"}'), m.isLogQuery('rate({a="1"}[1m])')], [true, false]);
    const hl = m.lineFilterRegex('{a="1"} |= "a.b" != "x" |~ "(?i)err(or)?" | json');
    eq('highlight', [hl?.source, hl?.flags], ['(?:a\\.b)|(?:err(or)?)', 'gi']);
    eq('no highlight', m.lineFilterRegex('{a="1"} != "x"'), null);
    eq('matchers', m.matchers('{a="1", b=~"x.*"} |= "c"').map((x) => [x.name, x.op, x.value]), [['a', '=', '1'], ['b', '=~', 'x.*']]);
    return bad;
  });
  assert(!failures.length, failures.join('\n'));
});

test('a query typed with completion shows lines, and its state is in the URL', async (page) => {
  await page.goto(`${url}/ui/explore`);
  const ta = page.locator('.editor textarea');
  await ta.click();
  await page.keyboard.type('{names');
  await page.waitForSelector('.complete:not([hidden]) [role="option"]', { timeout: 10000 });
  const first = await page.textContent('.complete [aria-selected="true"]');
  assert(first.startsWith('namespace'), `first completion is ${first}`);
  await page.keyboard.press('Tab');
  assert((await editorValue(page)) === '{namespace=""', `after the name: ${await editorValue(page)}`);
  await page.waitForSelector('.complete:not([hidden]) [role="option"]', { timeout: 10000 });
  const values = await page.locator('.complete [role="option"]').allTextContents();
  assert(values.some((v) => v.startsWith(facts.shop)), `values offered: ${values}`);
  await page.keyboard.type(facts.shop.slice(0, 3));
  await until(page, (v) => document.querySelector('.complete [aria-selected="true"]')?.textContent.startsWith(v), facts.shop, 10000, 'the namespace completion');
  await page.keyboard.press('Enter');
  await page.keyboard.press('End');
  await page.keyboard.type('}');
  assert((await editorValue(page)) === `{namespace="${facts.shop}"}`, `query: ${await editorValue(page)}`);
  await page.keyboard.press('Enter');
  await until(page, () => document.querySelectorAll('.logrow').length > 10, null, 30000, 'lines');
  const params = new URL(page.url()).searchParams;
  assert(params.get('q') === `{namespace="${facts.shop}"}`, `URL q=${params.get('q')}`);
  const count = await page.textContent('[data-testid="count"]');
  assert(/lines/.test(count), `count: ${count}`);
  // The same URL in a new page shows the same query.
  const again = await page.context().newPage();
  await again.goto(page.url());
  await until(again, () => document.querySelectorAll('.logrow').length > 10, null, 30000, 'lines from the shared URL');
  assert((await editorValue(again)) === `{namespace="${facts.shop}"}`, 'the shared URL restores the query');
  await again.close();
});

test('older lines beyond the limit are appended on demand', async (page) => {
  await runQuery(page, `{namespace="${facts.shop}"}`, '&limit=100');
  await until(page, () => document.querySelector('[data-testid="count"]').textContent.startsWith('100 lines (more'), null, 10000, '100 lines and more');
  await page.click('[data-testid="older"]');
  await until(page, () => document.querySelector('[data-testid="count"]').textContent.startsWith('200 lines'), null, 30000, '200 lines');
  // Newest first across the seam: row 100 is older than row 99.
  await page.locator('.loglist').focus();
  await page.keyboard.press('End');
  const order = await page.evaluate(async () => {
    const l = document.querySelector('.loglist');
    l.scrollTop = 99 * 22 - 100;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const ts = (i) => document.querySelector(`.logrow[data-i="${i}"] .ts`)?.textContent;
    return [ts(99), ts(100)];
  });
  assert(order[0] && order[1] && order[0] >= order[1], `rows 99 and 100: ${order}`);
});

test('a parse error is shown at the parser\'s position', async (page) => {
  await page.goto(`${url}/ui/explore?q=${enc(`{namespace="${facts.shop}"} |= `)}`);
  await page.waitForSelector('[data-testid="query-error"]:not([hidden])');
  const msg = await page.textContent('[data-testid="query-error"]');
  assert(/parse error at line 1, col \d+/.test(msg), `message: ${msg}`);
  await page.waitForSelector('.editor.invalid .hl-err');
});

test('clicking a label chip filters the query in, Alt+click and − filter out', async (page) => {
  await runQuery(page, `{namespace="${facts.shop}"}`);
  const chip = page.locator('.logrow .chip[data-name="pod"]').first();
  const pod = await chip.getAttribute('data-value');
  await chip.click();
  await until(page, (p) => document.querySelector('.editor textarea').value.includes(`pod="${p}"`), pod, 5000, 'the pod matcher');
  await until(page, (p) => [...document.querySelectorAll('.resbar .chip')].some((c) => c.textContent === `pod=${p}`), pod, 30000, 'only that pod\'s lines');
  // Out, from the details panel.
  await page.locator('.logrow').first().click();
  await page.waitForSelector('.details:not([hidden])');
  await shot(page, 'explore.png');
  await page.click('.details [data-testid="context"]');
  await page.waitForSelector('.details .context .here');
  assert((await page.locator('.details .context div').count()) > 1, 'lines around the chosen one');
  const before = await editorValue(page);
  await page.locator('.details .kv button[aria-label="filter out container"]').click();
  await until(page, () => /container!="/.test(document.querySelector('.editor textarea').value), null, 5000, 'container!=');
  assert((await editorValue(page)).startsWith(before.slice(0, -1)), 'the selector grows');
});

test('dragging across the histogram zooms into that range', async (page) => {
  await runQuery(page, `{namespace="${facts.shop}"}`, '&from=now-30m');
  const hist = page.locator('[data-testid="histogram"] canvas');
  await until(page, () => /lines ·/.test(document.querySelector('.hist-title').textContent), null, 30000, 'the histogram');
  const box = await hist.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.5, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, y, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.8, y, { steps: 4 });
  await page.mouse.up();
  await until(page, () => !new URL(location.href).searchParams.get('from')?.startsWith('now'), null, 5000, 'an absolute range in the URL');
  const p = new URL(page.url()).searchParams;
  const span = Date.parse(p.get('to')) - Date.parse(p.get('from'));
  assert(span > 60e3 && span < 20 * 60e3, `zoomed span ${span} ms`);
  assert(!/Last/.test(await page.textContent('[data-testid="range"]')), 'the picker shows absolute times');
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, 'lines in the zoomed range');
});

test('a metric query is drawn as a chart', async (page) => {
  const q = `sum by (pod) (count_over_time({namespace="${facts.shop}"} [1m]))`;
  await page.goto(`${url}/ui/explore?q=${enc(q)}&from=now-30m`);
  await until(page, () => document.querySelectorAll('.legend span').length > 0, null, 30000, 'the legend');
  assert(await page.isVisible('.chart canvas'), 'chart visible');
  assert(!(await page.isVisible('.loglist')), 'no log list for a metric query');
  const box = await page.locator('.chart canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await page.waitForSelector('.chart .tooltip:not([hidden])');
  await shot(page, 'explore-metric.png');
});

test('live tail shows a freshly pushed line within a second', async (page) => {
  const ns = 'tailtest';
  await page.goto(`${url}/ui/tail?q=${enc(`{namespace="${ns}"}`)}`);
  await until(page, () => document.querySelector('[data-testid="tail-status"]').textContent === 'live', null, 15000, 'the socket');
  // The first line within a second of its push being acknowledged; a loaded machine may
  // miss a deadline, so up to five tries, and every line must arrive.
  const times = [];
  for (let i = 0; i < 5 && !times.some((t) => t < 1000); i++) {
    const line = `fresh line ${i} ${Math.random()}`;
    await push([{ stream: { namespace: ns, pod: 'tailer', container: 'app' }, values: [[nowNs().toString(), `level=info msg="${line}"`]] }]);
    const t0 = Date.now();
    await until(page, (l) => [...document.querySelectorAll('.logrow .line')].some((e) => e.textContent.includes(l)), line, 10000, line);
    times.push(Date.now() - t0);
  }
  assert(times.some((t) => t < 1000), `lines appeared after ${times.join(', ')} ms`);
  // Scrolling up pauses following; new lines are counted, not scrolled to.
  const pods = ['web-7c9d6b5f4-2xkqz', 'web-7c9d6b5f4-9wq7m', 'checkout-0'];
  const streams = pods.map((pod) => ({ stream: { namespace: ns, pod, container: pod.startsWith('web') ? 'app' : 'checkout' }, values: [] }));
  const t0 = nowNs();
  for (let i = 0; i < 60; i++) {
    const level = i % 11 === 5 ? 'error' : i % 7 === 3 ? 'warn' : i % 5 === 1 ? 'debug' : 'info';
    streams[i % 3].values.push([(t0 + BigInt(i) * 7000000n).toString(),
      `level=${level} method=GET path=/api/items/${1000 + i * 37} status=${level === 'error' ? 503 : 200} duration_ms=${(i * 53) % 240 + 4}`]);
  }
  await push(streams);
  await until(page, () => document.querySelectorAll('.logrow').length > 30, null, 10000, 'a screen of lines');
  await page.locator('.loglist').hover();
  await page.mouse.wheel(0, -400);
  await page.waitForSelector('[data-testid="tail-resume"]:not([hidden])');
  await push([{ stream: { namespace: ns, pod: 'tailer', container: 'app' }, values: [[nowNs().toString(), 'level=info msg="while paused"']] }]);
  await until(page, () => /1 new line/.test(document.querySelector('[data-testid="tail-resume"]').textContent), null, 10000, 'the unseen count');
  await shot(page, 'tail.png');
  await page.click('[data-testid="tail-resume"]');
  await until(page, () => {
    const l = document.querySelector('.loglist');
    return l.scrollTop + l.clientHeight >= l.scrollHeight - 4;
  }, null, 5000, 'following again');
  // More lines at once than the server buffers for a client (1024 by default): the rest
  // are reported as dropped, and counted.
  const burst = Array.from({ length: 3000 }, (_, i) => [(nowNs() + BigInt(i)).toString(), `burst ${i}`]);
  await push([{ stream: { namespace: ns, pod: 'burst', container: 'app' }, values: burst }]);
  await until(page, () => /^[\d,]+ dropped$/.test(document.querySelector('[data-testid="tail-dropped"]:not([hidden])')?.textContent || ''), null, 10000, 'the dropped counter');
});

test('100,000 lines scroll in a virtualised list', async (page) => {
  const n = facts.bulk;
  await page.goto(`${url}/ui/explore?q=${enc('{namespace="bulk"}')}&limit=${n}&from=now-3h`);
  await until(page, (n) => document.querySelector('[data-testid="count"]').textContent.startsWith(n.toLocaleString('en-US') + ' lines'), n, 120000, `${n} lines`);
  const inDom = await rows(page).count();
  assert(inDom < 200, `${inDom} rows in the DOM`);
  // Wheel scrolling: each frame renders, and the rows under the viewport are there.
  await page.locator('.loglist').hover();
  const t0 = Date.now();
  for (let i = 0; i < 60; i++) await page.mouse.wheel(0, 1200);
  const wheelMs = Date.now() - t0;
  await until(page, () => {
    const l = document.querySelector('.loglist');
    const top = l.scrollTop;
    return top > 0 && [...l.querySelectorAll('.logrow')].some((r) => r.offsetTop <= top && r.offsetTop + r.offsetHeight > top);
  }, null, 5000, 'a row at the top of the scrolled view');
  // The far end: the oldest line (newest first), by keyboard.
  await page.locator('.loglist').focus();
  await page.keyboard.press('End');
  await until(page, () => [...document.querySelectorAll('.logrow.sel .line')].some((e) => /bulk line 000000\b/.test(e.textContent)), null, 5000, 'the oldest line selected');
  assert((await rows(page).count()) < 200, 'still few rows in the DOM');
  // Frame times while scrolling through the middle.
  const frames = await page.evaluate(async () => {
    const l = document.querySelector('.loglist');
    l.scrollTop = l.scrollHeight / 2;
    const times = [];
    let last = performance.now();
    for (let i = 0; i < 60; i++) {
      l.scrollTop += 700;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    times.sort((a, b) => a - b);
    return { median: times[30], worst: times[59] };
  });
  console.log(`  60 wheel events in ${wheelMs} ms; frames while scrolling: median ${frames.median.toFixed(1)} ms, worst ${frames.worst.toFixed(1)} ms`);
  await page.keyboard.press('Home');
  await shot(page, 'explore-100k.png');
});

test('resources: top tables of what the agent collected, and a notice without the API', async (page) => {
  await page.goto(`${url}/ui/resources?range=15m`);
  await page.waitForSelector('table.grid tr.item', { timeout: 30000 });
  await page.locator('table.grid tr.item').first().click();
  await page.waitForSelector('.res-detail:not([hidden]) canvas');
  await page.click('.segmented button[data-kind="pods"]');
  await page.waitForSelector('table.grid th:text("Pod")', { timeout: 30000 });
  await page.waitForSelector('table.grid tr.item');
  await page.locator('table.grid tr.item').first().click();
  await page.waitForSelector('.res-detail:not([hidden]) canvas');
  await shot(page, 'resources.png');
  // A server without metrics.k8s.io: the view says so and shows nothing made up.
  await page.route('**/apis/metrics.k8s.io/**', (r) => r.fulfill({ status: 404, body: '404 page not found\n' }));
  await page.goto(`${url}/ui/resources`);
  await page.waitForSelector('text=This server has no resource metrics');
  assert((await page.locator('table.grid').count()) === 0, 'no table without the API');
});

test('resources: the view reads the metrics.k8s.io and range contracts (answers from the test)', async (page) => {
  // Until every server has these APIs, the view's reading of their documented shapes is
  // checked with answers this test gives; the scenario above uses the real server.
  const now = Math.floor(Date.now() / 1000);
  const wave = (base, amp, k) => Array.from({ length: 61 }, (_, i) => [now - (60 - i) * 60, base + amp * Math.abs(Math.sin(i / 9 + k))]);
  const nodes = [['node-1', 1.42, 6.1e9], ['node-2', 0.37, 3.3e9], ['node-3', 2.8, 11.7e9]];
  const pods = [['shop', 'web-7c9d6b5f4-2xkqz', 0.21, 182e6], ['shop', 'checkout-0', 0.05, 96e6], ['kube-system', 'coredns-5d78c9869d-x2x4q', 0.004, 21e6]];
  await page.route('**/apis/metrics.k8s.io/v1beta1/nodes', (r) => r.fulfill({ json: {
    kind: 'NodeMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {},
    items: nodes.map(([name, cpu, mem]) => ({ metadata: { name }, timestamp: new Date().toISOString(), window: '20.029s', usage: { cpu: `${Math.round(cpu * 1e9)}n`, memory: `${Math.round(mem / 1024)}Ki` } })),
  } }));
  await page.route('**/apis/metrics.k8s.io/v1beta1/pods', (r) => r.fulfill({ json: {
    kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {},
    items: pods.map(([namespace, name, cpu, mem]) => ({ metadata: { name, namespace }, timestamp: new Date().toISOString(), window: '18.4s',
      containers: [{ name: 'app', usage: { cpu: `${Math.round(cpu * 1e6)}u`, memory: `${Math.round(mem / 1024)}Ki` } }] })),
  } }));
  await page.route('**/kelp/api/v1/resources/range?*', (r) => {
    const q = new URL(r.request().url()).searchParams;
    const kind = q.get('kind');
    const series = kind === 'node'
      ? nodes.filter(([n]) => !q.get('node') || q.get('node') === n).map(([node, cpu, mem], k) => ({ kind, node, cpu: wave(cpu * 0.6, cpu * 0.5, k), memory: wave(mem * 0.8, mem * 0.2, k + 1) }))
      : kind === 'pod'
        ? pods.map(([namespace, pod, cpu, mem], k) => ({ kind, node: 'node-1', namespace, pod, cpu: wave(cpu * 0.6, cpu * 0.5, k), memory: wave(mem * 0.8, mem * 0.2, k) }))
        : ['app', 'istio-proxy'].map((container, k) => ({ kind, node: 'node-1', namespace: q.get('namespace'), pod: q.get('pod'), container, cpu: wave(0.05, 0.1, k), memory: wave(60e6, 20e6, k) }));
    r.fulfill({ json: { status: 'success', data: { window: '30s', series } } });
  });
  await page.goto(`${url}/ui/resources`);
  await page.waitForSelector('table.grid tr.item');
  const first = await page.locator('table.grid tr.item td.name').first().textContent();
  assert(first === 'node-3', `sorted by CPU: ${first} first`);
  assert((await page.locator('table.grid tr.item').first().textContent()).includes('2800m'), 'CPU in millicores');
  assert((await page.locator('table.grid tr.item svg.spark path').count()) > 0, 'sparklines');
  await page.locator('table.grid tr.item').first().click();
  await until(page, () => document.querySelectorAll('.res-detail .legend span').length === 2, null, 10000, 'the node\'s charts');
  await page.click('.segmented button[data-kind="pods"]');
  await until(page, () => document.querySelector('table.grid tr.item td.name')?.textContent === 'web-7c9d6b5f4-2xkqz', null, 10000, 'the pods table');
  await page.locator('table.grid tr.item').first().click();
  await until(page, () => [...document.querySelectorAll('.res-detail .legend span')].some((s) => s.textContent === 'istio-proxy'), null, 10000, 'a pod\'s containers charted');
  await shot(page, 'resources-contract.png');
});

test('keyboard: move through lines, open and close details, switch views', async (page) => {
  await runQuery(page, `{namespace="${facts.shop}"} |= "payment"`);
  assert((await page.locator('.logrow mark').first().textContent()) === 'payment', 'the filter\'s text is marked');
  await page.locator('.loglist').focus();
  for (let i = 0; i < 3; i++) await page.keyboard.press('j');
  await until(page, () => document.querySelector('.logrow.sel')?.dataset.i === '2', null, 5000, 'the third row selected');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.details:not([hidden])');
  await page.keyboard.press('Escape');
  await page.waitForSelector('.details[hidden]', { state: 'attached' });
  await page.keyboard.press('w');
  await page.waitForSelector('.loglist.wrap');
  await page.keyboard.press('g');
  await page.keyboard.press('p');
  await until(page, () => location.pathname === '/ui/pods', null, 5000, 'the pods view');
  await page.keyboard.press('?');
  await page.waitForSelector('dialog#help[open]');
});

test('light theme and a narrow window', async (page) => {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${url}/ui/explore`);
  await page.evaluate(() => localStorage.removeItem('kelp.theme'));
  await runQuery(page, `{namespace="${facts.shop}"} |= "latency_ms"`, '&pretty=1');
  assert((await page.getAttribute('html', 'data-theme')) === 'light', 'light theme from the system');
  await page.locator('.logrow').nth(1).click();
  await page.waitForSelector('.details:not([hidden])');
  await shot(page, 'explore-light.png');
  await page.click('#theme-toggle');
  assert((await page.getAttribute('html', 'data-theme')) === 'dark', 'the toggle switches');
  await page.setViewportSize({ width: 400, height: 760 });
  await runQuery(page, `{namespace="${facts.shop}"}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `the page is ${overflow}px wider than the window`);
  await shot(page, 'narrow.png');
});

test('a token-protected server: the UI asks for a token, sends it on every call and the tail socket, and an ns-scoped token never shows ns-b', async (page) => {
  const sec = facts.secured;
  assert(sec && sec.url && sec.token && sec.write, 'the Rust side started a token-protected server');
  const pushSec = async (ns, line) => {
    const r = await fetch(`${sec.url}/loki/api/v1/push`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${sec.write}` },
      body: JSON.stringify({ streams: [{ stream: { namespace: ns, pod: `pod-${ns}`, container: 'app' }, values: [[nowNs().toString(), line]] }] }),
    });
    assert(r.status === 204, `push answered ${r.status}: ${await r.text()}`);
  };
  const api = [];
  page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/loki/')) api.push(r); });
  await page.goto(`${sec.url}/ui/explore?q=${enc('{namespace=~"ns-.+"}')}`);
  // 401 with `WWW-Authenticate: Bearer`: the token dialog, not the tenant field.
  await page.waitForSelector('#token-dialog[open]', { timeout: 15000 });
  assert(await page.locator('.tenant').isHidden(), 'the tenant field stays hidden');
  await shot(page, 'token-dialog.png');
  await page.fill('#token', sec.token);
  await page.press('#token', 'Enter');
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, 'lines with the token');
  await until(page, () => /lines ·/.test(document.querySelector('.hist-title').textContent), null, 30000, 'the volume');
  const text = await page.locator('#view').textContent();
  assert(text.includes('in ns-a'), 'ns-a lines are shown');
  assert(!text.includes('ns-b'), 'nothing of ns-b is shown in explore');
  // Every API call after the token was given carried it; the token is in session storage only.
  const after = api.filter((r) => r.headers().authorization);
  assert(after.length >= 2, `calls with the token: ${after.length}`);
  for (const r of after) assert(r.headers().authorization === `Bearer ${sec.token}`, `header on ${r.url()}`);
  const stored = await page.evaluate(() => [sessionStorage.getItem('kelp.token'), localStorage.getItem('kelp.token')]);
  assert(stored[0] === sec.token && stored[1] === null, `storage: ${stored}`);
  assert(!page.url().includes(sec.token), 'the token is not in the URL');
  // Completion's label values, through the UI's own API module: one namespace.
  const values = await page.evaluate(async () => {
    const m = await import('/ui/assets/js/api.js');
    return m.labelValues('namespace', Date.now() - 3600e3, Date.now());
  });
  assert(JSON.stringify(values) === '["ns-a"]', `namespace values: ${values}`);
  await page.click('#token-forget');
  await page.waitForSelector('#token-dialog[open]', { timeout: 15000 });
  await page.fill('#token', sec.token);
  await page.press('#token', 'Enter');
  await until(page, () => document.querySelectorAll('.logrow').length > 0, null, 30000, 'lines again');

  // Live tail: the socket carries the token as a subprotocol; ns-b never arrives.
  await page.goto(`${sec.url}/ui/tail?q=${enc('{namespace=~"ns-.+"}')}`);
  await until(page, () => document.querySelector('[data-testid="tail-status"]').textContent === 'live', null, 15000, 'the tail socket with the token');
  await pushSec('ns-b', 'live line in ns-b');
  await pushSec('ns-a', 'live line in ns-a');
  await until(page, () => document.querySelector('#view').textContent.includes('live line in ns-a'), null, 15000, 'the live ns-a line');
  const tailText = await page.locator('#view').textContent();
  assert(!tailText.includes('ns-b'), 'nothing of ns-b in live tail');
  await shot(page, 'token-tail.png');

  // A wrong token is refused and asked for again, saying why.
  await page.evaluate(() => sessionStorage.setItem('kelp.token', 'not-the-right-token-at-all'));
  await page.goto(`${sec.url}/ui/explore?q=${enc('{namespace=~"ns-.+"}')}`);
  await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])', { timeout: 15000 });
  assert(/invalid bearer token/.test(await page.textContent('#token-error')), 'the refusal is shown');
});

// ---------------------------------------------------------------------------------------

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kelp-ui-chromium-'));
const context = await chromium.launchPersistentContext(userDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 800 },
  colorScheme: 'dark',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let passed = 0, failed = 0;
const only = process.env.KELP_UI_ONLY;
for (const t of tests) {
  if (only && !t.name.includes(only)) continue;
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(m.text()); });
  const began = Date.now();
  try {
    await t.fn(page);
    assert(!errors.length, `errors in the page: ${errors.join('; ')}`);
    passed++;
    console.log(`ok   ${t.name} (${Date.now() - began} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.message}`);
    const file = `fail-${t.name.replace(/\W+/g, '-').slice(0, 40)}.png`;
    await page.screenshot({ path: path.join(shots, file) }).catch(() => {});
    console.log(`     screenshot: ${path.join(shots, file)}`);
  }
  await page.close();
}
await context.close();
fs.rmSync(userDir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

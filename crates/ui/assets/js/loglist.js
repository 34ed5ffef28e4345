// The virtualised log list: only the rows in view (and a few around) are in the DOM, so
// 100,000 lines scroll as smoothly as 100. Without wrapping every row has one height; with
// wrapping, heights are estimated from the text and corrected as rows are measured.
import { h, esc, rafThrottle } from './util.js';
import { splitNs } from './time.js';

const OVERSCAN = 12;

/**
 * A row: `{ts: '<unix ns>', line, labels: {}, meta: {}, parsed: {}, level}`.
 * Events: onOpen(row, i) on click or Enter, onChip(name, value, kind, exclude) on a chip.
 */
export class LogList {
  constructor(parent, { onOpen, onChip, onScroll, empty = 'No lines.' } = {}) {
    this.onOpen = onOpen || (() => {});
    this.onChip = onChip || (() => {});
    this.onScroll = onScroll || (() => {});
    this.emptyText = empty;
    this.rows = [];
    this.chipKeys = [];
    this.wrap = false;
    this.sel = -1;
    this.highlight = null;
    this.rowH = 22;
    this.spacer = h('div.spacer-y');
    this.inner = h('div.rows');
    this.empty = h('div.empty', { text: empty });
    this.el = h('div.loglist.nowrap', {
      tabindex: '0', role: 'list', 'aria-label': 'Log lines', 'data-testid': 'loglist',
    }, this.spacer, this.inner, this.empty);
    parent.append(this.el);
    this.heights = null;
    this.offsets = null;
    this.rendered = { a: -1, b: -1, key: '' };
    this.schedule = rafThrottle(() => this.render());
    this.el.addEventListener('scroll', () => { this.schedule(); this.onScroll(this); }, { passive: true });
    this.ro = new ResizeObserver(() => { this.layout(); this.render(true); });
    this.ro.observe(this.el);
    this.el.addEventListener('click', (e) => this.click(e));
    this.el.addEventListener('keydown', (e) => this.key(e));
  }

  /** Replaces every row. */
  setRows(rows, chipKeys = []) {
    this.rows = rows;
    this.chipKeys = chipKeys;
    this.chipsWidth(rows);
    this.sel = -1;
    this.el.scrollTop = 0;
    this.layout();
    this.render(true);
  }

  /** Marks what matches `re` (a global RegExp, or null) in every line. */
  setHighlight(re) {
    this.highlight = re;
    this.render(true);
  }

  /** The line's text, escaped, with the highlighted matches in <mark>. */
  lineHtml(text) {
    const re = this.highlight;
    if (!re) return esc(text);
    let out = '', at = 0, m;
    re.lastIndex = 0;
    while ((m = re.exec(text)) && m[0].length) {
      out += esc(text.slice(at, m.index)) + '<mark>' + esc(m[0]) + '</mark>';
      at = m.index + m[0].length;
    }
    return out + esc(text.slice(at));
  }

  /** Sets the labels shown as chips on every row. */
  setChipKeys(keys) {
    this.chipKeys = keys;
    this.chipsWidth(this.rows);
    this.render(true);
  }

  /** Adds rows at the end, keeping at most `cap` (the oldest go first). */
  append(rows, cap = Infinity) {
    if (!rows.length) return;
    this.chipsWidth(rows, true);
    for (const r of rows) this.rows.push(r);
    if (this.rows.length > cap) {
      const drop = this.rows.length - cap + Math.floor(cap / 10);
      const removed = this.wrap ? this.offsetOf(drop) : drop * this.rowH;
      this.rows.splice(0, drop);
      this.sel = this.sel >= drop ? this.sel - drop : -1;
      this.layout();
      this.el.scrollTop = Math.max(0, this.el.scrollTop - removed);
    } else {
      this.layout(rows.length);
    }
    this.render(true);
  }

  setWrap(on) {
    const anchor = this.firstVisible();
    this.wrap = on;
    this.el.classList.toggle('wrap', on);
    this.el.classList.toggle('nowrap', !on);
    this.layout();
    this.render(true);
    this.scrollToIndex(anchor, 'start');
  }

  get length() { return this.rows.length; }

  atBottom() {
    return this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 4;
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.render(true);
  }

  /** Estimated heights (wrap) and their prefix sums; `added` rows at the end only. */
  layout(added = 0) {
    const n = this.rows.length;
    this.empty.hidden = n > 0;
    if (!this.wrap) {
      this.heights = this.offsets = null;
      this.spacer.style.height = n * this.rowH + 'px';
      return;
    }
    const cw = this.charWidth();
    const cols = Math.max(20, Math.floor((this.el.clientWidth - 150) / cw));
    const old = this.heights;
    const keep = added && old ? n - added : 0;
    const heights = new Float64Array(n);
    if (keep) heights.set(old.subarray(0, keep));
    for (let i = keep; i < n; i++) {
      const r = this.rows[i];
      let lines = 0;
      for (const part of (r.text ?? r.line).split('\n')) lines += Math.max(1, Math.ceil(part.length / cols));
      heights[i] = lines * this.rowH;
    }
    this.heights = heights;
    this.sum();
  }

  sum() {
    const n = this.rows.length;
    const off = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) off[i + 1] = off[i] + this.heights[i];
    this.offsets = off;
    this.spacer.style.height = off[n] + 'px';
  }

  /** One width for every row's chips, so lines start in one column. */
  chipsWidth(rows, grow = false) {
    let most = grow ? this.chipsPx || 0 : 0;
    for (const r of rows) {
      let w = 0;
      const shown = new Set();
      for (const k of this.chipKeys) {
        const v = r.labels[k] ?? r.meta[k];
        if (v === undefined || shown.has(v)) continue;
        shown.add(v);
        w += Math.min(String(v).length, 34) * this.charWidth() * 0.92 + 18;
      }
      most = Math.max(most, w);
    }
    this.chipsPx = most;
    this.el.style.setProperty('--chips', Math.ceil(most) + 'px');
  }

  charWidth() {
    if (!this.cw) {
      const s = h('span', { text: 'x'.repeat(100), style: { position: 'absolute', visibility: 'hidden', whiteSpace: 'pre' } });
      this.el.append(s);
      this.cw = s.getBoundingClientRect().width / 100 || 7.5;
      s.remove();
    }
    return this.cw;
  }

  offsetOf(i) { return this.wrap ? this.offsets[i] : i * this.rowH; }

  /** The index of the row at pixel `y`. */
  indexAt(y) {
    const n = this.rows.length;
    if (!n) return 0;
    if (!this.wrap) return Math.max(0, Math.min(n - 1, Math.floor(y / this.rowH)));
    let lo = 0, hi = n - 1;
    const off = this.offsets;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (off[mid] <= y) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  firstVisible() { return this.indexAt(this.el.scrollTop); }

  render(force = false) {
    const n = this.rows.length;
    const top = this.el.scrollTop, height = this.el.clientHeight || 600;
    const a = Math.max(0, this.indexAt(top) - OVERSCAN);
    const b = Math.min(n, this.indexAt(top + height) + 1 + OVERSCAN);
    if (!force && a === this.rendered.a && b === this.rendered.b) return;
    this.rendered = { a, b };
    let html = '';
    for (let i = a; i < b; i++) html += this.rowHtml(this.rows[i], i);
    this.inner.innerHTML = html;
    if (this.wrap) this.measure();
  }

  /** Corrects estimated heights with the rendered ones. */
  measure() {
    let changed = false;
    for (const e of this.inner.children) {
      const i = +e.dataset.i;
      const hh = e.offsetHeight;
      if (hh && Math.abs(hh - this.heights[i]) > 0.5) { this.heights[i] = hh; changed = true; }
    }
    if (!changed) return;
    this.sum();
    for (const e of this.inner.children) e.style.top = this.offsets[+e.dataset.i] + 'px';
  }

  rowHtml(r, i) {
    const t = splitNs(r.ts);
    let chips = '';
    const shown = new Set();
    for (const k of this.chipKeys) {
      const v = r.labels[k] ?? r.meta[k];
      // The same value twice (container and service_name often agree) says nothing new.
      if (v === undefined || shown.has(v)) continue;
      shown.add(v);
      const kind = k in r.labels ? 'stream' : 'meta';
      chips += `<span class="chip" data-name="${esc(k)}" data-value="${esc(v)}" data-kind="${kind}" title="${esc(k)}=${esc(v)} · click: show only · Alt+click: hide">${esc(v)}</span>`;
    }
    const style = `top:${this.offsetOf(i)}px`;
    return `<div class="logrow${r.level ? ' lv-' + r.level : ''}${i === this.sel ? ' sel' : ''}" role="listitem" data-i="${i}" style="${style}">` +
      `<span class="ts"><span class="date">${t.date} </span>${t.time}</span>` +
      (chips ? `<span class="chips">${chips}</span>` : '') +
      `<span class="line">${this.lineHtml(r.text ?? r.line)}</span></div>`;
  }

  click(e) {
    const chip = e.target.closest('.chip');
    if (chip) {
      e.stopPropagation();
      this.onChip(chip.dataset.name, chip.dataset.value, chip.dataset.kind, e.altKey || e.shiftKey);
      return;
    }
    const row = e.target.closest('.logrow');
    if (!row || String(getSelection()).length) return;
    this.select(+row.dataset.i, true);
  }

  select(i, open = false) {
    if (!this.rows.length) return;
    this.sel = Math.max(0, Math.min(this.rows.length - 1, i));
    this.scrollToIndex(this.sel);
    this.render(true);
    if (open) this.onOpen(this.rows[this.sel], this.sel);
  }

  /** Scrolls row `i` into view (`nearest` or `start`). */
  scrollToIndex(i, where = 'nearest') {
    if (!this.rows.length) return;
    const y = this.offsetOf(i);
    const hh = this.wrap ? this.heights[i] : this.rowH;
    const top = this.el.scrollTop, view = this.el.clientHeight;
    if (where === 'start') this.el.scrollTop = y;
    else if (y < top) this.el.scrollTop = y;
    else if (y + hh > top + view) this.el.scrollTop = y + hh - view;
    this.render(true);
  }

  key(e) {
    const page = Math.max(1, Math.floor(this.el.clientHeight / this.rowH) - 1);
    const cur = this.sel < 0 ? this.firstVisible() - 1 : this.sel;
    const moves = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: page, PageUp: -page };
    if (e.key in moves && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      this.select(cur + moves[e.key], this.sel >= 0 && this.openOnMove);
    } else if (e.key === 'Home') { e.preventDefault(); this.select(0); }
    else if (e.key === 'End') { e.preventDefault(); this.select(this.rows.length - 1); }
    else if (e.key === 'Enter' && this.sel >= 0) { e.preventDefault(); this.onOpen(this.rows[this.sel], this.sel); }
  }

  destroy() { this.ro.disconnect(); this.el.remove(); }
}

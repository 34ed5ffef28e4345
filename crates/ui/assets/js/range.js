// The time range picker: quick relative ranges and absolute From/To fields that take
// `now-1h`, `2026-01-02 15:04:05` or RFC 3339.
import { h } from './util.js';
import { QUICK, parseTime, rangeLabel, formatDate, isRelative } from './time.js';

export class RangePicker {
  /** @param {(from: string, to: string) => void} onChange */
  constructor({ from, to, onChange }) {
    this.from = from;
    this.to = to;
    this.onChange = onChange;
    this.button = h('button', { 'aria-haspopup': 'dialog', 'data-testid': 'range', title: 'Time range' });
    this.pop = h('div.range-pop', { hidden: true, role: 'dialog', 'aria-label': 'Time range' });
    this.el = h('div.range', {}, this.button, this.pop);
    this.button.addEventListener('click', () => (this.pop.hidden ? this.open() : this.close()));
    this.outside = (e) => { if (!this.el.contains(e.target)) this.close(); };
    this.paint();
  }

  set(from, to) { this.from = from; this.to = to; this.paint(); }

  paint() {
    this.button.innerHTML = '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" style="vertical-align:-2px;margin-right:6px"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>';
    this.button.append(rangeLabel(this.from, this.to));
  }

  open() {
    const fmt = (s) => (isRelative(s) ? s : formatDate(parseTime(s)));
    const fi = h('input', { value: fmt(this.from), 'aria-label': 'From', 'data-testid': 'range-from' });
    const ti = h('input', { value: fmt(this.to), 'aria-label': 'To', 'data-testid': 'range-to' });
    const err = h('div.query-error');
    const apply = () => {
      const f = parseTime(fi.value), t = parseTime(ti.value);
      if (isNaN(f) || isNaN(t)) { err.textContent = 'use now-1h, 2026-01-02 15:04:05 or RFC 3339'; return; }
      if (f >= t) { err.textContent = '"From" must be before "To"'; return; }
      const norm = (s, ms) => (isRelative(s.trim()) ? s.trim().replace(/\s+/g, '') : new Date(ms).toISOString());
      this.choose(norm(fi.value, f), norm(ti.value, t));
    };
    for (const i of [fi, ti]) i.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
    const quick = h('div.quick', {}, QUICK.map(([f, label]) => h('button', {
      text: label, 'aria-current': String(this.from === f && this.to === 'now'), onclick: () => this.choose(f, 'now'),
    })));
    this.pop.replaceChildren(
      h('div.abs', {}, h('h4', { text: 'Absolute or relative' }), h('label.muted', { text: 'From' }), fi,
        h('label.muted', { text: 'To' }), ti, err, h('div.row', {}, h('button.primary', { text: 'Apply', onclick: apply }))),
      h('div', {}, h('h4', { text: 'Quick ranges' }), quick),
    );
    this.pop.hidden = false;
    fi.focus();
    setTimeout(() => document.addEventListener('mousedown', this.outside), 0);
    this.pop.onkeydown = (e) => { if (e.key === 'Escape') { e.stopPropagation(); this.close(); this.button.focus(); } };
  }

  choose(from, to) {
    this.close();
    this.set(from, to);
    this.onChange(from, to);
  }

  close() {
    this.pop.hidden = true;
    document.removeEventListener('mousedown', this.outside);
  }
}

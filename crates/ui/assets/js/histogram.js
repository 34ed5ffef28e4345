// The volume histogram: stacked bars of log lines per step, by level; drag across it to
// zoom into that time range.
import { h, esc, compact, levelColor, color, normLevel } from './util.js';
import { formatDate, formatDuration } from './time.js';
import { Canvas, axes, yTicks, cssVar } from './chart.js';

const ORDER = ['error', 'warn', 'info', 'debug'];

export class Histogram {
  /** @param {(from: number, to: number) => void} onZoom  ms bounds of a dragged selection */
  constructor(parent, { onZoom }) {
    this.onZoom = onZoom;
    this.el = h('div.hist.card', { 'data-testid': 'histogram' });
    this.title = h('div.hist-title');
    this.tip = h('div.tooltip', { hidden: true });
    this.el.append(this.title, this.tip);
    parent.append(this.el);
    this.data = null;
    this.drag = null;
    this.canvas = new Canvas(this.el, (ctx, w, hh) => this.paint(ctx, w, hh));
    const c = this.canvas.c;
    c.style.cursor = 'crosshair';
    c.addEventListener('mousedown', (e) => {
      if (!this.box || e.button !== 0) return;
      e.preventDefault();
      const x = this.x(e);
      this.drag = { a: x, b: x };
    });
    window.addEventListener('mousemove', this.move = (e) => {
      if (this.drag) { this.drag.b = this.x(e); this.canvas.paint(); } else if (e.target === c) this.hover(e);
    });
    window.addEventListener('mouseup', this.up = () => {
      if (!this.drag) return;
      const { a, b } = this.drag;
      this.drag = null;
      this.canvas.paint();
      if (Math.abs(b - a) < 4 || !this.data) return;
      const t = (x) => this.data.from + ((x - this.box.x) / this.box.w) * (this.data.to - this.data.from);
      this.onZoom(Math.round(t(Math.min(a, b))), Math.round(t(Math.max(a, b))));
    });
    c.addEventListener('mouseleave', () => { this.tip.hidden = true; });
  }

  x(e) {
    const r = this.canvas.c.getBoundingClientRect();
    return Math.max(this.box.x, Math.min(this.box.x + this.box.w, e.clientX - r.left));
  }

  /**
   * @param {{from: number, to: number, step: number, series: {name: string, points: [number, number][]}[]}} d
   *   points at the end of each step (ms), as `count_over_time` evaluates them
   */
  setData(d) {
    // Levels in a fixed order, then anything else; colours by level.
    d.series.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
    d.series.forEach((s, i) => { s.color = levelColor(s.name) || (s.name === 'logs' ? '#4fb3bf' : color(i + 5)); });
    let total = 0;
    for (const s of d.series) for (const p of s.points) total += p[1];
    this.data = d;
    this.total = total;
    this.title.innerHTML = `${esc(compact(total))} lines · ${esc(formatDuration(d.step))} buckets` +
      (d.series.length > 1 || (d.series[0] && d.series[0].name !== 'logs')
        ? ' · ' + d.series.map((s) => `<span style="color:${s.color}">■</span> ${esc(s.name)}`).join(' ') : '');
    this.canvas.paint();
  }

  setMessage(text) {
    this.data = null;
    this.title.textContent = text;
    this.canvas.paint();
  }

  buckets() {
    const d = this.data;
    const by = new Map();
    d.series.forEach((s, si) => {
      for (const [t, v] of s.points) {
        if (!by.has(t)) by.set(t, new Array(d.series.length).fill(0));
        by.get(t)[si] += v;
      }
    });
    return by;
  }

  paint(ctx, w, hh) {
    if (!this.data) { this.box = null; return; }
    const d = this.data;
    const by = this.buckets();
    let max = 0;
    for (const vs of by.values()) max = Math.max(max, vs.reduce((a, b) => a + b, 0));
    const yt = yTicks(max, 3);
    const box = axes(ctx, w, hh, { from: d.from, to: d.to, max: yt.max, ticks: yt.ticks, pad: { l: 44, r: 8, t: 22, b: 18 } });
    this.box = box;
    const px = (t) => box.x + ((t - d.from) / (d.to - d.from)) * box.w;
    const bw = Math.max(1, (d.step / (d.to - d.from)) * box.w - 1);
    for (const [t, vs] of by) {
      // A count at t covers (t - step, t].
      const x = px(t - d.step);
      let y = box.y + box.h;
      vs.forEach((v, si) => {
        if (!v) return;
        const bh = (v / yt.max) * box.h;
        ctx.fillStyle = d.series[si].color;
        ctx.fillRect(Math.max(box.x, x), y - bh, Math.min(bw, box.x + box.w - x), bh);
        y -= bh;
      });
    }
    if (this.drag) {
      const a = Math.min(this.drag.a, this.drag.b), b = Math.max(this.drag.a, this.drag.b);
      ctx.fillStyle = cssVar('--link');
      ctx.globalAlpha = 0.18;
      ctx.fillRect(a, box.y, b - a, box.h);
      ctx.globalAlpha = 1;
    }
  }

  hover(e) {
    if (!this.box || !this.data) return;
    const d = this.data;
    const r = this.canvas.c.getBoundingClientRect();
    const x = e.clientX - r.left;
    const t = d.from + ((x - this.box.x) / this.box.w) * (d.to - d.from);
    const end = Math.ceil((t - d.from) / d.step) * d.step + d.from;
    let best = null;
    for (const k of this.buckets().keys()) if (k >= t && k - d.step < t && (best === null || k < best)) best = k;
    const vs = best !== null ? this.buckets().get(best) : null;
    if (!vs) { this.tip.hidden = true; return; }
    this.tip.innerHTML = `<b>${formatDate(best - d.step)} – ${formatDate(best || end).slice(11)}</b>` +
      d.series.map((s, i) => vs[i] ? `<div><span style="color:${s.color}">■</span> ${esc(s.name)}: <b>${vs[i]}</b></div>` : '').join('');
    this.tip.hidden = false;
    const tw = this.tip.offsetWidth;
    this.tip.style.left = (x + 12 + tw > r.width ? x - tw - 12 : x + 12) + 'px';
    this.tip.style.top = '20px';
  }

  destroy() {
    window.removeEventListener('mousemove', this.move);
    window.removeEventListener('mouseup', this.up);
    this.canvas.destroy();
  }
}

function rank(name) {
  const i = ORDER.indexOf(normLevel(name) || name);
  return i < 0 ? ORDER.length : i;
}

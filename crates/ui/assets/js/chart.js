// Hand-written canvas charts: time series lines (metric queries, resources) and SVG
// sparklines. Colours come from the theme's custom properties.
import { h, esc, color, compact } from './util.js';
import { timeTicks, tickLabel, formatDate } from './time.js';

/** The theme's value of a custom property. */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** A canvas that follows its box's size and the device pixel ratio; calls draw(ctx, w, h). */
export class Canvas {
  constructor(parent, draw) {
    this.c = h('canvas');
    parent.append(this.c);
    this.draw = draw;
    this.ro = new ResizeObserver(() => this.paint());
    this.ro.observe(this.c);
  }
  paint() {
    const r = this.c.getBoundingClientRect();
    if (!r.width || !r.height) return;
    const dpr = window.devicePixelRatio || 1;
    this.c.width = Math.round(r.width * dpr);
    this.c.height = Math.round(r.height * dpr);
    const ctx = this.c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, r.width, r.height);
    this.w = r.width;
    this.h = r.height;
    this.draw(ctx, r.width, r.height);
  }
  destroy() { this.ro.disconnect(); }
}

/** A nice maximum and ticks for 0..max. */
export function yTicks(max, n = 4) {
  if (!(max > 0)) return { max: 1, ticks: [0, 1] };
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const top = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { max: top, ticks };
}

/** Axes for a time chart; returns the plot box. */
export function axes(ctx, w, hgt, { from, to, max, ticks, yFormat = compact, pad = { l: 44, r: 8, t: 8, b: 20 } }) {
  const box = { x: pad.l, y: pad.t, w: w - pad.l - pad.r, h: hgt - pad.t - pad.b };
  ctx.font = '11px ' + cssVar('--mono');
  ctx.fillStyle = cssVar('--muted');
  ctx.strokeStyle = cssVar('--border');
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of ticks) {
    const y = Math.round(box.y + box.h - (v / max) * box.h) + 0.5;
    ctx.beginPath(); ctx.moveTo(box.x, y); ctx.lineTo(box.x + box.w, y); ctx.globalAlpha = 0.6; ctx.stroke(); ctx.globalAlpha = 1;
    ctx.fillText(yFormat(v), box.x - 6, y);
  }
  const tt = timeTicks(from, to, Math.max(2, Math.floor(box.w / 90)));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of tt.ticks) {
    const x = box.x + ((t - from) / (to - from)) * box.w;
    const label = tickLabel(t, tt.step);
    if (x + ctx.measureText(label).width / 2 > w) continue;
    ctx.fillText(label, x, box.y + box.h + 5);
  }
  return box;
}

/**
 * A line chart of time series: `setData({from, to, series: [{name, points: [[ms, v]]}]})`.
 * Hover shows every series' value at the nearest time; the legend toggles series.
 */
export class LineChart {
  /** `binary`: values are bytes, ticks fall on whole MiB or GiB. */
  constructor(parent, { yFormat = compact, height, binary = false } = {}) {
    this.yFormat = yFormat;
    this.binary = binary;
    this.box = h('div.chart.card', { style: height ? { height: height + 'px' } : null });
    this.legend = h('div.legend');
    this.el = h('div.chart-wrap', {}, this.box, this.legend);
    parent.append(this.el);
    this.tip = h('div.tooltip', { hidden: true });
    this.box.append(this.tip);
    this.hidden = new Set();
    this.data = { from: 0, to: 1, series: [] };
    this.canvas = new Canvas(this.box, (ctx, w, hh) => this.paint(ctx, w, hh));
    this.c = this.canvas.c;
    this.c.addEventListener('mousemove', (e) => this.hover(e));
    this.c.addEventListener('mouseleave', () => { this.hoverX = null; this.tip.hidden = true; this.canvas.paint(); });
    this.legend.addEventListener('click', (e) => {
      const s = e.target.closest('[data-name]');
      if (!s) return;
      const n = s.dataset.name;
      this.hidden.has(n) ? this.hidden.delete(n) : this.hidden.add(n);
      this.setData(this.data);
    });
  }

  setData(data) {
    this.data = data;
    data.series.forEach((s, i) => { s.color = s.color || color(i); });
    this.legend.innerHTML = data.series.slice(0, 200).map((s) =>
      `<span data-name="${esc(s.name)}" class="${this.hidden.has(s.name) ? 'off' : ''}"><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('');
    this.canvas.paint();
  }

  visible() { return this.data.series.filter((s) => !this.hidden.has(s.name)); }

  paint(ctx, w, hh) {
    const { from, to } = this.data;
    const vis = this.visible();
    let max = 0;
    for (const s of vis) for (const p of s.points) if (p[1] > max && isFinite(p[1])) max = p[1];
    const unit = this.binary ? (max >= 2 * 2 ** 30 ? 2 ** 30 : 2 ** 20) : 1;
    const yt = yTicks(max / unit);
    yt.max *= unit;
    yt.ticks = yt.ticks.map((t) => t * unit);
    const box = axes(ctx, w, hh, { from, to, max: yt.max, ticks: yt.ticks, yFormat: this.yFormat, pad: { l: 52, r: 10, t: 8, b: 20 } });
    this.plot = box;
    const X = (t) => box.x + ((t - from) / (to - from)) * box.w;
    const Y = (v) => box.y + box.h - (v / yt.max) * box.h;
    ctx.lineWidth = 1.6;
    ctx.lineJoin = 'round';
    for (const s of vis) {
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      let prev = null;
      for (const [t, v] of s.points) {
        if (!isFinite(v)) { prev = null; continue; }
        // A gap of more than two steps breaks the line (Prometheus's staleness).
        if (prev !== null && s.step && t - prev > 2.5 * s.step) ctx.moveTo(X(t), Y(v));
        else if (prev === null) ctx.moveTo(X(t), Y(v));
        else ctx.lineTo(X(t), Y(v));
        prev = t;
      }
      ctx.stroke();
      if (s.points.length === 1) {
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(X(s.points[0][0]), Y(s.points[0][1]), 2.5, 0, 7); ctx.fill();
      }
    }
    if (this.hoverX != null) {
      ctx.strokeStyle = cssVar('--muted');
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(this.hoverX + 0.5, box.y); ctx.lineTo(this.hoverX + 0.5, box.y + box.h); ctx.stroke();
      ctx.setLineDash([]);
    }
    if (!vis.length || !vis.some((s) => s.points.length)) {
      ctx.fillStyle = cssVar('--muted');
      ctx.font = '13px ' + cssVar('--sans');
      ctx.textAlign = 'center';
      ctx.fillText('no data in this range', box.x + box.w / 2, box.y + box.h / 2);
    }
  }

  hover(e) {
    const box = this.plot;
    if (!box) return;
    const r = this.c.getBoundingClientRect();
    const x = e.clientX - r.left;
    if (x < box.x || x > box.x + box.w) { this.tip.hidden = true; return; }
    const { from, to } = this.data;
    const t = from + ((x - box.x) / box.w) * (to - from);
    const rows = [];
    let at = null;
    for (const s of this.visible()) {
      let best = null;
      for (const p of s.points) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (best) { rows.push([s, best[1]]); at = at === null || Math.abs(best[0] - t) < Math.abs(at - t) ? best[0] : at; }
    }
    this.hoverX = x;
    this.canvas.paint();
    if (!rows.length) { this.tip.hidden = true; return; }
    rows.sort((a, b) => b[1] - a[1]);
    this.tip.innerHTML = `<b>${formatDate(at)}</b>` + rows.slice(0, 12).map(([s, v]) =>
      `<div><i style="display:inline-block;width:8px;height:8px;border-radius:2px;background:${s.color};margin-right:6px"></i>${esc(s.name)}: <b>${esc(this.yFormat(v))}</b></div>`).join('');
    this.tip.hidden = false;
    const tw = this.tip.offsetWidth;
    this.tip.style.left = (x + 14 + tw > r.width ? x - tw - 14 : x + 14) + 'px';
    this.tip.style.top = '10px';
  }

  destroy() { this.canvas.destroy(); this.el.remove(); }
}

/** An SVG sparkline of values (nulls leave gaps). */
export function sparkline(values, { w = 120, h: hh = 24, stroke = 'var(--accent)' } = {}) {
  const vs = values.filter((v) => v != null && isFinite(v));
  if (vs.length < 2) return `<span class="muted" title="not enough history yet">—</span>`;
  const max = Math.max(...vs) || 1, min = 0;
  const step = w / (values.length - 1);
  let d = '', pen = false;
  values.forEach((v, i) => {
    if (v == null || !isFinite(v)) { pen = false; return; }
    const x = (i * step).toFixed(1), y = (hh - 2 - ((v - min) / (max - min)) * (hh - 4)).toFixed(1);
    d += (pen ? 'L' : 'M') + x + ' ' + y;
    pen = true;
  });
  const area = d ? `${d}L${w} ${hh}L0 ${hh}Z` : '';
  return `<svg class="spark" width="${w}" height="${hh}" viewBox="0 0 ${w} ${hh}" preserveAspectRatio="none">` +
    `<path d="${area}" fill="${stroke}" opacity=".12"/><path d="${d}" fill="none" stroke="${stroke}" stroke-width="1.5"/></svg>`;
}

// Time ranges: relative (`now-1h` .. `now`) or absolute (RFC 3339 or Unix ms), as kept in
// the URL; nanosecond strings for the API; labels for people.

export const QUICK = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-30m', 'Last 30 minutes'],
  ['now-1h', 'Last 1 hour'], ['now-3h', 'Last 3 hours'], ['now-6h', 'Last 6 hours'],
  ['now-12h', 'Last 12 hours'], ['now-24h', 'Last 24 hours'], ['now-2d', 'Last 2 days'],
  ['now-7d', 'Last 7 days'], ['now-30d', 'Last 30 days'],
];

const UNIT = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3, y: 365 * 86400e3 };

/** A Go/Prometheus duration (`1h30m`, `500ms`, `7d`) in ms, or NaN. */
export function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
  let total = 0, used = 0, m;
  s = String(s).trim();
  while ((m = re.exec(s))) {
    total += parseFloat(m[1]) * UNIT[m[2]];
    used += m[0].length;
  }
  return used && used === s.length ? total : NaN;
}

/** ms → `1h30m`, `15s`, `250ms`. */
export function formatDuration(ms) {
  if (ms < 1000) return Math.round(ms) + 'ms';
  let s = Math.round(ms / 1000), out = '';
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= n) { out += Math.floor(s / n) + u; s %= n; }
  }
  return out;
}

/** `now`, `now-1h`, an RFC 3339 date, `YYYY-MM-DD HH:MM[:SS]` (local) or Unix ms → ms. */
export function parseTime(s, now = Date.now()) {
  s = String(s ?? '').trim();
  if (s === '' || s === 'now') return now;
  const rel = /^now\s*-\s*(.+)$/.exec(s);
  if (rel) {
    const d = parseDuration(rel[1]);
    return isNaN(d) ? NaN : now - d;
  }
  if (/^\d{12,14}$/.test(s)) return Number(s);
  const local = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?$/.exec(s);
  if (local) {
    const [, y, mo, d, hh, mm, ss, frac] = local;
    return new Date(+y, mo - 1, +d, +hh, +mm, +(ss || 0), +((frac || '0').padEnd(3, '0'))).getTime();
  }
  const t = Date.parse(s);
  return isNaN(t) ? NaN : t;
}

/** Whether a range end is relative to now. */
export function isRelative(s) {
  return String(s ?? '').trim().startsWith('now');
}

/** ms → the API's nanosecond string. */
export function ns(ms) {
  return BigInt(Math.round(ms)) * 1000000n + '';
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** ms → `YYYY-MM-DD HH:MM:SS` local. */
export function formatDate(ms, withMs = false) {
  const d = new Date(ms);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
}

/** A nanosecond string → { date: 'YYYY-MM-DD', time: 'HH:MM:SS.mmm' } local. */
export function splitNs(nsStr) {
  const ms = Number(BigInt(nsStr) / 1000000n);
  const full = formatDate(ms, true);
  return { date: full.slice(0, 10), time: full.slice(11), ms };
}

/** The label of a range: a quick range's name, or both ends. */
export function rangeLabel(from, to) {
  if (to === 'now' || to === '') {
    const q = QUICK.find(([f]) => f === from);
    if (q) return q[1];
    if (isRelative(from)) return `Last ${from.replace(/^now-/, '')}`;
  }
  const f = parseTime(from), t = parseTime(to);
  return `${formatDate(f)} → ${formatDate(t)}`;
}

/** A step for about `buckets` buckets over `ms`, rounded to a readable duration. */
export function niceStep(ms, buckets = 120) {
  const raw = ms / buckets;
  const steps = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3,
    7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 2 * 86400e3, 7 * 86400e3];
  return steps.find((s) => s >= raw) || steps[steps.length - 1];
}

/** Readable tick times for an axis from `a` to `b` ms, about `n` of them. */
export function timeTicks(a, b, n) {
  const span = b - a;
  const steps = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
    3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 30 * 86400e3];
  const step = steps.find((s) => span / s <= n) || steps[steps.length - 1];
  const off = new Date(a).getTimezoneOffset() * 60e3;
  const first = Math.ceil((a - off) / step) * step + off;
  const ticks = [];
  for (let t = first; t <= b; t += step) ticks.push(t);
  return { ticks, step };
}

/** A tick's label: the time of day, with the date at midnight or for day steps. */
export function tickLabel(t, step) {
  const d = new Date(t);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (step >= 86400e3 || (d.getHours() === 0 && d.getMinutes() === 0 && step >= 3600e3)) {
    return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }
  return step < 60e3 ? `${hm}:${pad(d.getSeconds())}` : hm;
}

/** `3m ago`, `2h ago`, `5d ago`. */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

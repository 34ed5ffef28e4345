// LogQL as text: a tokenizer for highlighting, where the cursor is for completion, and the
// edits label chips make (a matcher in the selector, a label filter in the pipeline).

const KEYWORDS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless',
  'rate', 'count_over_time', 'bytes_rate', 'bytes_over_time', 'sum_over_time', 'avg_over_time',
  'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time', 'quantile_over_time',
  'first_over_time', 'last_over_time', 'absent_over_time', 'rate_counter', 'offset', 'unwrap',
  'json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'decolorize',
  'drop', 'keep', 'label_replace', 'vector', 'duration', 'duration_seconds', 'bytes', 'ip',
]);

/** Pipeline stages offered after `|`. */
export const STAGES = ['json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format',
  'decolorize', 'drop', 'keep', 'unwrap'];

/** Tokens `{type, text, from, to}`: str, num, kw, lbl, op, com, ws, punct, other. */
export function tokenize(q) {
  const out = [];
  let i = 0;
  const push = (type, from, to) => out.push({ type, text: q.slice(from, to), from, to });
  while (i < q.length) {
    const c = q[i];
    const start = i;
    if (c === '"' || c === '`') {
      i++;
      while (i < q.length && q[i] !== c) i += q[i] === '\\' && c === '"' ? 2 : 1;
      i = Math.min(i + 1, q.length);
      push('str', start, i);
    } else if (c === '#') {
      while (i < q.length && q[i] !== '\n') i++;
      push('com', start, i);
    } else if (/\s/.test(c)) {
      while (i < q.length && /\s/.test(q[i])) i++;
      push('ws', start, i);
    } else if (/[0-9]/.test(c)) {
      while (i < q.length && /[0-9a-zA-Z.]/.test(q[i])) i++;
      push('num', start, i);
    } else if (/[a-zA-Z_]/.test(c)) {
      while (i < q.length && /[a-zA-Z0-9_.]/.test(q[i])) i++;
      const w = q.slice(start, i);
      push(KEYWORDS.has(w) ? 'kw' : 'lbl', start, i);
    } else if (/[|!=~<>]/.test(c)) {
      while (i < q.length && /[|!=~<>]/.test(q[i]) && i - start < 2) i++;
      push('op', start, i);
    } else {
      i++;
      push('punct', start, i);
    }
  }
  return out;
}

/** The first stream selector's `{` and `}` offsets, or null. */
export function selectorSpan(q) {
  let open = -1;
  for (const t of tokenize(q)) {
    if (t.type !== 'punct') continue;
    if (t.text === '{' && open < 0) open = t.from;
    else if (t.text === '}' && open >= 0) return { open, close: t.from };
  }
  return null;
}

/** Whether a query is a log query (a selector and pipeline) rather than a metric query. */
export function isLogQuery(q) {
  return q.trim().startsWith('{');
}

/** A Go double-quoted string. */
export function quote(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

/** Matchers of the first selector: [{name, op, value, from, to}]. */
export function matchers(q) {
  const span = selectorSpan(q);
  if (!span) return [];
  const toks = tokenize(q).filter((t) => t.from > span.open && t.to <= span.close && t.type !== 'ws');
  const out = [];
  for (let i = 0; i + 2 < toks.length + 1; i++) {
    const [n, op, v] = [toks[i], toks[i + 1], toks[i + 2]];
    if (n && (n.type === 'lbl' || n.type === 'kw') && op && op.type === 'op' && v && v.type === 'str') {
      out.push({ name: n.text, op: op.text, value: unquote(v.text), from: n.from, to: v.to });
      i += 2;
    }
  }
  return out;
}

function unquote(s) {
  if (s.startsWith('`')) return s.slice(1, -1);
  try { return JSON.parse(s); } catch { return s.slice(1, -1); }
}

/**
 * The query with `name op "value"` in its first selector: an `=`/`!=` matcher on the same
 * name is replaced, otherwise the matcher is added. A query without a selector gets one.
 */
export function withMatcher(q, name, value, op = '=') {
  const span = selectorSpan(q);
  const m = `${name}${op}${quote(value)}`;
  if (!span) return `{${m}}${q.trim() ? ' ' + q.trim() : ''}`;
  const same = matchers(q).find((x) => x.name === name && (x.op === '=' || x.op === '!=') && (op === '=' || x.value === value));
  if (same) return q.slice(0, same.from) + m + q.slice(same.to);
  const inner = q.slice(span.open + 1, span.close);
  const sep = inner.trim() ? ', ' : '';
  const body = inner.replace(/\s+$/, '');
  return q.slice(0, span.open + 1) + body + sep + m + q.slice(span.close);
}

/** A log query with ` | name op "value"` appended (labels that are not stream labels). */
export function withLabelFilter(q, name, value, op = '=') {
  return `${q.replace(/\s+$/, '')} | ${name}${op}${quote(value)}`;
}

/**
 * What the cursor at `pos` is on, for completion:
 * `{kind: 'name', prefix, from, to}` inside a selector where a label name goes,
 * `{kind: 'value', name, prefix, from, to}` inside a matcher's quoted value,
 * `{kind: 'stage', prefix, from, to}` after a pipe, or null.
 */
export function completionAt(q, pos) {
  const toks = tokenize(q);
  const at = toks.find((t) => t.from < pos && pos <= t.to) || null;
  const before = toks.filter((t) => t.to <= (at ? at.from : pos) && t.type !== 'ws' && t.type !== 'com');
  const last = before[before.length - 1];
  // Inside a selector?
  let depth = 0;
  for (const t of toks) {
    if (t.from >= pos) break;
    if (t.type === 'punct' && t.text === '{') depth++;
    if (t.type === 'punct' && t.text === '}' && t.to <= pos) depth = Math.max(0, depth - 1);
  }
  if (at && at.type === 'str' && at.text.startsWith('"')) {
    const op = before[before.length - 1];
    const name = before[before.length - 2];
    if (depth > 0 && op && op.type === 'op' && name && (name.type === 'lbl' || name.type === 'kw')) {
      const closed = at.text.length > 1 && at.text.endsWith('"') && pos === at.to;
      if (closed) return null;
      return { kind: 'value', name: name.text, op: op.text, prefix: q.slice(at.from + 1, pos), from: at.from, to: at.to };
    }
    return null;
  }
  const word = at && (at.type === 'lbl' || at.type === 'kw') ? at : null;
  const prefix = word ? q.slice(word.from, pos) : '';
  const from = word ? word.from : pos, to = word ? word.to : pos;
  if (depth > 0) {
    const ok = !last || (last.type === 'punct' && (last.text === '{' || last.text === ','));
    return ok ? { kind: 'name', prefix, from, to } : null;
  }
  if (last && last.type === 'op' && last.text === '|') return { kind: 'stage', prefix, from, to };
  return null;
}

/**
 * What the query's positive line filters (`|= "x"`, `|~ "re"`) look for, as one global
 * RegExp for highlighting, or null.
 */
export function lineFilterRegex(q) {
  const toks = tokenize(q).filter((t) => t.type !== 'ws' && t.type !== 'com');
  const parts = [];
  for (let i = 0; i + 1 < toks.length; i++) {
    const op = toks[i], v = toks[i + 1];
    if (op.type !== 'op' || v.type !== 'str' || (op.text !== '|=' && op.text !== '|~')) continue;
    const text = unquote(v.text);
    if (!text) continue;
    if (op.text === '|=') parts.push(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    else {
      // Go's (?i) becomes the flag; a pattern JavaScript cannot read is not highlighted.
      const src = text.replace(/^\(\?i\)/, '');
      try { new RegExp(src); parts.push(src); } catch { /* not highlighted */ }
    }
  }
  if (!parts.length) return null;
  try { return new RegExp(parts.map((p) => `(?:${p})`).join('|'), /\(\?i\)/.test(q) ? 'gi' : 'g'); } catch { return null; }
}

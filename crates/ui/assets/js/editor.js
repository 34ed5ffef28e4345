// The LogQL editor: a textarea over a highlighted copy of its text, label name and value
// completion, and the parser's error position underlined.
import { h, esc } from './util.js';
import { tokenize, completionAt, STAGES } from './logql.js';

export class Editor {
  /**
   * @param {object} o
   * @param {(q: string) => void} o.onRun       Enter (without Shift)
   * @param {() => Promise<string[]>} o.names   label names
   * @param {(name: string) => Promise<string[]>} o.values  a label's values
   */
  constructor(o) {
    this.o = o;
    this.error = null;
    this.items = [];
    this.active = 0;
    this.ta = h('textarea', {
      rows: 1, spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off',
      'aria-label': o.label || 'LogQL query', placeholder: o.placeholder || '{namespace="default"} |= "error"',
      'aria-autocomplete': 'list',
    });
    this.pre = h('pre', { 'aria-hidden': 'true' });
    this.pop = h('div.complete', { role: 'listbox', hidden: true });
    this.el = h('div.editor', {}, this.pre, this.ta, this.pop);
    this.ta.addEventListener('input', () => { this.error = null; this.render(); this.complete(false); });
    this.ta.addEventListener('keydown', (e) => this.key(e));
    this.ta.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.ta.addEventListener('click', () => this.close());
    this.ta.addEventListener('scroll', () => { this.pre.scrollTop = this.ta.scrollTop; });
    this.pop.addEventListener('mousedown', (e) => {
      const d = e.target.closest('[data-i]');
      if (d) { e.preventDefault(); this.accept(+d.dataset.i); }
    });
  }

  get value() { return this.ta.value; }
  set value(v) { this.ta.value = v; this.error = null; this.render(); }
  focus() { this.ta.focus(); }

  /** Marks the error at 1-based `line`, `col` (the server's position) with its message. */
  setError(message, pos) {
    this.error = pos ? { ...pos, message } : { message };
    this.render();
  }

  render() {
    const q = this.ta.value;
    let errAt = -1;
    if (this.error && this.error.line) {
      const lines = q.split('\n');
      errAt = lines.slice(0, this.error.line - 1).reduce((n, l) => n + l.length + 1, 0) + this.error.col - 1;
      errAt = Math.max(0, Math.min(errAt, q.length));
    }
    let html = '';
    for (const t of tokenize(q)) {
      const cls = t.type === 'ws' || t.type === 'punct' || t.type === 'other' ? '' : `hl-${t.type}`;
      if (errAt >= t.from && errAt < t.to) {
        html += `<span class="${cls} hl-err">${esc(t.text)}</span>`;
      } else {
        html += cls ? `<span class="${cls}">${esc(t.text)}</span>` : esc(t.text);
      }
    }
    if (errAt >= q.length && this.error && this.error.line) html += '<span class="hl-err"> </span>';
    this.pre.innerHTML = html + '\n';
    this.el.classList.toggle('invalid', !!this.error);
    // Grow with the text, up to 10 lines.
    this.ta.style.height = 'auto';
    this.ta.style.height = Math.min(this.ta.scrollHeight, 10 * 20 + 12) + 'px';
  }

  key(e) {
    const open = !this.pop.hidden && this.items.length;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + this.items.length) % this.items.length;
      this.paint();
    } else if (open && (e.key === 'Enter' || e.key === 'Tab')) {
      e.preventDefault();
      this.accept(this.active);
    } else if (e.key === 'Escape') {
      if (open) { e.preventDefault(); e.stopPropagation(); }
      this.close();
    } else if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      this.complete(true);
    } else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      this.close();
      this.o.onRun(this.ta.value);
    }
  }

  /** Offers completions at the cursor; `force` also offers them for an empty prefix. */
  async complete(force) {
    const q = this.ta.value, pos = this.ta.selectionStart;
    const ctx = completionAt(q, pos);
    if (!ctx) return this.close();
    if (!force && ctx.kind === 'name' && ctx.prefix === '' && !/[{,]\s*$/.test(q.slice(0, pos))) return this.close();
    let words;
    try {
      if (ctx.kind === 'name') words = await this.o.names();
      else if (ctx.kind === 'value') words = await this.o.values(ctx.name);
      else words = STAGES;
    } catch {
      return this.close();
    }
    if (this.ta.value !== q || this.ta.selectionStart !== pos) return; // typed on meanwhile
    const p = ctx.prefix.toLowerCase();
    this.items = words.filter((w) => w.toLowerCase().startsWith(p) && w !== ctx.prefix).slice(0, 200)
      .map((w) => ({ w, ctx }));
    if (!this.items.length) return this.close();
    this.active = 0;
    this.paint();
  }

  paint() {
    this.pop.innerHTML = this.items.map((it, i) =>
      `<div role="option" data-i="${i}" aria-selected="${i === this.active}">${esc(it.w)}<span class="kind">${it.ctx.kind === 'value' ? esc(it.ctx.name) : it.ctx.kind === 'name' ? 'label' : 'stage'}</span></div>`).join('');
    const caret = this.caretXY();
    this.pop.style.left = Math.min(caret.x, this.el.clientWidth - 240) + 'px';
    this.pop.style.top = caret.y + 22 + 'px';
    this.pop.hidden = false;
    const a = this.pop.children[this.active];
    if (a) a.scrollIntoView({ block: 'nearest' });
  }

  /** The cursor's position inside the editor, from a mirror of the text before it. */
  caretXY() {
    const before = this.ta.value.slice(0, this.ta.selectionStart);
    const m = h('pre', { style: { position: 'absolute', visibility: 'hidden', inset: '0', margin: 0 } }, before, h('span', { text: '|' }));
    m.style.cssText += ';padding:6px 10px;white-space:pre-wrap;word-break:break-all;font:inherit';
    this.el.append(m);
    const s = m.lastChild;
    const r = { x: s.offsetLeft, y: s.offsetTop - this.ta.scrollTop };
    m.remove();
    return r;
  }

  accept(i) {
    const it = this.items[i];
    if (!it) return;
    const { ctx, w } = it;
    const q = this.ta.value;
    let text, caret;
    if (ctx.kind === 'value') {
      const v = w.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
      text = q.slice(0, ctx.from) + '"' + v + '"' + q.slice(ctx.to);
      caret = ctx.from + v.length + 2;
    } else if (ctx.kind === 'name') {
      const rest = q.slice(ctx.to);
      const add = /^\s*(=|!=|=~|!~)/.test(rest) ? '' : '="';
      text = q.slice(0, ctx.from) + w + add + (add ? '"' : '') + rest;
      caret = ctx.from + w.length + add.length;
    } else {
      text = q.slice(0, ctx.from) + w + q.slice(ctx.to);
      caret = ctx.from + w.length;
    }
    this.ta.value = text;
    this.ta.setSelectionRange(caret, caret);
    this.close();
    this.render();
    if (ctx.kind === 'name') this.complete(true);
  }

  close() {
    this.pop.hidden = true;
    this.items = [];
  }
}

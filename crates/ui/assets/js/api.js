// The server's HTTP API as the UI uses it. Every call throws an ApiError with the status
// and the server's message (Loki's plain-text errors) when the answer is not 2xx.
import { ns } from './time.js';

export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
  /** The parser's position in `parse error at line L, col C: ...`, or null. */
  get position() {
    const m = /line (\d+), col (\d+)/.exec(this.message);
    return m ? { line: +m[1], col: +m[2] } : null;
  }
}

/** The tenant sent as `X-Scope-OrgID` (a server with `auth_enabled` needs one), or ''. */
export function tenant() {
  try { return localStorage.getItem('kelp.tenant') || ''; } catch { return ''; }
}

export function setTenant(t) {
  try { t ? localStorage.setItem('kelp.tenant', t) : localStorage.removeItem('kelp.tenant'); } catch { /* private mode */ }
}

/**
 * The bearer token a server with a token file wants, or ''. Kept in session storage: it
 * lives as long as the tab and is never written to local storage or a URL.
 */
export function token() {
  try { return sessionStorage.getItem('kelp.token') || ''; } catch { return ''; }
}

export function setToken(t) {
  try { t ? sessionStorage.setItem('kelp.token', t) : sessionStorage.removeItem('kelp.token'); } catch { /* private mode */ }
}

/** Headers every API call carries: the tenant and the bearer token, when set. */
export function authHeaders() {
  const t = tenant(), k = token();
  return { ...(t ? { 'X-Scope-OrgID': t } : {}), ...(k ? { Authorization: `Bearer ${k}` } : {}) };
}

/**
 * WebSocket subprotocols that carry the token (a browser cannot set Authorization on a
 * WebSocket): the server reads `base64url.bearer.authorization.k8s.io.<token>`, as the
 * Kubernetes API server does, and selects `kelp.tail.v1`. Undefined without a token.
 */
export function socketProtocols() {
  const k = token();
  if (!k) return undefined;
  const bytes = new TextEncoder().encode(k);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64url = btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return ['kelp.tail.v1', `base64url.bearer.authorization.k8s.io.${b64url}`];
}

/** GET `path` with `params` (undefined values are left out); JSON, or an ApiError. */
export async function get(path, params = {}, { signal, headers } = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  const url = qs.toString() ? `${path}?${qs}` : path;
  let resp;
  try {
    resp = await fetch(url, { signal, headers: { Accept: 'application/json', ...authHeaders(), ...headers } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server: ${e.message}`, path);
  }
  if (!resp.ok) {
    const text = (await resp.text()).trim();
    // The server wants a bearer token (`WWW-Authenticate: Bearer`) or a tenant: the shell
    // asks for the token, or shows its tenant field.
    if (resp.status === 401) {
      const bearer = /^bearer/i.test(resp.headers.get('WWW-Authenticate') || '');
      window.dispatchEvent(new CustomEvent('kelp:unauthorized', { detail: { bearer, message: text } }));
    }
    throw new ApiError(resp.status, text || resp.statusText, path);
  }
  return resp.json();
}

/** Label names seen in [from, to] ms. */
export async function labels(from, to) {
  const r = await get('/loki/api/v1/labels', { start: ns(from), end: ns(to) });
  return r.data || [];
}

/** Values of a label in [from, to] ms, optionally within a selector. */
export async function labelValues(name, from, to, query) {
  const r = await get(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, {
    start: ns(from), end: ns(to), query,
  });
  return r.data || [];
}

/** query_range with structured metadata kept apart from stream labels. */
export async function queryRange(query, { from, to, step, limit, direction, signal }) {
  const r = await get('/loki/api/v1/query_range', {
    query, start: ns(from), end: ns(to), step: step ? step / 1000 : undefined, limit, direction,
  }, { signal, headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
  return r.data;
}

/**
 * Pods with logs in [from, to] ms from `/kelp/api/v1/pods` (404 when this server does not
 * have it): deleted ones included (`exists: false`; `deleted=true` would list only those).
 */
export async function pods(from, to) {
  const r = await get('/kelp/api/v1/pods', { start: ns(from), end: ns(to) });
  return r.data || [];
}

/** metrics.k8s.io: `nodes` or `pods`, metrics-server's JSON. */
export async function metricsList(kind, namespace) {
  const path = namespace && kind === 'pods'
    ? `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(namespace)}/pods`
    : `/apis/metrics.k8s.io/v1beta1/${kind}`;
  const r = await get(path);
  return r.items || [];
}

/** Resource usage over time: `{window, series: [{kind, node, namespace, pod, container, cpu, memory}]}`. */
export async function resourcesRange(params) {
  const r = await get('/kelp/api/v1/resources/range', {
    ...params, start: ns(params.start), end: ns(params.end), step: params.step ? params.step / 1000 + 's' : undefined,
  });
  return r.data;
}

/** Kubernetes quantities: `250m`, `12345n`, `1.5` cores; `128Mi`, `1G`, `1024` bytes. */
export function quantity(s) {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(s ?? '').trim());
  if (!m) return NaN;
  const v = parseFloat(m[1]);
  const mult = {
    '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  }[m[2]];
  return mult === undefined ? NaN : v * mult;
}

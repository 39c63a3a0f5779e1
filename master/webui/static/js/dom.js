// DOM helpers. Everything that comes from the cluster reaches the page as
// text nodes or attribute values, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

// nodes flattens children into DOM nodes, dropping null, undefined and
// false, for replaceChildren.
export function nodes(...children) {
  const frag = document.createDocumentFragment();
  append(frag, children);
  return [...frag.childNodes];
}

// h builds an HTML element: h('a', {href: '#/'}, 'text', child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// link is an in-app link to a hash route built from path segments, each
// encoded, and an optional query.
export function route(segments, query) {
  let r = '#/' + segments.map(encodeURIComponent).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v) q.set(k, v);
  const qs = q.toString();
  return qs ? r + '?' + qs : r;
}

export function link(segments, text, query, attrs) {
  return h('a', { href: route(segments, query), ...attrs }, text);
}

// safeURL returns u if it is an absolute http(s) URL, else null: a
// framework's webui_url must not become a javascript: link.
export function safeURL(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// table renders rows under headings; cols are [heading, cell(row)] pairs
// (a heading may be {text, class}); row(r) gives a row's attributes.
export function table(cols, rows, { empty = 'None.', id, cls, row = () => ({}) } = {}) {
  if (rows.length === 0) return h('p', { class: 'muted empty', id }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', { id, class: cls },
      h('thead', {}, h('tr', {}, cols.map(([head]) => h('th', { class: head.class }, head.text ?? head)))),
      h('tbody', {}, rows.map((r) => h('tr', row(r), cols.map(([head, cell]) => h('td', { class: head.class }, cell(r))))))));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

export function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// Formatting.

export function num(x, digits = 2) {
  if (!Number.isFinite(x)) return '–';
  return Number.isInteger(x) ? String(x) : x.toFixed(digits).replace(/\.?0+$/, '');
}

// mb formats a quantity of MB (Mesos' unit for mem and disk).
export function mb(x) {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1024 * 1024) return num(x / (1024 * 1024)) + ' TB';
  if (x >= 1024) return num(x / 1024) + ' GB';
  return num(x) + ' MB';
}

export function amount(name, x) {
  return name === 'mem' || name === 'disk' ? mb(x) : num(x);
}

// time formats seconds since the epoch.
export function time(seconds) {
  if (!seconds) return '–';
  return new Date(seconds * 1000).toLocaleString();
}

// timeInfo converts a Mesos TimeInfo to seconds.
export function timeInfo(t) {
  return t && t.nanoseconds !== undefined ? Number(t.nanoseconds) / 1e9 : 0;
}

export function ago(seconds, now = Date.now() / 1000) {
  if (!seconds) return '–';
  const d = Math.max(0, now - seconds);
  if (d < 60) return Math.round(d) + 's ago';
  if (d < 3600) return Math.round(d / 60) + 'm ago';
  if (d < 86400) return Math.round(d / 3600) + 'h ago';
  return Math.round(d / 86400) + 'd ago';
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
}

export function stateBadge(state) {
  const short = (state || 'UNKNOWN').replace(/^TASK_/, '');
  return h('span', { class: 'state state-' + short.toLowerCase(), dataset: { state: state || '' } }, short);
}

// The UI's entry point: it follows the operator stream into a Cluster and
// renders the page the location hash names, again whenever the cluster
// changes. Routes: #/, #/agents[/<id>[/browse|/file?path=…]],
// #/frameworks[/<id>], #/tasks[/<framework>/<task>][?state=&framework=&q=],
// #/completed, #/offers, #/roles, #/maintenance.

import { call, follow } from './api.js';
import { h } from './dom.js';
import { Cluster } from './state.js';
import * as overview from './pages/overview.js';
import * as agents from './pages/agents.js';
import * as frameworks from './pages/frameworks.js';
import * as tasks from './pages/tasks.js';
import * as completed from './pages/completed.js';
import * as offers from './pages/offers.js';
import * as roles from './pages/roles.js';
import * as maintenance from './pages/maintenance.js';
import * as sandbox from './pages/sandbox.js';

const SAMPLE_MS = 2000; // allocation chart sampling
const RENDER_MS = 250; // at most this often on bursts of events

// resolve maps path segments to [nav name, page factory].
function resolve(seg) {
  switch (seg[0] || '') {
    case '': return ['overview', overview.create];
    case 'agents':
      if (seg.length === 1) return ['agents', agents.list];
      if (seg[2] === 'browse') return ['agents', sandbox.browse];
      if (seg[2] === 'file') return ['agents', sandbox.file];
      return ['agents', agents.one];
    case 'frameworks': return ['frameworks', seg.length === 1 ? frameworks.list : frameworks.one];
    case 'tasks': return ['tasks', seg.length === 1 ? tasks.list : tasks.one];
    case 'completed': return ['completed', completed.create];
    case 'offers': return ['offers', offers.create];
    case 'roles': return ['roles', roles.create];
    case 'maintenance': return ['maintenance', maintenance.create];
    default: return ['', notFound];
  }
}

function notFound(ctx) {
  return { node: h('section', { class: 'card' }, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, location.hash), '.')) };
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const params = path ? path.split('/').map((p) => decodeURIComponent(p)) : [];
  return { params, query: new URLSearchParams(qs || '') };
}

const cluster = new Cluster();
const main = document.getElementById('main');
let view = null;
let ctx = null;

function mount() {
  if (view?.unmount) view.unmount();
  const { params, query } = parseHash();
  const [nav, create] = resolve(params);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  ctx = { cluster, params, query };
  view = create(ctx);
  main.replaceChildren(view.node);
  document.title = 'corral · ' + (nav || 'not found');
  window.scrollTo(0, 0);
}

function render() {
  const conn = document.getElementById('conn');
  conn.dataset.state = cluster.status;
  conn.textContent = cluster.status === 'live' ? 'live' : cluster.status + '…';
  conn.title = cluster.error || 'Operator API stream';
  if (view?.update) view.update(ctx);
}

let pending = null;
cluster.addEventListener('change', () => {
  if (pending) return;
  pending = setTimeout(() => { pending = null; render(); }, RENDER_MS);
});

// Pages that keep their own state in the query (the task filters) rewrite
// it with history.replaceState, which fires no hashchange.
window.addEventListener('hashchange', () => {
  mount();
  render();
});

setInterval(() => {
  if (cluster.status === 'live') {
    cluster.sample();
    cluster.changed();
  }
}, SAMPLE_MS);

mount();
render();
follow(cluster);
call('GET_MASTER').then((r) => { cluster.master = r.get_master; cluster.changed(); }, () => {});

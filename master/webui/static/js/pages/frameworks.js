// The frameworks table and one framework's page.

import { call } from '../api.js';
import { amount, dl, h, link, safeURL, section, table, time, timeInfo } from '../dom.js';
import { SCALARS, add, describe, scalars } from '../resources.js';
import { active, frameworkID } from '../state.js';
import { polled, simple } from './page.js';
import { taskTable } from './tasklist.js';

function fid(f) { return f.framework_info?.id?.value || ''; }

// allocated sums the active tasks' resources per framework.
function allocated(cluster) {
  const out = new Map();
  for (const t of cluster.tasks.values()) if (active(t)) out.set(frameworkID(t), add(out.get(frameworkID(t)), scalars(t.resources)));
  return out;
}

function webui(f) {
  const url = safeURL(f.framework_info?.webui_url || '');
  return url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'webui-link' }, url) : null;
}

function status(f) {
  const on = f.active !== false && f.connected !== false;
  return h('span', { class: on ? 'state state-running' : 'state state-lost' }, on ? 'connected' : f.recovered ? 'recovered' : 'disconnected');
}

export function list(ctx) {
  return simple(renderList, ctx);
}

function renderList(ctx) {
  const c = ctx.cluster;
  const alloc = allocated(c);
  const counts = new Map();
  for (const t of c.tasks.values()) if (active(t)) counts.set(frameworkID(t), (counts.get(frameworkID(t)) || 0) + 1);
  const byName = (a, b) => (a.framework_info?.name || '').localeCompare(b.framework_info?.name || '') || fid(a).localeCompare(fid(b));
  const cols = [
    ['framework', (f) => link(['frameworks', fid(f)], f.framework_info?.name || fid(f))],
    ['ID', (f) => h('span', { class: 'small' }, fid(f))],
    ['roles', (f) => (f.framework_info?.roles || []).join(', ')],
    ['user', (f) => f.framework_info?.user || ''],
    ['status', status],
    [{ text: 'tasks', class: 'num' }, (f) => String(counts.get(fid(f)) || 0)],
    [{ text: 'cpus', class: 'num' }, (f) => amount('cpus', alloc.get(fid(f))?.cpus || 0)],
    [{ text: 'mem', class: 'num' }, (f) => amount('mem', alloc.get(fid(f))?.mem || 0)],
    ['web UI', webui],
    ['registered', (f) => time(timeInfo(f.reregistered_time || f.registered_time))],
  ];
  const row = (f) => ({ dataset: { framework: fid(f) } });
  return [
    section(`Frameworks (${c.frameworks.size})`, table(cols, [...c.frameworks.values()].sort(byName),
      { id: 'frameworks-table', empty: 'No frameworks are subscribed.', row })),
    c.completedFrameworks.size ? section('Completed frameworks', table(cols.slice(0, 4), [...c.completedFrameworks.values()].sort(byName),
      { id: 'completed-frameworks-table', row })) : null,
  ];
}

export function one(ctx) {
  const id = ctx.params[1];
  // Offers and the reasons for no offers are not on the stream: poll.
  return polled(async (signal) => {
    const r = await call('GET_FRAMEWORKS', {}, signal);
    return (r.get_frameworks?.frameworks || []).find((f) => fid(f) === id) || null;
  }, (c, res) => renderOne(c, id, res));
}

function renderOne(ctx, id, res) {
  const c = ctx.cluster;
  const f = c.framework(id);
  const tasks = [...c.tasks.values()].filter((t) => frameworkID(t) === id);
  if (!f) return [section('Framework ' + id, h('p', {}, 'No framework with this ID is known.')), section('Tasks', taskTable(c, tasks))];
  const info = f.framework_info || {};
  const alloc = {};
  for (const t of tasks) if (active(t)) for (const r of t.resources || []) {
    const role = r.allocation_info?.role || '*';
    alloc[role] = add(alloc[role], scalars([r]));
  }
  const live = res.data;
  const offers = live?.offers || [];
  return [
    section('Framework ' + (info.name || id), dl([
      ['ID', id],
      ['Name', info.name],
      ['Status', status(f)],
      ['User', info.user],
      ['Principal', info.principal],
      ['Roles', (info.roles || (info.role ? [info.role] : [])).map((r) => link(['roles'], r, null, { class: 'role' }))],
      ['Web UI', webui(f)],
      ['Hostname', info.hostname],
      ['Capabilities', (info.capabilities || []).map((x) => x.type).join(', ')],
      ['Failover timeout', info.failover_timeout ? info.failover_timeout + ' s' : null],
      ['Registered', f.registered_time ? time(timeInfo(f.registered_time)) : null],
      ['Re-registered', f.reregistered_time ? time(timeInfo(f.reregistered_time)) : null],
    ])),
    section('Allocation by role', table([
      ['role', (r) => r],
      ...SCALARS.map((n) => [{ text: n, class: 'num' }, (r) => amount(n, alloc[r]?.[n] || 0)]),
    ], Object.keys(alloc).sort(), { id: 'framework-allocation', empty: 'Nothing allocated.' })),
    section('Offers', res.error ? h('p', { class: 'error' }, res.error.message) : null,
      table([
        ['offer', (o) => o.id?.value || ''],
        ['agent', (o) => link(['agents', o.agent_id?.value || ''], o.hostname || o.agent_id?.value || '')],
        ['resources', (o) => h('span', { class: 'small' }, describe(o.resources))],
      ], offers, { id: 'framework-offers', empty: res.loading ? 'Loading…' : 'No outstanding offers.' }),
      (live?.unoffered || []).length ? h('p', { class: 'muted' }, 'Not offered in the last allocation round: ',
        live.unoffered.map((u) => `${u.role}: ${u.reason} (${u.agents} agents)`).join('; ')) : null),
    section('Tasks', taskTable(c, tasks, { empty: 'This framework has no tasks.' })),
  ];
}

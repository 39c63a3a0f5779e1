// The cluster overview: capacity and usage, allocation by role, tasks by
// state, and the allocation over time.

import { allocationChart, bar } from '../chart.js';
import { amount, h, link, section, time } from '../dom.js';
import { SCALARS } from '../resources.js';
import { STATES, active } from '../state.js';
import { simple } from './page.js';

let chartResource = 'cpus';

export function create(ctx) {
  return simple(render, ctx);
}

function stat(label, value, href, id) {
  return h('a', { class: 'stat', href, id }, h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-label' }, label));
}

function render(ctx) {
  const c = ctx.cluster;
  const agents = [...c.agents.values()];
  const activeAgents = agents.filter((a) => a.active !== false).length;
  const tasks = [...c.tasks.values()];
  const total = c.total();
  const byRole = c.allocationByRole();
  const used = Object.values(byRole).reduce((acc, r) => {
    for (const [k, v] of Object.entries(r)) acc[k] = (acc[k] || 0) + v;
    return acc;
  }, {});
  const resources = SCALARS.filter((r) => r !== 'gpus' || total.gpus);
  const counts = c.taskCounts();
  const roles = c.roles();
  return [
    h('div', { class: 'stats' },
      stat(activeAgents === agents.length ? 'agents' : `agents (${agents.length - activeAgents} inactive)`, activeAgents, '#/agents', 'stat-agents'),
      stat('frameworks', c.frameworks.size, '#/frameworks', 'stat-frameworks'),
      stat('active tasks', tasks.filter(active).length, '#/tasks?state=active', 'stat-tasks'),
      stat('roles', roles.length, '#/roles', 'stat-roles')),
    section('Resources',
      h('div', { class: 'resource-bars', id: 'cluster-resources' }, resources.map((r) =>
        h('div', { class: 'resource-row' }, h('span', { class: 'resource-name' }, r), bar(r, used[r], total[r])))),
      h('div', { class: 'table-wrap' }, h('table', { id: 'roles-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'role'), resources.map((r) => h('th', { class: 'num' }, r)))),
        h('tbody', {},
          roles.map((role) => h('tr', { dataset: { role } }, h('td', {}, role),
            resources.map((r) => h('td', { class: 'num' }, amount(r, byRole[role]?.[r] || 0))))),
          h('tr', { class: 'total' }, h('td', {}, 'used'), resources.map((r) => h('td', { class: 'num' }, amount(r, used[r] || 0)))),
          h('tr', { class: 'total' }, h('td', {}, 'total'), resources.map((r) => h('td', { class: 'num', dataset: { resource: r } }, amount(r, total[r] || 0)))))))),
    section('Tasks by state',
      h('ul', { class: 'chips', id: 'task-states' }, STATES.filter((s) => counts[s]).map((s) =>
        h('li', {}, link(['tasks'], [h('span', { class: 'state state-' + s.slice(5).toLowerCase() }, s.slice(5)), ' ', h('b', { dataset: { state: s } }, String(counts[s]))], { state: s })))),
      tasks.length === 0 ? h('p', { class: 'muted' }, 'No tasks yet.') : null),
    section('Allocation by role',
      h('div', { class: 'tabs' }, resources.map((r) => h('button', {
        type: 'button', class: r === chartResource ? 'tab on' : 'tab', dataset: { resource: r },
        on: { click: () => { chartResource = r; ctx.cluster.changed(); } },
      }, r))),
      // The sampled history, then the allocation now, which holds until now.
      allocationChart([...c.history, { t: Date.now(), roles: byRole, total }], roles, resources.includes(chartResource) ? chartResource : 'cpus')),
    master(c),
  ];
}

function master(c) {
  const m = c.master;
  if (!m) return null;
  const info = m.master_info || {};
  const addr = info.address ? `${info.address.hostname || info.address.ip}:${info.address.port}` : info.hostname;
  return h('p', { class: 'muted footer', id: 'master-info' },
    `Leading master ${info.id || ''} at ${addr}, version ${info.version || '?'}, elected ${time(m.elected_time)}.`);
}

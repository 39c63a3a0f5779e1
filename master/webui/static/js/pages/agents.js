// The agents table and one agent's page.

import { bar } from '../chart.js';
import { amount, dl, h, link, section, table, time, timeInfo } from '../dom.js';
import { SCALARS, describe, reservedRole, scalars } from '../resources.js';
import { active, agentID, agentURL } from '../state.js';
import { simple } from './page.js';
import { taskTable } from './tasklist.js';

const BARS = ['cpus', 'mem', 'disk'];

export function list(ctx) {
  return simple(renderList, ctx);
}

function renderList(ctx) {
  const c = ctx.cluster;
  const used = c.usedByAgent();
  const counts = new Map();
  for (const t of c.tasks.values()) if (active(t)) counts.set(agentID(t), (counts.get(agentID(t)) || 0) + 1);
  const agents = [...c.agents.values()].sort((a, b) => (a.agent_info?.hostname || '').localeCompare(b.agent_info?.hostname || '') ||
    (a.agent_info?.id?.value || '').localeCompare(b.agent_info?.id?.value || ''));
  return section(`Agents (${agents.length})`, table([
    ['agent', (a) => link(['agents', a.agent_info?.id?.value || ''], a.agent_info?.id?.value || '')],
    ['hostname', (a) => a.agent_info?.hostname || ''],
    ['status', (a) => h('span', { class: a.active === false ? 'state state-lost' : 'state state-running' }, a.active === false ? 'inactive' : 'active')],
    ...BARS.map((r) => [{ text: r, class: 'bar-cell' }, (a) => bar(r, used.get(a.agent_info?.id?.value)?.[r], scalars(a.total_resources || a.agent_info?.resources)[r])]),
    [{ text: 'tasks', class: 'num' }, (a) => String(counts.get(a.agent_info?.id?.value) || 0)],
    ['registered', (a) => time(timeInfo(a.reregistered_time || a.registered_time))],
  ], agents, { id: 'agents-table', empty: 'No agents are registered.', row: (a) => ({ dataset: { agent: a.agent_info?.id?.value || '' } }) }));
}

export function one(ctx) {
  return simple(renderOne, ctx);
}

function renderOne(ctx) {
  const c = ctx.cluster;
  const id = ctx.params[1];
  const a = c.agents.get(id);
  const tasks = [...c.tasks.values()].filter((t) => agentID(t) === id);
  if (!a) {
    return [section('Agent ' + id, h('p', {}, 'This agent is not registered with the master (it may have been removed).')),
      section('Tasks', taskTable(c, tasks))];
  }
  const info = a.agent_info || {};
  const total = scalars(a.total_resources || info.resources);
  const used = c.usedByAgent().get(id) || {};
  const names = SCALARS.filter((r) => total[r] !== undefined);
  const reserved = (a.total_resources || []).filter((r) => reservedRole(r));
  return [
    section('Agent ' + (info.hostname || id), dl([
      ['ID', id],
      ['Hostname', info.hostname],
      ['Address', h('a', { href: agentURL(a) + '/health', rel: 'noreferrer' }, agentURL(a))],
      ['Status', a.active === false ? 'inactive' : 'active'],
      ['Version', a.version],
      ['Registered', time(timeInfo(a.registered_time))],
      ['Re-registered', a.reregistered_time ? time(timeInfo(a.reregistered_time)) : null],
    ])),
    section('Resources',
      h('div', { class: 'resource-bars', id: 'agent-resources' }, names.map((r) =>
        h('div', { class: 'resource-row' }, h('span', { class: 'resource-name' }, r), bar(r, used[r], total[r])))),
      dl([['Total', describe(a.total_resources || info.resources)],
        ['Reserved', reserved.length ? describe(reserved) : null],
        ['Free', names.map((r) => `${r}: ${amount(r, (total[r] || 0) - (used[r] || 0))}`).join('; ')]])),
    section('Attributes', table([
      ['name', (x) => x.name],
      ['value', (x) => x.text?.value ?? (x.scalar ? String(x.scalar.value) : x.ranges ? describe([x]).split(': ')[1] : '')],
    ], info.attributes || [], { id: 'agent-attributes', empty: 'No attributes.' })),
    section('Tasks', taskTable(c, tasks, { empty: 'No tasks on this agent.' })),
  ];
}

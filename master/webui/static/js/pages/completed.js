// The completed page: the finished tasks the master remembers (its
// bounded history: GET_TASKS' completed_tasks, then what ends while the
// page is open), newest first, with how each ended.

import { h, link, stateBadge, table, time } from '../dom.js';
import { TERMINAL, agentID, frameworkID, lastStatus, taskID, updated } from '../state.js';
import { simple } from './page.js';

const LIMIT = 1000; // rows drawn; the rest are counted

const words = (s, prefix) => (s || '').replace(prefix, '').toLowerCase().replaceAll('_', ' ');

export function create(ctx) {
  return simple(render, ctx);
}

function render(ctx) {
  const c = ctx.cluster;
  const done = [...c.tasks.values()].filter((t) => TERMINAL.has(t.state))
    .sort((a, b) => updated(b) - updated(a) || taskID(a).localeCompare(taskID(b)));
  return [h('section', { class: 'card' },
    h('h2', {}, 'Completed tasks'),
    h('p', { class: 'muted', id: 'completed-count' },
      `${done.length} finished tasks; the master keeps the newest of each framework and of its recently removed frameworks.`),
    table([
      ['finished', (t) => time(updated(t))],
      ['task', (t) => link(['tasks', frameworkID(t), taskID(t)], taskID(t))],
      ['framework', (t) => link(['frameworks', frameworkID(t)], c.frameworkName(frameworkID(t)))],
      ['state', (t) => stateBadge(t.state)],
      ['reason', (t) => h('span', { class: 'reason' }, words(lastStatus(t)?.reason, /^REASON_/))],
      ['message', (t) => h('span', { class: 'message small' }, lastStatus(t)?.message || '')],
      ['agent', (t) => agentID(t) ? link(['agents', agentID(t)], c.agentHostname(agentID(t))) : '–'],
    ], done.slice(0, LIMIT), {
      id: 'completed-table', empty: 'No task has finished yet.',
      row: (t) => ({ dataset: { task: taskID(t), framework: frameworkID(t), state: t.state || '', updated: String(updated(t)) } }),
    }),
    done.length > LIMIT ? h('p', { class: 'muted' }, `Showing the ${LIMIT} newest of ${done.length}.`) : null)];
}

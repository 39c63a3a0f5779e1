// taskTable is the table of tasks that the tasks, agent and framework
// pages share.

import { ago, h, link, stateBadge, table } from '../dom.js';
import { describe } from '../resources.js';
import { agentID, frameworkID, sandboxPath, taskID, updated } from '../state.js';

export function taskTable(cluster, tasks, { id = 'tasks-table', empty = 'No tasks.', limit = 500 } = {}) {
  const sorted = [...tasks].sort((a, b) => updated(b) - updated(a) || taskID(a).localeCompare(taskID(b)));
  const shown = sorted.slice(0, limit);
  return [
    table([
      ['task', (t) => link(['tasks', frameworkID(t), taskID(t)], taskID(t))],
      ['name', (t) => t.name || ''],
      ['state', (t) => stateBadge(t.state)],
      ['framework', (t) => link(['frameworks', frameworkID(t)], cluster.frameworkName(frameworkID(t)))],
      ['agent', (t) => agentID(t) ? link(['agents', agentID(t)], cluster.agentHostname(agentID(t))) : '–'],
      ['resources', (t) => h('span', { class: 'small' }, describe(t.resources))],
      ['updated', (t) => ago(updated(t))],
      ['', (t) => agentID(t) ? link(['agents', agentID(t), 'browse'], 'sandbox', { path: sandboxPath(t) }, { class: 'sandbox-link' }) : ''],
    ], shown, { id, empty, row: (t) => ({ dataset: { task: taskID(t), framework: frameworkID(t), state: t.state || '' } }) }),
    sorted.length > limit ? h('p', { class: 'muted' }, `Showing the ${limit} most recently updated of ${sorted.length} tasks.`) : null,
  ];
}

// The tasks page, with filters by state and framework and a search, kept in
// the location's query so that a filtered view can be linked; and one
// task's page.

import { dl, h, link, nodes, section, stateBadge, table, time } from '../dom.js';
import { describe } from '../resources.js';
import { STATES, TERMINAL, active, agentID, frameworkID, sandboxPath, taskID } from '../state.js';
import { simple } from './page.js';
import { taskTable } from './tasklist.js';

// matchState filters by a state, or by "active" / "terminal".
function matchState(t, want) {
  if (!want) return true;
  if (want === 'active') return active(t);
  if (want === 'terminal') return TERMINAL.has(t.state);
  return t.state === want;
}

export function list(ctx) {
  const filters = { state: ctx.query.get('state') || '', framework: ctx.query.get('framework') || '', q: ctx.query.get('q') || '' };
  const results = h('div', { id: 'tasks-results' });
  const stateSelect = h('select', { id: 'filter-state', 'aria-label': 'State' });
  const frameworkSelect = h('select', { id: 'filter-framework', 'aria-label': 'Framework' });
  const search = h('input', { id: 'filter-search', type: 'search', placeholder: 'Search ID, name, agent…', value: filters.q, 'aria-label': 'Search' });
  let current = ctx;

  const changed = () => {
    filters.state = stateSelect.value;
    filters.framework = frameworkSelect.value;
    filters.q = search.value;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    history.replaceState(null, '', '#/tasks' + (q.toString() ? '?' + q : ''));
    draw();
  };
  stateSelect.addEventListener('change', changed);
  frameworkSelect.addEventListener('change', changed);
  search.addEventListener('input', changed);

  // options refills a select only when its choices changed, so that an
  // open select is not disturbed by every event.
  const options = (select, choices, value) => {
    const key = JSON.stringify(choices);
    if (select.dataset.choices !== key) {
      select.replaceChildren(...choices.map(([v, label]) => h('option', { value: v }, label)));
      select.dataset.choices = key;
    }
    select.value = value;
  };

  const draw = () => {
    const c = current.cluster;
    const counts = c.taskCounts();
    options(stateSelect, [['', 'All states'], ['active', 'Active'], ['terminal', 'Terminal'],
      ...STATES.filter((s) => counts[s] || s === filters.state).map((s) => [s, `${s.slice(5)} (${counts[s] || 0})`])], filters.state);
    const fws = [...c.frameworks.values(), ...c.completedFrameworks.values()].map((f) => f.framework_info?.id?.value || '');
    if (filters.framework && !fws.includes(filters.framework)) fws.push(filters.framework);
    options(frameworkSelect, [['', 'All frameworks'], ...fws.map((id) => [id, c.frameworkName(id)])], filters.framework);
    const needle = filters.q.trim().toLowerCase();
    const tasks = [...c.tasks.values()].filter((t) => matchState(t, filters.state) &&
      (!filters.framework || frameworkID(t) === filters.framework) &&
      (!needle || [taskID(t), t.name || '', agentID(t), c.agentHostname(agentID(t)), c.frameworkName(frameworkID(t))]
        .some((x) => x.toLowerCase().includes(needle))));
    results.replaceChildren(...nodes(h('p', { class: 'muted', id: 'tasks-count' }, `${tasks.length} of ${c.tasks.size} tasks`),
      taskTable(c, tasks, { empty: 'No tasks match.' })));
  };

  const node = h('section', { class: 'card page' }, h('h2', {}, 'Tasks'),
    h('div', { class: 'filters' }, stateSelect, frameworkSelect, search), results);
  return { node, update: (c) => { current = c; draw(); } };
}

export function one(ctx) {
  return simple(renderOne, ctx);
}

function renderOne(ctx) {
  const c = ctx.cluster;
  const [, fid, tid] = ctx.params;
  const t = c.task(fid, tid);
  if (!t) return section('Task ' + tid, h('p', {}, 'No task with this ID is known for framework ', link(['frameworks', fid], fid), '.'));
  const aid = agentID(t);
  const path = sandboxPath(t);
  const file = (name) => link(['agents', aid, 'file'], name, { path: path + '/' + name });
  return [
    section('Task ' + tid, dl([
      ['ID', tid],
      ['Name', t.name],
      ['State', stateBadge(t.state)],
      ['Framework', link(['frameworks', fid], c.frameworkName(fid))],
      ['Agent', aid ? link(['agents', aid], c.agentHostname(aid)) : null],
      ['Resources', describe(t.resources)],
      ['Sandbox', aid ? [link(['agents', aid, 'browse'], path, { path }), ' · ', file('stdout'), ' · ', file('stderr')] : null],
    ])),
    section('Status updates', table([
      ['time', (st) => time(Number(st.timestamp))],
      ['state', (st) => stateBadge(st.state)],
      ['source', (st) => (st.source || '').replace(/^SOURCE_/, '').toLowerCase()],
      ['reason', (st) => (st.reason || '').replace(/^REASON_/, '').toLowerCase()],
      ['message', (st) => st.message || ''],
    ], [...(t.statuses || [])].reverse(), { id: 'task-statuses', empty: 'No status updates yet.' })),
  ];
}

// The tasks page, with filters by state and framework and a search, kept in
// the location's query so that a filtered view can be linked; and one
// task's page.

import { dl, h, link, nodes, section, stateBadge, table, time } from '../dom.js';
import { describe } from '../resources.js';
import { STATES, TERMINAL, active, agentID, agentURL, frameworkID, networkInfos, sandboxPath, taskID } from '../state.js';
import { simple } from './page.js';
import { taskTable } from './tasklist.js';
import * as terminal from './terminal.js';

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

// one is a task's page: its details, re-rendered on every change, and a
// terminal panel that is not (a shell stays open while the task updates).
export function one(ctx) {
  const details = simple(renderOne, ctx);
  const panel = h('div', { class: 'terminal-panel', id: 'terminal' });
  const note = h('p', { class: 'muted', id: 'terminal-status' });
  const button = h('button', { type: 'button', id: 'exec-button', disabled: true }, 'Exec');
  const card = h('section', { class: 'card' }, h('h2', {}, 'Terminal'),
    h('p', {}, button, ' opens a shell in the task\'s container, on its agent.'), note, panel);
  let current = ctx;
  let stop = null;
  button.addEventListener('click', () => {
    const c = current.cluster;
    const t = c.task(current.params[1], current.params[2]);
    const agent = t && c.agents.get(agentID(t));
    const container = t && containerID(t);
    if (!agent || !container) return;
    if (stop) stop();
    panel.replaceChildren();
    button.disabled = true;
    stop = terminal.open(panel, agentURL(agent), container, (state, message) => {
      panel.dataset.state = state;
      note.textContent = message;
      if (state === 'closed') button.disabled = false;
    });
  });
  const node = h('div', { class: 'page' }, details.node, card);
  return {
    node,
    update: (c) => {
      current = c;
      details.update(c);
      const t = c.cluster.task(c.params[1], c.params[2]);
      const runnable = t && t.state === 'TASK_RUNNING' && containerID(t) && c.cluster.agents.get(agentID(t));
      if (!stop || panel.dataset.state === 'closed') button.disabled = !runnable;
    },
    unmount: () => stop && stop(),
  };
}

// containerID is the task's container, as its agent reported it.
function containerID(t) {
  let id = '';
  for (const st of t.statuses || []) if (st.container_status?.container_id?.value) id = st.container_status.container_id.value;
  return id;
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
      ['Image', imageOf(t) ? h('code', { id: 'task-image' }, imageOf(t)) : null],
      ...networkRows(networkInfos(t)),
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

// imageOf names the image a task's root comes from: its mesos.image, or
// a DOCKER container's docker.image; '' when it runs on the agent's own.
function imageOf(t) {
  const c = t.container || {};
  return c.mesos?.image?.docker?.name || c.docker?.image || '';
}

// networkRows show a task's own addresses on its CNI networks and the
// host ports that reach it; a task on its agent's network has none.
function networkRows(nets) {
  if (!nets.length) return [];
  const ips = nets.flatMap((n) => (n.ip_addresses || []).map((a) => a.ip_address));
  const mappings = nets.flatMap((n) => (n.port_mappings || []).map((m) =>
    `${m.host_port} → ${m.container_port}/${m.protocol || 'tcp'}`));
  return [
    ['IP addresses', h('span', { id: 'task-ips' }, ips.join(', '))],
    ['Networks', nets.map((n) => n.name || 'host').join(', ')],
    ['Port mappings', mappings.length ? h('span', { id: 'task-port-mappings' }, mappings.join(', ')) : null],
  ];
}

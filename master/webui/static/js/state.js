// The UI's copy of the cluster: the state that SUBSCRIBED carries, kept
// current by the operator stream's events, with what the pages derive from
// it (usage per agent, allocation per role, tasks by state) and a history
// of the allocation for the chart.

import { add, role, scalars } from './resources.js';

export const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST',
  'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

export const STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED',
  'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN'];

// active reports whether a task holds its resources: not over, and not on
// an unreachable agent (Mesos frees those).
export function active(task) {
  return !TERMINAL.has(task.state) && task.state !== 'TASK_UNREACHABLE';
}

export function frameworkID(task) { return task.framework_id?.value || ''; }
export function taskID(task) { return task.task_id?.value || ''; }
export function agentID(task) { return task.agent_id?.value || ''; }

function key(fid, tid) { return fid + '\u0000' + tid; }

// lastStatus is a task's newest status.
export function lastStatus(task) {
  const st = task.statuses || [];
  return st.length ? st[st.length - 1] : null;
}

// networkInfos are a task's container networks with their addresses and
// port mappings (container_status.network_infos), from its newest status
// that reports them; none for a task on its agent's network.
export function networkInfos(task) {
  const st = task.statuses || [];
  for (let i = st.length - 1; i >= 0; i--) {
    const n = st[i].container_status?.network_infos;
    if (n && n.length) return n;
  }
  return [];
}

// updated is when a task last changed, in seconds.
export function updated(task) {
  return Number(lastStatus(task)?.timestamp || 0);
}

// sandboxPath is Mesos' virtual path of a task's sandbox on its agent,
// which corral's agents resolve in /files: the container from the task's
// statuses, or the executor's latest run.
export function sandboxPath(task) {
  const statuses = task.statuses || [];
  let executor = task.executor_id?.value || '';
  let container = '';
  for (const st of statuses) {
    if (st.executor_id?.value) executor = st.executor_id.value;
    if (st.container_status?.container_id?.value) container = st.container_status.container_id.value;
  }
  return '/frameworks/' + frameworkID(task) + '/executors/' + (executor || taskID(task)) + '/runs/' + (container || 'latest');
}

// agentURL is the base URL of an agent's HTTP endpoints: from its pid when
// that carries an address (Mesos' "agent(1)@10.0.0.1:5051"), else its
// hostname and port.
export function agentURL(agent) {
  const proto = location.protocol === 'https:' ? 'https:' : 'http:';
  const m = /@([^@]+):(\d+)$/.exec(agent?.pid || '');
  if (m) return proto + '//' + m[1] + ':' + m[2];
  const info = agent?.agent_info || {};
  const host = info.hostname || '';
  return proto + '//' + (host.includes(':') ? '[' + host + ']' : host) + ':' + (info.port || 5051);
}

const HISTORY_LIMIT = 900; // 30 minutes at one sample every 2 s

// FINISHED_LIMIT bounds the finished tasks a page kept open for days
// remembers, as the master bounds its own history: the oldest go first.
const FINISHED_LIMIT = 20000;

export class Cluster extends EventTarget {
  constructor() {
    super();
    this.agents = new Map();
    this.frameworks = new Map();
    this.completedFrameworks = new Map();
    this.tasks = new Map();
    this.finishedSince = 0; // finished tasks since the last pruneFinished
    this.history = [];
    this.status = 'connecting';
    this.error = '';
    this.heartbeatSeconds = 15;
    this.subscribedAt = 0;
    this.master = null; // GET_MASTER
  }

  setStatus(status, error = '') {
    this.status = status;
    this.error = error;
    this.changed();
  }

  changed() { this.dispatchEvent(new Event('change')); }

  // apply applies one operator event.
  apply(ev) {
    switch (ev.type) {
      case 'SUBSCRIBED': this.reset(ev.subscribed || {}); break;
      case 'TASK_ADDED': this.putTask(ev.task_added.task); break;
      case 'TASK_UPDATED': this.updateTask(ev.task_updated); break;
      case 'AGENT_ADDED': {
        const a = ev.agent_added.agent;
        this.agents.set(a.agent_info?.id?.value || '', a);
        break;
      }
      case 'AGENT_REMOVED': this.agents.delete(ev.agent_removed.agent_id?.value || ''); break;
      case 'FRAMEWORK_ADDED': this.putFramework(ev.framework_added.framework); break;
      case 'FRAMEWORK_UPDATED': this.putFramework(ev.framework_updated.framework); break;
      case 'FRAMEWORK_REMOVED': {
        const info = ev.framework_removed.framework_info || {};
        const id = info.id?.value || '';
        const f = this.frameworks.get(id) || { framework_info: info };
        this.frameworks.delete(id);
        this.completedFrameworks.set(id, { ...f, active: false, connected: false });
        break;
      }
      case 'HEARTBEAT': return; // only proves the stream is alive
      default: return;
    }
    this.changed();
  }

  reset(sub) {
    const st = sub.get_state || {};
    this.heartbeatSeconds = Number(sub.heartbeat_interval_seconds || 15);
    this.agents = new Map((st.get_agents?.agents || []).map((a) => [a.agent_info?.id?.value || '', a]));
    this.frameworks = new Map();
    for (const f of st.get_frameworks?.frameworks || []) this.putFramework(f);
    this.completedFrameworks = new Map((st.get_frameworks?.completed_frameworks || [])
      .map((f) => [f.framework_info?.id?.value || '', f]));
    this.tasks = new Map();
    const t = st.get_tasks || {};
    for (const task of [...(t.completed_tasks || []), ...(t.unreachable_tasks || []), ...(t.tasks || [])]) this.putTask(task);
    this.subscribedAt = Date.now();
    this.status = 'live';
    this.error = '';
    this.sample();
  }

  putFramework(f) {
    const id = f.framework_info?.id?.value || '';
    this.frameworks.set(id, f);
    this.completedFrameworks.delete(id);
  }

  putTask(task) {
    this.tasks.set(key(frameworkID(task), taskID(task)), task);
  }

  updateTask(u) {
    const fid = u.framework_id?.value || '';
    const st = u.status || {};
    const k = key(fid, st.task_id?.value || '');
    let task = this.tasks.get(k);
    if (!task) {
      task = { task_id: st.task_id, framework_id: u.framework_id, agent_id: st.agent_id, statuses: [] };
      this.tasks.set(k, task);
    }
    task.state = u.state || st.state;
    task.statuses = [...(task.statuses || []), st];
    if (TERMINAL.has(task.state) && ++this.finishedSince > FINISHED_LIMIT / 10) this.pruneFinished();
  }

  // pruneFinished forgets the oldest finished tasks beyond FINISHED_LIMIT.
  pruneFinished() {
    this.finishedSince = 0;
    const done = [...this.tasks.entries()].filter(([, t]) => TERMINAL.has(t.state));
    if (done.length <= FINISHED_LIMIT) return;
    done.sort(([, a], [, b]) => updated(a) - updated(b));
    for (const [k] of done.slice(0, done.length - FINISHED_LIMIT)) this.tasks.delete(k);
  }

  task(fid, tid) { return this.tasks.get(key(fid, tid)); }

  framework(id) { return this.frameworks.get(id) || this.completedFrameworks.get(id); }

  frameworkName(id) { return this.framework(id)?.framework_info?.name || id; }

  agentHostname(id) { return this.agents.get(id)?.agent_info?.hostname || id; }

  // usedByAgent sums the resources of the active tasks on each agent.
  usedByAgent() {
    const out = new Map();
    for (const t of this.tasks.values()) {
      if (!active(t)) continue;
      out.set(agentID(t), add(out.get(agentID(t)), scalars(t.resources)));
    }
    return out;
  }

  // allocationByRole sums the resources of the active tasks by the role
  // they were allocated to.
  allocationByRole() {
    const out = {};
    for (const t of this.tasks.values()) {
      if (!active(t)) continue;
      for (const r of t.resources || []) out[role(r)] = add(out[role(r)], scalars([r]));
    }
    return out;
  }

  // total sums the resources of the active agents.
  total() {
    let out = {};
    for (const a of this.agents.values()) if (a.active !== false) out = add(out, scalars(a.total_resources || a.agent_info?.resources));
    return out;
  }

  // roles lists the roles of the frameworks and those with allocations.
  roles() {
    const set = new Set(Object.keys(this.allocationByRole()));
    for (const f of this.frameworks.values()) for (const r of f.framework_info?.roles || []) set.add(r);
    for (const sample of this.history) for (const r of Object.keys(sample.roles)) set.add(r);
    return [...set].sort();
  }

  taskCounts() {
    const out = {};
    for (const t of this.tasks.values()) out[t.state] = (out[t.state] || 0) + 1;
    return out;
  }

  // sample records the allocation by role now, for the chart.
  sample(now = Date.now()) {
    this.history.push({ t: now, roles: this.allocationByRole(), total: this.total() });
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
  }
}

// Roles with their weights, frameworks, allocations and quota
// (GET_ROLES, GET_QUOTA, polled).

import { call } from '../api.js';
import { amount, h, link, section, table } from '../dom.js';
import { describe } from '../resources.js';
import { polled } from './page.js';

export function create() {
  return polled(async (signal) => {
    const [roles, quota] = await Promise.all([call('GET_ROLES', {}, signal), call('GET_QUOTA', {}, signal)]);
    return { roles: roles.get_roles?.roles || [], quota: quota.get_quota?.status || {} };
  }, render, 5000);
}

function scalarMap(m) {
  return Object.entries(m || {}).sort().map(([k, v]) => `${k}: ${amount(k, Number(v?.value || 0))}`).join('; ');
}

function render(ctx, res) {
  const c = ctx.cluster;
  if (!res.data) return section('Roles', res.error ? h('p', { class: 'error' }, res.error.message) : h('p', { class: 'muted' }, 'Loading…'));
  const configs = new Map((res.data.quota.configs || []).map((q) => [q.role, q]));
  // Quota set the old way (SET_QUOTA) shows as guarantees in infos.
  for (const q of res.data.quota.infos || []) {
    if (!configs.has(q.role)) configs.set(q.role, { role: q.role, guaranteeText: describe(q.guarantee) });
  }
  const roles = new Map(res.data.roles.map((r) => [r.name, r]));
  for (const name of configs.keys()) if (!roles.has(name)) roles.set(name, { name, weight: 1 });
  const rows = [...roles.values()].sort((a, b) => a.name.localeCompare(b.name));
  return [
    res.error ? h('p', { class: 'error' }, res.error.message) : null,
    section(`Roles (${rows.length})`, table([
      ['role', (r) => r.name],
      [{ text: 'weight', class: 'num' }, (r) => String(r.weight ?? 1)],
      ['frameworks', (r) => (r.frameworks || []).map((f, i) => [i ? ', ' : '', link(['frameworks', f.value], c.frameworkName(f.value))])],
      ['allocated', (r) => h('span', { class: 'small' }, describe(r.resources))],
      ['quota guarantees', (r) => configs.get(r.name)?.guaranteeText || scalarMap(configs.get(r.name)?.guarantees)],
      ['quota limits', (r) => scalarMap(configs.get(r.name)?.limits)],
    ], rows, { id: 'roles-quota-table', empty: 'No roles are known.', row: (r) => ({ dataset: { role: r.name } }) })),
  ];
}

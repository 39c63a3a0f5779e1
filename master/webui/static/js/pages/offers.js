// Outstanding offers, and why frameworks got none in the last round
// (GET_FRAMEWORKS, polled: offers are not on the operator stream).

import { call } from '../api.js';
import { h, link, section, table } from '../dom.js';
import { describe } from '../resources.js';
import { polled } from './page.js';

export function create() {
  return polled(async (signal) => (await call('GET_FRAMEWORKS', {}, signal)).get_frameworks?.frameworks || [], render);
}

function render(ctx, res) {
  const c = ctx.cluster;
  const fws = res.data || [];
  const offers = fws.flatMap((f) => (f.offers || []).map((o) => ({ f, o })));
  const unoffered = fws.flatMap((f) => (f.unoffered || []).map((u) => ({ f, u })));
  const name = (f) => link(['frameworks', f.framework_info?.id?.value || ''], f.framework_info?.name || f.framework_info?.id?.value || '');
  return [
    res.error ? h('p', { class: 'error' }, 'Cannot read offers: ' + res.error.message) : null,
    section(`Outstanding offers (${offers.length})`, table([
      ['offer', ({ o }) => h('span', { class: 'small' }, o.id?.value || '')],
      ['framework', ({ f }) => name(f)],
      ['agent', ({ o }) => link(['agents', o.agent_id?.value || ''], o.hostname || c.agentHostname(o.agent_id?.value || ''))],
      ['role', ({ o }) => [...new Set((o.resources || []).map((r) => r.allocation_info?.role).filter(Boolean))].join(', ')],
      ['resources', ({ o }) => h('span', { class: 'small' }, describe(o.resources))],
    ], offers, { id: 'offers-table', empty: res.loading ? 'Loading…' : 'No outstanding offers.' })),
    section('Not offered in the last allocation round', table([
      ['framework', ({ f }) => name(f)],
      ['role', ({ u }) => u.role || ''],
      ['reason', ({ u }) => u.reason || ''],
      [{ text: 'agents', class: 'num' }, ({ u }) => String(u.agents || 0)],
    ], unoffered, { id: 'unoffered-table', empty: 'Every framework was offered what it could take.' })),
  ];
}

// The maintenance schedule and the machines' maintenance status. A master
// without maintenance support answers 501: the page says so.

import { APIError, call } from '../api.js';
import { h, section, table, time } from '../dom.js';
import { polled } from './page.js';

async function optional(type, signal) {
  try {
    return { response: await call(type, {}, signal) };
  } catch (err) {
    if (err instanceof APIError && err.status === 501) return { unsupported: err.message };
    throw err;
  }
}

export function create() {
  return polled(async (signal) => {
    const [schedule, status] = await Promise.all([optional('GET_MAINTENANCE_SCHEDULE', signal), optional('GET_MAINTENANCE_STATUS', signal)]);
    return { schedule, status };
  }, render, 10000);
}

function machine(m) {
  return [m.hostname, m.ip].filter(Boolean).join(' / ');
}

function nanos(x) { return Number(x?.nanoseconds || 0) / 1e9; }

function render(ctx, res) {
  if (!res.data) return section('Maintenance', res.error ? h('p', { class: 'error' }, res.error.message) : h('p', { class: 'muted' }, 'Loading…'));
  const { schedule, status } = res.data;
  let body;
  if (schedule.unsupported) {
    body = h('p', { class: 'muted', id: 'maintenance-unsupported' },
      'This master does not support maintenance schedules yet (GET_MAINTENANCE_SCHEDULE answered 501 Not Implemented).');
  } else {
    const windows = schedule.response.get_maintenance_schedule?.schedule?.windows || [];
    body = table([
      ['machines', (w) => (w.machine_ids || []).map(machine).join(', ')],
      ['start', (w) => time(nanos(w.unavailability?.start))],
      ['duration', (w) => w.unavailability?.duration ? Math.round(nanos(w.unavailability.duration) / 60) + ' min' : 'indefinite'],
    ], windows, { id: 'maintenance-windows', empty: 'No maintenance is scheduled.' });
  }
  const st = status.response?.get_maintenance_status?.status;
  return [
    section('Maintenance schedule', body),
    st ? section('Machines in maintenance', table([
      ['machine', (m) => machine(m.id || m)],
      ['mode', (m) => m.mode],
    ], [...(st.draining_machines || []).map((m) => ({ ...m, mode: 'draining' })), ...(st.down_machines || []).map((m) => ({ id: m, mode: 'down' }))],
    { empty: 'No machine is draining or down.' })) : null,
  ];
}

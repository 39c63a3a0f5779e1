// Usage bars and the allocation-over-time chart, as plain DOM and inline
// SVG.

import { amount, h, s } from './dom.js';

// bar shows used of total for one resource.
export function bar(name, used, total) {
  used = used || 0;
  total = total || 0;
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low';
  return h('div', { class: 'bar', dataset: { resource: name, used: String(used), total: String(total) },
    title: `${name}: ${amount(name, used)} of ${amount(name, total)} (${pct.toFixed(0)}%)` },
  h('div', { class: 'bar-fill bar-' + level, style: { width: pct.toFixed(1) + '%' } }),
  h('span', { class: 'bar-label' }, `${amount(name, used)} / ${amount(name, total)}`));
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

// color gives a role a stable color.
export function color(role) {
  let x = 0;
  for (const ch of role) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[x % PALETTE.length];
}

// allocationChart draws the amount of resource allocated to each role in
// each sample as stacked bands, one path per role, under a dashed line for
// the cluster's total.
export function allocationChart(history, roles, resource) {
  const W = 960, H = 240, L = 56, R = 12, T = 12, B = 24;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', id: 'allocation-chart',
    'aria-label': `Allocation of ${resource} by role over time`, dataset: { resource } });
  const samples = history.length ? history : [{ t: Date.now(), roles: {}, total: {} }];
  const last = samples[samples.length - 1].t;
  const t0 = samples[0].t, t1 = Math.max(last, t0 + 60000);
  // stacks[i][j] is the top of role j's band in sample i.
  const stacks = samples.map((p) => {
    let sum = 0;
    return roles.map((r) => (sum += p.roles[r]?.[resource] || 0));
  });
  let ymax = 0;
  samples.forEach((p, i) => { ymax = Math.max(ymax, p.total[resource] || 0, stacks[i][roles.length - 1] || 0); });
  ymax = ymax || 1;
  const x = (t) => (L + ((t - t0) / (t1 - t0)) * (W - L - R)).toFixed(1);
  const y = (v) => (T + (1 - v / ymax) * (H - T - B)).toFixed(1);
  for (const frac of [0, 0.5, 1]) {
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(ymax * frac), y2: y(ymax * frac), class: 'grid' }));
    svg.appendChild(s('text', { x: L - 6, y: Number(y(ymax * frac)) + 4, class: 'axis', 'text-anchor': 'end' }, amount(resource, ymax * frac)));
  }
  svg.appendChild(s('text', { x: L, y: H - 6, class: 'axis' }, new Date(t0).toLocaleTimeString()));
  svg.appendChild(s('text', { x: W - R, y: H - 6, class: 'axis', 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()));
  roles.forEach((r, j) => {
    // A sample holds its value until the next one: steps, not slopes.
    const top = [], bottom = [];
    samples.forEach((p, i) => {
      const tNext = i + 1 < samples.length ? samples[i + 1].t : last;
      for (const t of [p.t, tNext]) {
        top.push(`${x(t)},${y(stacks[i][j])}`);
        bottom.push(`${x(t)},${y(j ? stacks[i][j - 1] : 0)}`);
      }
    });
    const now = samples[samples.length - 1].roles[r]?.[resource] || 0;
    svg.appendChild(s('path', { d: 'M' + top.join(' L') + ' L' + bottom.reverse().join(' L') + ' Z', class: 'series',
      fill: color(r), stroke: color(r), dataset: { role: r } }, s('title', {}, `${r}: ${amount(resource, now)}`)));
  });
  const total = samples.flatMap((p, i) => [p.t, i + 1 < samples.length ? samples[i + 1].t : last].map((t) => `${x(t)},${y(p.total[resource] || 0)}`));
  svg.appendChild(s('path', { d: 'M' + total.join(' L'), class: 'series-total' }, s('title', {}, 'cluster total')));
  const legend = h('ul', { class: 'legend' }, roles.map((r) =>
    h('li', {}, h('span', { class: 'swatch', style: { background: color(r) } }), r)),
  h('li', { class: 'muted' }, h('span', { class: 'swatch swatch-total' }), 'total'));
  return h('figure', { class: 'chart-wrap' }, svg, legend);
}

// simple makes a page that re-renders all of its content on every change.

import { h, nodes } from '../dom.js';

export function simple(render, ctx) {
  const node = h('div', { class: 'page' });
  return { node, update: (c) => node.replaceChildren(...nodes(render(c))) };
}

// polled makes a page whose content also needs operator calls the stream
// does not cover (offers, quota, maintenance): load runs now and every
// intervalMs while the page is shown, and render gets its last result
// ({data} or {error}).
export function polled(load, render, intervalMs = 3000) {
  const node = h('div', { class: 'page' });
  let result = { loading: true };
  let ctx = null;
  let stopped = false;
  let timer = null;
  const ctl = new AbortController();
  const draw = () => { if (ctx) node.replaceChildren(...nodes(render(ctx, result))); };
  const tick = async () => {
    try {
      result = { data: await load(ctl.signal) };
    } catch (err) {
      if (stopped) return;
      result = { error: err, data: result.data };
    }
    if (stopped) return;
    draw();
    timer = setTimeout(tick, intervalMs);
  };
  tick();
  return {
    node,
    update: (c) => { ctx = c; draw(); },
    unmount: () => { stopped = true; ctl.abort(); clearTimeout(timer); },
  };
}

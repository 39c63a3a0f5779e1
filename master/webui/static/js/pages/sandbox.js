// The sandbox browser: directory listings and a live tail of a file, read
// straight from the agent's /files endpoints (Mesos' browse/read/download),
// which answer the UI's origin with CORS.

import { ago, bytes, h, link, nodes, table } from '../dom.js';
import { agentURL } from '../state.js';

const TAIL_BYTES = 256 * 1024; // a file opens at its last 256 KB
const CHUNK_BYTES = 256 * 1024;
const KEEP_CHARS = 2 * 1024 * 1024; // the page keeps the last 2 MB
const POLL_MS = 1000;

function parent(path) {
  const i = path.replace(/\/+$/, '').lastIndexOf('/');
  return i > 0 ? path.slice(0, i) : '/';
}

function base(path) {
  return path.replace(/\/+$/, '').split('/').pop() || path;
}

// crumbs links every ancestor of path that lies below the agent's roots.
function crumbs(aid, path) {
  const parts = path.split('/').filter(Boolean);
  return h('nav', { class: 'crumbs' }, parts.map((p, i) => {
    const prefix = '/' + parts.slice(0, i + 1).join('/');
    return ['/', i === parts.length - 1 ? h('b', {}, p) : link(['agents', aid, 'browse'], p, { path: prefix })];
  }));
}

async function getJSON(url, signal) {
  const res = await fetch(url, { signal, cache: 'no-store' });
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text.trim()}`);
  return JSON.parse(text);
}

function files(agent, endpoint, params) {
  return agentURL(agent) + '/files/' + endpoint + '?' + new URLSearchParams(params);
}

// waitForAgent makes a view that starts once the agent is known (the page
// may open before the first SUBSCRIBED arrives).
function waitForAgent(ctx, title, start) {
  const aid = ctx.params[1];
  const body = h('div', {}, h('p', { class: 'muted' }, 'Waiting for the agent…'));
  const node = h('section', { class: 'card page' }, h('h2', {}, title), body);
  let stop = null;
  return {
    node,
    update: (c) => {
      const agent = c.cluster.agents.get(aid);
      if (!stop && agent) stop = start(agent, body);
      else if (!agent && c.cluster.status === 'live' && !stop) body.replaceChildren(h('p', { class: 'error' }, 'No agent ' + aid + ' is registered.'));
    },
    unmount: () => stop && stop(),
  };
}

export function browse(ctx) {
  const aid = ctx.params[1];
  const path = ctx.query.get('path') || '/';
  return waitForAgent(ctx, 'Sandbox', (agent, body) => {
    const ctl = new AbortController();
    let timer = null;
    const load = async () => {
      try {
        const entries = await getJSON(files(agent, 'browse', { path }), ctl.signal);
        entries.sort((a, b) => (b.mode.startsWith('d') - a.mode.startsWith('d')) || a.path.localeCompare(b.path));
        body.replaceChildren(...nodes(crumbs(aid, path), path !== '/' ? h('p', {}, link(['agents', aid, 'browse'], '↑ parent', { path: parent(path) })) : null,
          table([
            ['name', (e) => e.mode.startsWith('d') ? link(['agents', aid, 'browse'], base(e.path) + '/', { path: e.path })
              : link(['agents', aid, 'file'], base(e.path), { path: e.path })],
            [{ text: 'size', class: 'num' }, (e) => e.mode.startsWith('d') ? '' : bytes(e.size)],
            ['mode', (e) => h('code', {}, e.mode)],
            ['modified', (e) => ago(e.mtime)],
            ['', (e) => e.mode.startsWith('d') ? '' : h('a', { href: files(agent, 'download', { path: e.path }), download: base(e.path) }, 'download')],
          ], entries, { id: 'sandbox-listing', empty: 'This directory is empty.', row: (e) => ({ dataset: { path: e.path } }) })));
      } catch (err) {
        if (ctl.signal.aborted) return;
        body.replaceChildren(crumbs(aid, path), h('p', { class: 'error', id: 'sandbox-error' }, 'Cannot list ' + path + ' on ' + agentURL(agent) + ': ' + err.message),
          h('p', { class: 'muted' }, 'The browser reads sandboxes from the agent itself, at its advertised hostname and port.'));
      }
      if (!ctl.signal.aborted) timer = setTimeout(load, 3000);
    };
    load();
    return () => { ctl.abort(); clearTimeout(timer); };
  });
}

export function file(ctx) {
  const aid = ctx.params[1];
  const path = ctx.query.get('path') || '';
  return waitForAgent(ctx, base(path), (agent, body) => {
    const ctl = new AbortController();
    const pre = h('pre', { class: 'tail', id: 'file-content', dataset: { offset: '0' } });
    const note = h('p', { class: 'muted', id: 'file-status' }, 'Reading…');
    const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
    body.replaceChildren(crumbs(aid, path),
      h('div', { class: 'filters' },
        h('label', {}, follow, ' follow'),
        h('a', { href: files(agent, 'download', { path }), download: base(path) }, 'download'),
        link(['agents', aid, 'browse'], 'directory', { path: parent(path) })),
      pre, note);
    let offset = -1;
    let timer = null;
    const read = (params) => getJSON(files(agent, 'read', { path, ...params }), ctl.signal);
    // poll learns the size, then reads the bytes that exist: it asks for
    // exactly those, so the offset counts bytes whatever the text decodes to.
    const poll = async () => {
      try {
        for (;;) {
          const size = (await read({ offset: -1 })).offset;
          if (offset < 0 || size < offset) { // first read, or the file was truncated
            offset = Math.max(0, size - TAIL_BYTES);
            pre.replaceChildren();
          }
          if (size <= offset) break;
          const length = Math.min(size - offset, CHUNK_BYTES);
          const chunk = await read({ offset, length });
          pre.appendChild(document.createTextNode(chunk.data));
          offset += length;
          pre.dataset.offset = String(offset);
          if (pre.textContent.length > KEEP_CHARS) pre.textContent = pre.textContent.slice(-KEEP_CHARS);
        }
        note.textContent = `${bytes(offset)} · following, updated ${new Date().toLocaleTimeString()}`;
        note.classList.remove('error');
        if (follow.checked) pre.scrollTop = pre.scrollHeight;
      } catch (err) {
        if (ctl.signal.aborted) return;
        note.textContent = 'Cannot read ' + path + ': ' + err.message + ' (retrying)';
        note.classList.add('error');
      }
      if (!ctl.signal.aborted) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => { ctl.abort(); clearTimeout(timer); };
  });
}

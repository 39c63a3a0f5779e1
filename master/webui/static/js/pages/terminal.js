// A terminal in a running task's container: xterm.js (vendored, see
// master/webui/vendor.sh) on a WebSocket to the task's agent, which runs
// a shell beside the task (GET /api/v1/exec: a nested container session
// with a terminal). The frames are the v1 API's ProcessIO messages in
// JSON: keystrokes and window sizes go up, output comes down, and last the
// session's WAIT_NESTED_CONTAINER answer with its exit status.

import { Terminal } from '../../vendor/xterm/xterm.mjs';
import { FitAddon } from '../../vendor/xterm/addon-fit.mjs';

const encoder = new TextEncoder();

function toBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text || '');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// exitText describes a wait(2) status.
function exitText(status) {
  if (status === undefined || status === null) return 'the session ended';
  if (status & 0x7f) return 'the session was killed by signal ' + (status & 0x7f);
  return 'the session exited with status ' + ((status >> 8) & 0xff);
}

// open starts a shell in the container on the agent at agentBase, drawn
// in el; onState hears 'connecting', 'open' or 'closed' with a message.
// It returns a function that ends the session.
export function open(el, agentBase, container, onState) {
  const term = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 2000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const url = agentBase.replace(/^http/, 'ws') + '/api/v1/exec?' +
    new URLSearchParams({ container, rows: String(term.rows), cols: String(term.cols) });
  const ws = new WebSocket(url);
  let closed = false;
  const send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  onState('connecting', 'Connecting to ' + agentBase + '…');
  ws.addEventListener('open', () => { onState('open', 'Connected: a shell beside the task.'); term.focus(); });
  ws.addEventListener('message', (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === 'DATA') term.write(fromBase64(m.data?.data));
    else if (m.type === 'WAIT_NESTED_CONTAINER') {
      closed = true;
      onState('closed', exitText(m.wait_nested_container?.exit_status) + '.');
    }
  });
  ws.addEventListener('close', (ev) => {
    if (!closed) onState('closed', 'The connection closed' + (ev.reason ? ': ' + ev.reason : '') +
      ' (the agent may refuse it: see its answer to ' + url.replace(/^ws/, 'http') + ').');
    closed = true;
  });
  const input = term.onData((d) => send({ type: 'DATA', data: { type: 'STDIN', data: toBase64(encoder.encode(d)) } }));
  const resize = term.onResize(({ rows, cols }) =>
    send({ type: 'CONTROL', control: { type: 'TTY_INFO', tty_info: { window_size: { rows, columns: cols } } } }));
  const refit = () => fit.fit();
  window.addEventListener('resize', refit);
  return () => {
    window.removeEventListener('resize', refit);
    input.dispose();
    resize.dispose();
    ws.close();
    term.dispose();
  };
}

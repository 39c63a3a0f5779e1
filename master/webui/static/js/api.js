// The operator API, on the origin the UI came from: one call at a time
// (POST api/v1 with a JSON Call) and the SUBSCRIBE stream.

export class APIError extends Error {
  constructor(status, message) {
    super(message || 'HTTP ' + status);
    this.status = status;
  }
}

// call sends an operator call and returns its JSON response ({} for an
// empty 200).
export async function call(type, fields = {}, signal) {
  const res = await fetch('api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ type, ...fields }),
    signal,
  });
  const text = await res.text();
  if (!res.ok) throw new APIError(res.status, text.trim());
  return text ? JSON.parse(text) : {};
}

// RecordIO splits Mesos' RecordIO framing, "<length>\n<bytes>" repeated,
// where length counts bytes, not characters.
export class RecordIO {
  constructor() {
    this.buf = new Uint8Array(0);
    this.decoder = new TextDecoder();
  }

  // push adds a chunk and returns the records it completes.
  push(chunk) {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
    const out = [];
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf(10, start);
      if (nl < 0) break;
      const header = this.decoder.decode(this.buf.subarray(start, nl));
      if (!/^\d+$/.test(header)) throw new Error('RecordIO: bad record length ' + JSON.stringify(header.slice(0, 20)));
      const len = Number(header);
      if (this.buf.length < nl + 1 + len) break;
      out.push(this.decoder.decode(this.buf.subarray(nl + 1, nl + 1 + len)));
      start = nl + 1 + len;
    }
    this.buf = this.buf.slice(start);
    return out;
  }
}

// subscribe opens the operator stream and calls onEvent with each event
// until the stream ends or signal aborts. It resolves when the master
// closes the stream and rejects on errors.
export async function subscribe(onEvent, signal) {
  const res = await fetch('api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ type: 'SUBSCRIBE' }),
    signal,
    cache: 'no-store',
  });
  if (!res.ok) throw new APIError(res.status, (await res.text()).trim());
  const reader = res.body.getReader();
  const framing = new RecordIO();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const record of framing.push(value)) onEvent(JSON.parse(record));
  }
}

// follow keeps cluster subscribed: it reconnects with backoff when the
// stream breaks or falls silent for three heartbeats, and reloads the page
// when this origin's master no longer leads: a standby redirects the page
// to the leader, whose API is then same-origin again.
export async function follow(cluster) {
  let backoff = 500;
  for (;;) {
    const ctl = new AbortController();
    let last = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - last > 3 * cluster.heartbeatSeconds * 1000 + 5000) ctl.abort(new Error('no heartbeat from the master'));
    }, 1000);
    try {
      await subscribe((ev) => {
        last = Date.now();
        if (ev.type === 'SUBSCRIBED') backoff = 500;
        cluster.apply(ev);
      }, ctl.signal);
      cluster.setStatus('reconnecting', 'the master closed the stream');
    } catch (err) {
      cluster.setStatus('reconnecting', err?.message || String(err));
    } finally {
      clearInterval(watchdog);
    }
    if (await standby()) {
      location.reload();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 10000);
  }
}

// standby reports whether this origin now redirects the UI elsewhere: its
// master became a standby and the leader is known.
async function standby() {
  try {
    const res = await fetch('./', { redirect: 'manual', cache: 'no-store' });
    return res.type === 'opaqueredirect';
  } catch {
    return false;
  }
}

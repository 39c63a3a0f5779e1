// Package webui is the master's web UI: plain HTML, CSS and JavaScript
// modules embedded in the binary and served at / by every master.
//
// The UI reads the operator API only, on the origin it was loaded from:
// POST /api/v1 with Mesos v1 operator calls in JSON (GET_STATE,
// GET_FRAMEWORKS, GET_ROLES, GET_QUOTA, GET_WEIGHTS,
// GET_MAINTENANCE_SCHEDULE, ...) and one SUBSCRIBE stream (RecordIO-framed
// JSON events) that keeps its copy of the cluster's state live. Resource
// usage, tasks by state and the allocation chart are computed in the
// browser from that state. Sandboxes are read straight from each agent's
// /files endpoints (which answer any origin), by Mesos' virtual sandbox
// path /frameworks/<framework>/executors/<executor>/runs/<container>.
// The task page's terminal is xterm.js (vendored under static/vendor by
// vendor.sh, `make ui-vendor`) on a WebSocket to the task's agent
// (GET /api/v1/exec), which runs a shell beside the task.
//
// A standby master redirects every request, this page included, to the
// leader (see master/ha), so the browser ends up on the leader's origin
// and its API calls never cross origins. When the stream breaks, the UI
// checks whether its own origin now redirects / and, if so, reloads, which
// lands it on the new leader.
//
// Handler serves index.html at / and the assets under /static/, each with
// a strong ETag from its content and Cache-Control: no-cache, so browsers
// revalidate cheaply and never run assets of an older binary.
package webui

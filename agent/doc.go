// Package agent is corral's agent: it offers its machine's resources to a
// master, runs the tasks the master sends it, and reports what becomes of
// them, reliably.
//
// The agent always dials the master: it subscribes to /api/v1/agent and
// keeps the response open as a stream of commands (launch, kill,
// acknowledge, ping); what it has to say goes back as separate calls. One
// goroutine owns the task table and the status update manager; the event
// stream, process exits, timers and HTTP handlers send it functions to run.
// Status updates are sent in order per task and re-sent with backoff until
// the framework's acknowledgement comes back through the master.
package agent

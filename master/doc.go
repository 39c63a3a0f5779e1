// Package master is corral's master: it knows which agents exist and what
// they hold, admits frameworks through the Mesos v1 scheduler HTTP API, and
// offers agents' resources to frameworks as the allocator decides.
//
// One goroutine, started by Run, owns all of the master's state (agents,
// frameworks, offers, tasks). HTTP handlers and timers never touch it: they
// send the loop a function to run and, where they need an answer, wait for
// it. After each burst of messages the loop runs an allocation round if
// anything freed or added resources, and it runs one on every
// AllocationInterval tick so that expired decline filters are noticed.
//
// Event streams (a framework's SUBSCRIBE, an agent's subscription) are
// written by their HTTP handler goroutines from an outbox the loop fills, so
// a slow client never blocks the loop.
package master

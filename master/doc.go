// Package master is corral's master as a server: the transport around the
// state machine in package core. It serves the Mesos v1 scheduler API, the
// agents' protocol and the operator API over HTTP (protobuf and JSON,
// RecordIO streams), authenticates callers, enforces rate limits and body
// limits, and answers 503 until the registry is recovered.
//
// One goroutine, started by Run, steps the core: HTTP handlers and the
// core's timers never touch it; they send the loop a function to run and,
// where they need an answer, wait for it. After each burst of messages the
// loop lets the core settle (admissions, and an allocation round if
// anything freed or added resources), and it ticks the core every
// AllocationInterval so that expired decline filters and silent agents
// are noticed.
//
// Event streams (a framework's SUBSCRIBE, an agent's subscription, an
// operator's SUBSCRIBE) are written by their HTTP handler goroutines from
// an outbox the core fills, so a slow client never blocks the loop.
package master

// Package kit holds what the bundled frameworks (service, pets, batch)
// share around their domain logic, so that each keeps only its scheduling:
//
//   - Durable, the group commit of a framework's records to its
//     store.Store: handlers and the tick mark what changed, and one Flush
//     writes it all before the updates it covers are acknowledged or the
//     requests that made it are answered; Load and LoadJSON read the
//     records back at start.
//   - Loop, the tick: every interval and soon after a Poke, the framework
//     plans, flushes, then sends what the flush made safe to send
//     (acknowledgements, kills, revive or suppress).
//   - NewScheduler and FrameworkInfo, the SDK wiring every bundled
//     framework has: its framework ID beside its state, and
//     acknowledgements left to it.
//   - JSON answers for the REST APIs, and readiness probes.
//
// A framework's Run is then: New loads, builds its Durable tables and its
// Loop, and Run is Loop.Run beside the SDK scheduler's Run.
package kit

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
//   - Outbox, the acknowledgements and kills a tick sends only once its
//     flush made what they depend on durable (FlushBeforeSending), and
//     RecordLaunches, the same rule for the launches of a round of offers.
//   - Settings, NewScheduler and FrameworkInfo, the configuration and SDK
//     wiring every bundled framework has: the shared defaults, its
//     framework ID beside its state, and acknowledgements left to it.
//   - The REST scaffolding: API (/health, /metrics from Gauges,
//     credentials), View and Change (answers encoded under the
//     framework's lock; changes committed before they are answered),
//     ReadBody and the JSON answers.
//   - Readiness probes.
//
// A framework's Run is then: New loads, builds its Durable tables and its
// Loop, and Run is Loop.Run beside the SDK scheduler's Run.
package kit

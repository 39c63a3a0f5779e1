// Package sdk is the Go library for writing corral frameworks: schedulers
// that get resource offers from a corral master and decide what runs
// where. It speaks the Mesos v1 scheduler HTTP API, so a scheduler built
// on it also runs against Apache Mesos.
//
// A framework is a Handler given to a Scheduler:
//
//   - New and Run subscribe, keep the subscription alive (re-subscribing
//     with backoff under the same framework ID, kept in a FrameworkIDStore,
//     so that a restart fails over instead of registering anew), follow
//     leader redirects (or a Detector), watch heartbeats, acknowledge
//     status updates once the handler has seen them, and ask for
//     reconciliation after every subscription.
//   - The Handler sees events one at a time, in order, on one goroutine,
//     and answers through the Scheduler's calls: Launch, Accept, Decline,
//     Suppress, Revive, Kill, Reconcile, Acknowledge, Message, Teardown.
//   - Space packs tasks into an offer, resource by resource; Constraint,
//     Satisfies and ChooseSpread decide which agents may and should take an
//     instance.
//
// The package executor is the other half, for custom executors; the
// package sdktest starts a real cluster in a test, with faults, a clock
// and assertions on what the framework did. docs/frameworks.md is the
// guide: it builds a framework step by step.
package sdk

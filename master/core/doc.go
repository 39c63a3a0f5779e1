// Package core is the master's state machine: agents and what they hold,
// frameworks and their tasks, offers, reservations and volumes, roles,
// quota and maintenance, the registry it recovers from, and the
// allocation rounds that turn free resources into offers.
//
// It knows nothing of HTTP or goroutines. The transport (package master)
// decodes calls, authenticates and rate-limits them, and steps the core
// from one goroutine: it hands typed calls in (Subscribe, SchedulerCall,
// SubscribeAgent, AgentCall, OperatorCall, the disconnections), runs Tick
// on its ticker and Settle after each batch, and gets back a Result per
// call. Everything else the core decides leaves it as effects: events
// pushed to the subscribers' Streams (frameworks, agents, operators),
// writes to the registry (Config.Store, behind the fence Start takes), and
// functions handed to Options.Post by its timers, to be run on the same
// goroutine later.
//
// Because nothing in it waits, tests step it synchronously:
// testdata/*.script drive subscriptions, offers, launches, status updates,
// agent loss and master failover with a clock of their own and compare
// every effect with golden files (see TestScripts).
package core

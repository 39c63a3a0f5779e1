// Package sdktest runs a real corral cluster inside a framework's tests: a
// master and agents in the test's process, each serving real HTTP on its
// own loopback port, as net/http/httptest does for a single handler. The
// framework under test connects to MasterAddr exactly as it would to a
// production master; nothing on the wire is faked.
//
// On top of the cluster the kit gives what a framework's tests need and a
// production cluster cannot give on demand:
//
//   - Faults. Partition cuts an agent off from the master (it becomes
//     unreachable, and its tasks TASK_UNREACHABLE to partition-aware
//     frameworks) and Heal reconnects it; StopAgent, RestartAgent and
//     RemoveAgent stop, restart or decommission one; FailOver replaces the
//     master with a new one on the same registry; DropUpdates and
//     DelayUpdates lose or hold status updates on their way to frameworks;
//     RescindOffers takes back every outstanding offer; NewSlowAccepts
//     and NewLostAccepts put a proxy before the master that holds every
//     ACCEPT a while, or loses the first few that launch tasks, and notes
//     reconciliations of the tasks it holds.
//   - Time. Advance moves the master's clock forward, so that offer filters
//     (refuse_seconds), offer timeouts and failover timeouts expire without
//     the test waiting for them.
//   - Assertions. Every scheduler API call and event passes an observer in
//     front of the master, so a test can ask what its framework did
//     (Launched, Declines, Acknowledged, Calls) and what it was told
//     (Updates, Events), and whether it acknowledged everything
//     (Unacknowledged).
//
// A test starts a cluster, runs its framework against the cluster's
// MasterAddr, injects a fault, and waits with Eventually until what the
// framework did shows it coped:
//
//	c := sdktest.Start(t, sdktest.Options{Agents: 2})
//	go myframework.Run(ctx, c.MasterAddr)
//	sdktest.Eventually(t, "a task launched", func() bool { return len(c.Launched("")) > 0 })
//	c.Partition(0)
//
// The package imports no corral internals, so frameworks outside the corral
// module use it as they use the SDK.
package sdktest

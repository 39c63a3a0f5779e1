// Package cluster runs a corral cluster the way faults meet a real one:
// every node on a machine of its own, as far as the network can tell.
//
// A Network is an outer network namespace holding a bridge, and one
// namespace per node with an address from 198.18.0.0/15 on it; nothing of
// it touches the host's namespace. Nodes run real processes: ZooKeeper's
// JVM, `corral master`, `corral agent` (posix isolation), the bundled
// frameworks; each node's output goes to a log of its own. A framework
// can also run in the test process on a node of its own (Fleet): its
// connections start in that node's namespace.
//
// Faults are injected where a real cluster meets them: iptables rules in
// a node's namespace drop what it receives (full and one-way partitions,
// random loss), tc netem shapes what it sends (delay, reordering; only on
// kernels with netem), and processes are paused, killed and restarted, or
// die with their machine. Heal undoes every network fault; the end of the
// test undoes everything, the namespaces included, and a harness that
// starts removes what a crashed one left.
//
// While the cluster runs, the harness records a history (package
// history): what the Fleet asks and hears, which task processes the
// agents' process tables show (sampled from /proc, not asked of anyone),
// which master answers as leader (probed ten times a second), and at the
// end ZooKeeper's transaction log (package zktxn): the election and every
// registry write as ZooKeeper applied them. Check runs the invariants
// over it.
//
// The loop a test runs: Start, start a workload, inject faults and heal
// them, wait for the cluster to settle (Settle, SettleObserved), Check.
package cluster

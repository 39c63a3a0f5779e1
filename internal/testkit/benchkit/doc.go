// Package benchkit holds what corral's end-to-end benchmarks share: the
// simulated and real agents they start in-process, latency percentiles,
// the CPU and memory of a process, the machine they ran on, profiles, the
// operator calls they poll a master with, and a stand-in for testing.TB
// so that test harnesses (zktest) run inside a command.
//
// The benchmarks themselves live in corral-bench (cmd/corral-bench) and,
// for the frameworks and images, test/bench; their results are written
// into docs/PERFORMANCE.md by test/bench/report.
package benchkit

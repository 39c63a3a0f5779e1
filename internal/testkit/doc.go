// Package testkit holds what the test harnesses under it share. The
// harnesses themselves (ZooKeeper, a Docker registry, network namespaces,
// images, credentials, an in-process cluster, the benchmarks' kit) start
// real processes for corral's own tests and benchmarks; they sit at the
// top of the module's floors, so they may import anything, and nothing
// that ships imports them. internal/ beside testkit holds leaf utilities
// only.
package testkit

// TB is the part of testing.TB the harnesses need.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Package system holds system tests: corral's real binary run as separate
// master and agent processes, killed with SIGKILL, stopped with SIGSTOP
// and restarted, over a real ZooKeeper ensemble, with a framework built on
// the SDK. They check what users rely on when machines fail: no task is
// killed or duplicated because a master failed over, and the cluster
// reconciles once failures heal.
package system

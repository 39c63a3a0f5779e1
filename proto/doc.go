// Package proto holds corral's protocol definitions: mesospb and
// schedulerpb mirror the Mesos v1 messages corral speaks on the wire (same
// names and field numbers), and agentpb is corral's own master/agent
// protocol. The Go code is generated with `make proto` and committed; a
// test fails when it is stale.
package proto

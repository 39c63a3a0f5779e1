// Package namespaces holds the namespace isolators: namespaces/pid (the
// container's processes see only each other, its command is PID 1),
// namespaces/ipc, namespaces/uts (a hostname of its own: the
// ContainerInfo's, else the agent's), and namespaces/net, corral's own: a
// network namespace with only loopback, shared by the tasks of a group,
// for tasks that must not reach the network. With no network isolator a
// container shares the host's network.
package namespaces

import (
	"context"

	"github.com/corral-sched/corral/isolators"
)

// Namespace is one namespace isolator.
type Namespace struct {
	kind isolators.NamespaceType
	// hostname is the agent's, for namespaces/uts when the container
	// names none.
	hostname string
}

var _ isolators.Isolator = (*Namespace)(nil)

// NewPID returns namespaces/pid.
func NewPID() *Namespace { return &Namespace{kind: isolators.PIDNamespace} }

// NewIPC returns namespaces/ipc.
func NewIPC() *Namespace { return &Namespace{kind: isolators.IPCNamespace} }

// NewUTS returns namespaces/uts; containers that name no hostname get
// the agent's.
func NewUTS(agentHostname string) *Namespace {
	return &Namespace{kind: isolators.UTSNamespace, hostname: agentHostname}
}

// NewNet returns namespaces/net.
func NewNet() *Namespace { return &Namespace{kind: isolators.NetworkNamespace} }

// Name is the isolator's name.
func (n *Namespace) Name() string { return "namespaces/" + string(n.kind) }

// Prepare gives the container the namespace: a new one, or for
// namespaces/net the group's when the container joins one.
func (n *Namespace) Prepare(_ context.Context, c *isolators.Container, l *isolators.Launch) error {
	ns := isolators.Namespace{Type: n.kind}
	switch n.kind {
	case isolators.UTSNamespace:
		l.Hostname = c.Info.GetHostname()
		if l.Hostname == "" {
			l.Hostname = n.hostname
		}
	case isolators.NetworkNamespace:
		ns.Path = c.NetNS
	}
	l.Namespaces = append(l.Namespaces, ns)
	return nil
}

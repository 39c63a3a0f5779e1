package namespaces

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

func TestNamespacesAreAdded(t *testing.T) {
	ctx := context.Background()
	c := &isolators.Container{ID: "c1"}
	var l isolators.Launch
	for _, n := range []*Namespace{NewPID(), NewIPC(), NewUTS("agent-host"), NewNet()} {
		if err := n.Prepare(ctx, c, &l); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []isolators.NamespaceType{isolators.PIDNamespace, isolators.IPCNamespace, isolators.UTSNamespace, isolators.NetworkNamespace} {
		if !l.Has(want) {
			t.Errorf("no %s namespace in %+v", want, l.Namespaces)
		}
	}
	if l.Hostname != "agent-host" || l.Namespaces[3].Path != "" {
		t.Fatalf("hostname %q, net %+v", l.Hostname, l.Namespaces[3])
	}
	// A task's own hostname wins; a group's task joins the group's
	// network namespace.
	named := &isolators.Container{ID: "c2", NetNS: "/proc/42/ns/net",
		Info: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("db-0")}}
	var l2 isolators.Launch
	_ = NewUTS("agent-host").Prepare(ctx, named, &l2)
	_ = NewNet().Prepare(ctx, named, &l2)
	if l2.Hostname != "db-0" || l2.Namespaces[1].Path != "/proc/42/ns/net" {
		t.Fatalf("hostname %q, namespaces %+v", l2.Hostname, l2.Namespaces)
	}
	if NewNet().Name() != "namespaces/net" || NewPID().Name() != "namespaces/pid" {
		t.Fatal("names")
	}
}

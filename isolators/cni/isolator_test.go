package cni_test

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/isolators/cni"
	"github.com/corral-sched/corral/proto/mesospb"
)

func onNet(names ...string) *mesospb.ContainerInfo {
	ci := &mesospb.ContainerInfo{}
	for _, n := range names {
		ci.NetworkInfos = append(ci.NetworkInfos, &mesospb.NetworkInfo{Name: proto.String(n)})
	}
	return ci
}

// statusIP is the one address network/cni reports for c.
func statusIP(t *testing.T, iso *cni.Isolator, c *isolators.Container) netip.Addr {
	t.Helper()
	st := &mesospb.ContainerStatus{}
	iso.Status(c, st)
	if len(st.NetworkInfos) != 1 || len(st.NetworkInfos[0].GetIpAddresses()) != 1 || st.NetworkInfos[0].GetName() != testNet {
		t.Fatalf("status of %s: %v, want one address on %s", c.ID, st.NetworkInfos, testNet)
	}
	ip, err := netip.ParseAddr(st.NetworkInfos[0].GetIpAddresses()[0].GetIpAddress())
	if err != nil || !testRange.Contains(ip) {
		t.Fatalf("status of %s: address %v (%v), want one in %v", c.ID, ip, err, testRange)
	}
	return ip
}

func netnsOf(t *testing.T, l *isolators.Launch) string {
	t.Helper()
	var path string
	n := 0
	for _, ns := range l.Namespaces {
		if ns.Type == isolators.NetworkNamespace {
			path = ns.Path
			n++
		}
	}
	if n != 1 || path == "" {
		t.Fatalf("launch namespaces %+v, want one network namespace joined by path", l.Namespaces)
	}
	return path
}

// A container naming a network joins the namespace attached for it (in
// place of the new one namespaces/net asked for), with its name service
// files; one naming none is left alone; cleanup releases the address.
func TestIsolatorAttachesOnlyContainersThatNameNetworks(t *testing.T) {
	e := newEnv(t, func(c *cni.Config) { c.DNS = &cni.DNS{Nameservers: []string{"198.18.0.1"}} })
	iso := cni.NewIsolator(e.m)
	ctx := context.Background()

	plain := &isolators.Container{ID: "plain", Info: &mesospb.ContainerInfo{}}
	l := &isolators.Launch{Namespaces: []isolators.Namespace{{Type: isolators.NetworkNamespace}}}
	if err := iso.Prepare(ctx, plain, l); err != nil {
		t.Fatal(err)
	}
	if len(l.Namespaces) != 1 || l.Namespaces[0].Path != "" || len(l.Mounts) != 0 {
		t.Fatalf("a container naming no network was changed: %+v", l)
	}

	web := &isolators.Container{ID: "web", Info: onNet(testNet)}
	l = &isolators.Launch{Namespaces: []isolators.Namespace{{Type: isolators.NetworkNamespace}}, Hostname: "web-host"}
	if err := iso.Prepare(ctx, web, l); err != nil {
		t.Fatal(err)
	}
	// The plugins run until Isolate, which the launcher calls before the
	// container's command starts.
	if err := iso.Isolate(ctx, web); err != nil {
		t.Fatal(err)
	}
	path := netnsOf(t, l)
	targets := map[string]string{}
	for _, m := range l.Mounts {
		targets[m.Destination] = m.Source
	}
	resolv, err := os.ReadFile(targets["/etc/resolv.conf"])
	if err != nil || string(resolv) != "nameserver 198.18.0.1\n" {
		t.Errorf("/etc/resolv.conf from %q: %q, %v", targets["/etc/resolv.conf"], resolv, err)
	}
	ip := statusIP(t, iso, web)
	hosts, err := os.ReadFile(targets["/etc/hosts"])
	if err != nil || !strings.Contains(string(hosts), ip.String()+" web-host\n") {
		t.Errorf("/etc/hosts: %q, %v", hosts, err)
	}
	if !ipamHolds(t, e.ipamDir, ip.String()) {
		t.Fatalf("host-local does not hold %v", ip)
	}
	if err := iso.Cleanup(ctx, web); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ip.String()) {
		t.Errorf("host-local still holds %v after cleanup", ip)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the namespace %s is left: %v", path, err)
	}
	if err := iso.Cleanup(ctx, plain); err != nil {
		t.Errorf("cleaning up a container that named no network: %v", err)
	}
}

// A group's namespace is made before its first task and outlives each
// task until the group has ended and its last task is gone; a restarted
// agent's isolator keeps it while a task of the group lives.
func TestGroupNetworkOutlivesItsTasks(t *testing.T) {
	e := newEnv(t)
	iso := cni.NewIsolator(e.m)
	ctx := context.Background()
	g := &isolators.Container{ID: "pod", Info: onNet(testNet)}
	if err := iso.PrepareGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if g.NetNS == "" {
		t.Fatal("the group was given no namespace")
	}
	member := func(id string) *isolators.Container {
		c := &isolators.Container{ID: id, Info: &mesospb.ContainerInfo{}, NetNS: g.NetNS}
		l := &isolators.Launch{}
		if err := iso.Prepare(ctx, c, l); err != nil {
			t.Fatalf("preparing %s: %v", id, err)
		}
		if got := netnsOf(t, l); got != g.NetNS {
			t.Fatalf("%s joins %s, want the group's %s", id, got, g.NetNS)
		}
		return c
	}
	first, second := member("first"), member("second")
	ip := statusIP(t, iso, first)
	if got := statusIP(t, iso, second); got != ip {
		t.Fatalf("the group's tasks report %v and %v, want one address", ip, got)
	}
	// A task of a group asks for networks of its own: refused.
	if err := iso.Prepare(ctx, &isolators.Container{ID: "stray", Info: onNet(testNet), NetNS: g.NetNS}, &isolators.Launch{}); err == nil {
		t.Error("a task of a group naming its own networks was accepted")
	}

	if err := iso.Cleanup(ctx, first); err != nil {
		t.Fatal(err)
	}
	if !ipamHolds(t, e.ipamDir, ip.String()) {
		t.Fatal("the group's address went with its first task")
	}
	// The agent restarts: only the second task is alive, and the new
	// agent no longer knows the group.
	restarted := cni.NewIsolator(e.newManager())
	if err := restarted.Recover(ctx, []*isolators.Container{{ID: "second"}}); err != nil {
		t.Fatal(err)
	}
	if got := statusIP(t, restarted, &isolators.Container{ID: "second"}); got != ip {
		t.Fatalf("after the restart the second task reports %v, want %v", got, ip)
	}
	if !ipamHolds(t, e.ipamDir, ip.String()) {
		t.Fatal("the restart released the address of a group with a live task")
	}
	if err := restarted.Cleanup(ctx, &isolators.Container{ID: "second"}); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ip.String()) {
		t.Errorf("host-local still holds %v after the group's last task", ip)
	}
	if v := e.veths(); len(v) != 0 {
		t.Errorf("veths left: %v", v)
	}
	if _, err := os.Stat(g.NetNS); !os.IsNotExist(err) {
		t.Errorf("the group's namespace is left: %v", err)
	}
}

// The group ends before its last task is gone: the network stays for the
// task, and goes with it.
func TestGroupEndedWhileATaskRuns(t *testing.T) {
	e := newEnv(t)
	iso := cni.NewIsolator(e.m)
	ctx := context.Background()
	g := &isolators.Container{ID: "pod2", Info: onNet(testNet)}
	if err := iso.PrepareGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	task := &isolators.Container{ID: "late", Info: &mesospb.ContainerInfo{}, NetNS: g.NetNS}
	if err := iso.Prepare(ctx, task, &isolators.Launch{}); err != nil {
		t.Fatal(err)
	}
	ip := statusIP(t, iso, task)
	if err := iso.CleanupGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if !ipamHolds(t, e.ipamDir, ip.String()) {
		t.Fatal("the group's end released the address its task still uses")
	}
	if err := iso.Cleanup(ctx, task); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ip.String()) {
		t.Errorf("host-local still holds %v", ip)
	}
	// A group whose tasks never started ends at once.
	empty := &isolators.Container{ID: "pod3", Info: onNet(testNet)}
	if err := iso.PrepareGroup(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if err := iso.CleanupGroup(ctx, empty); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e, "pod3")
}

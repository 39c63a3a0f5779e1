package cni_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators/cni"
	"github.com/corral-sched/corral/proto/mesospb"
)

var testRange = netip.MustParsePrefix("198.18.0.0/24")

func onlyIP(t *testing.T, a *cni.Attachment) netip.Addr {
	t.Helper()
	ips := a.IPs()
	if len(ips) != 1 || !testRange.Contains(ips[0]) {
		t.Fatalf("container %s has addresses %v, want one in %v", a.ContainerID, ips, testRange)
	}
	return ips[0]
}

func TestTwoContainersGetDistinctIPsAndReachEachOther(t *testing.T) {
	e := newEnv(t, func(c *cni.Config) { c.DNS = &cni.DNS{Nameservers: []string{"198.18.0.1"}, Search: []string{"corral"}} })
	a, b := e.attach("web-a"), e.attach("web-b")
	ipA, ipB := onlyIP(t, a), onlyIP(t, b)
	if ipA == ipB {
		t.Fatalf("both containers got %v", ipA)
	}
	infos := a.NetworkInfos()
	if len(infos) != 1 || infos[0].GetName() != testNet || len(infos[0].GetIpAddresses()) != 1 ||
		infos[0].GetIpAddresses()[0].GetIpAddress() != ipA.String() || infos[0].GetIpAddresses()[0].GetProtocol() != mesospb.NetworkInfo_IPv4 {
		t.Errorf("network infos %v, want %s with %v", infos, testNet, ipA)
	}

	addr := netip.AddrPortFrom(ipA, 8080).String()
	serveIn(t, a.NetNS, addr)
	body, err := getIn(b.NetNS, addr)
	if err != nil || body != "hello from "+addr {
		t.Fatalf("from container b, GET %s = %q, %v", addr, body, err)
	}

	resolv, err := os.ReadFile(a.ResolvConf)
	if err != nil || !strings.Contains(string(resolv), "nameserver 198.18.0.1\n") || !strings.Contains(string(resolv), "search corral\n") {
		t.Errorf("resolv.conf %q, %v", resolv, err)
	}
	hosts, err := os.ReadFile(a.Hosts)
	if err != nil || !strings.Contains(string(hosts), ipA.String()+" web-a\n") {
		t.Errorf("hosts %q, %v", hosts, err)
	}
}

func TestPortMappingReachesTheContainerOnItsHostPort(t *testing.T) {
	e := newEnv(t)
	a := e.attach("mapped", &mesospb.NetworkInfo{Name: proto.String(testNet), PortMappings: []*mesospb.NetworkInfo_PortMapping{
		{HostPort: proto.Uint32(31080), ContainerPort: proto.Uint32(8080), Protocol: proto.String("tcp")}}})
	ip := onlyIP(t, a)
	serveIn(t, a.NetNS, netip.AddrPortFrom(ip, 8080).String())
	// The bridge's address is one of the outer namespace's own, as the
	// agent's address would be: the host port answers there.
	host := "198.18.0.1:31080"
	want := "hello from " + netip.AddrPortFrom(ip, 8080).String()
	if body, err := getIn(e.ns.Path, host); err != nil || body != want {
		t.Fatalf("GET %s from the host = %q, %v; want %q", host, body, err, want)
	}
	if pm := a.NetworkInfos()[0].GetPortMappings(); len(pm) != 1 || pm[0].GetHostPort() != 31080 || pm[0].GetContainerPort() != 8080 {
		t.Errorf("reported port mappings %v", pm)
	}
	if err := e.m.Detach(context.Background(), "mapped"); err != nil {
		t.Fatal(err)
	}
	if body, err := getIn(e.ns.Path, host); err == nil {
		t.Errorf("after detaching, GET %s still answers %q", host, body)
	}
}

func TestDetachReleasesTheAddressAndLeavesNoVeth(t *testing.T) {
	e := newEnv(t)
	a := e.attach("short-lived")
	ip := onlyIP(t, a)
	if !ipamHolds(t, e.ipamDir, ip.String()) {
		t.Fatalf("host-local does not hold %v after ADD", ip)
	}
	if v := e.veths(); len(v) != 1 {
		t.Fatalf("veths after ADD: %v, want one", v)
	}
	if err := e.m.Check(context.Background(), "short-lived"); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := e.m.Detach(context.Background(), "short-lived"); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ip.String()) {
		t.Errorf("host-local still holds %v after DEL", ip)
	}
	if v := e.veths(); len(v) != 0 {
		t.Errorf("veths left after DEL: %v", v)
	}
	if _, err := os.Stat(a.NetNS); !os.IsNotExist(err) {
		t.Errorf("the namespace %s is still there: %v", a.NetNS, err)
	}
	if _, ok := e.m.Attachment("short-lived"); ok {
		t.Error("the manager still reports the attachment")
	}
	if err := e.m.Detach(context.Background(), "short-lived"); err != nil {
		t.Errorf("a second Detach: %v", err)
	}
}

// An agent restart: a new Manager on the same state keeps the containers
// still alive and detaches the others, with the configuration and
// arguments their ADD used (from the result cache), even though the
// network's configuration file has changed since.
func TestAfterARestartRecoverDetachesTheGoneFromTheCache(t *testing.T) {
	e := newEnv(t)
	alive, gone := e.attach("alive"), e.attach("gone")
	ipAlive, ipGone := onlyIP(t, alive), onlyIP(t, gone)
	serveIn(t, alive.NetNS, netip.AddrPortFrom(ipAlive, 8080).String())

	// The operator moves the network to another range and IPAM directory:
	// a DEL built from the new file would release nothing.
	e.writeBridge("198.18.1.0/24", t.TempDir())
	restarted := e.newManager()
	if err := restarted.Recover(context.Background(), []string{"alive"}); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ipGone.String()) {
		t.Errorf("after Recover, host-local still holds %v of the container that is gone", ipGone)
	}
	if _, err := os.Stat(gone.NetNS); !os.IsNotExist(err) {
		t.Errorf("the namespace of the container that is gone is still there: %v", err)
	}
	got, ok := restarted.Attachment("alive")
	if !ok || !slices.Equal(got.IPs(), []netip.Addr{ipAlive}) || got.NetNS != alive.NetNS {
		t.Fatalf("after Recover the live container is %+v, %v; want %v at %s", got, ok, ipAlive, alive.NetNS)
	}
	addr := netip.AddrPortFrom(ipAlive, 8080).String()
	if body, err := getIn(e.ns.Path, addr); err != nil || body != "hello from "+addr {
		t.Errorf("after Recover, GET %s = %q, %v", addr, body, err)
	}
	if v := e.veths(); len(v) != 1 {
		t.Errorf("veths after Recover: %v, want the live container's only", v)
	}
	if err := restarted.Detach(context.Background(), "alive"); err != nil {
		t.Fatal(err)
	}
	if ipamHolds(t, e.ipamDir, ipAlive.String()) {
		t.Errorf("host-local still holds %v after the restarted agent's DEL", ipAlive)
	}
	if v := e.veths(); len(v) != 0 {
		t.Errorf("veths left: %v", v)
	}
}

func TestAnUnknownNetworkIsNamed(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.Attach(context.Background(), "lost", []*mesospb.NetworkInfo{{Name: proto.String("no-such-net")}}, "")
	if !errors.Is(err, cni.ErrUnknownNetwork) || !strings.Contains(err.Error(), `"no-such-net"`) || !strings.Contains(err.Error(), testNet) {
		t.Fatalf("err = %v, want the unknown name and the configured ones", err)
	}
	assertNothingLeft(t, e, "lost")
}

func TestPortMappingsNeedAPortmapPlugin(t *testing.T) {
	e := newEnv(t)
	conf := `{"cniVersion": "1.0.0", "name": "plain", "type": "bridge", "bridge": "plain0",
	  "ipam": {"type": "host-local", "subnet": "198.18.2.0/24", "dataDir": "` + t.TempDir() + `"}}`
	if err := os.WriteFile(filepath.Join(e.cfg.ConfigDir, "20-plain.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := e.newManager()
	_, err := m.Attach(context.Background(), "unmapped", []*mesospb.NetworkInfo{{Name: proto.String("plain"), PortMappings: []*mesospb.NetworkInfo_PortMapping{
		{HostPort: proto.Uint32(31000), ContainerPort: proto.Uint32(80)}}}}, "")
	if err == nil || !strings.Contains(err.Error(), `"plain"`) || !strings.Contains(err.Error(), "portMappings") {
		t.Fatalf("err = %v, want the network and the missing capability named", err)
	}
	a, err := m.Attach(context.Background(), "single-file", []*mesospb.NetworkInfo{{Name: proto.String("plain")}}, "")
	if err != nil {
		t.Fatalf("a .conf network: %v", err)
	}
	if ips := a.IPs(); len(ips) != 1 || !netip.MustParsePrefix("198.18.2.0/24").Contains(ips[0]) {
		t.Errorf("a .conf network gave %v", ips)
	}
	if err := m.Detach(context.Background(), "single-file"); err != nil {
		t.Fatal(err)
	}
}

// A plugin that fails: the error names the network, the plugin and what
// it said, and nothing of the attempt is left.
func TestABrokenPluginsErrorIsNamed(t *testing.T) {
	plugins := t.TempDir()
	script := `#!/bin/sh
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion": "1.0.0", "code": 11, "msg": "disk on fire", "details": "sector 7"}'; exit 1;;
VERSION) echo '{"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}';;
esac
exit 0
`
	if err := os.WriteFile(filepath.Join(plugins, "corral-broken"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *cni.Config) { c.PluginDirs = append([]string{plugins}, c.PluginDirs...) })
	conf := `{"cniVersion": "1.0.0", "name": "broken-net", "plugins": [{"type": "corral-broken"}]}`
	if err := os.WriteFile(filepath.Join(e.cfg.ConfigDir, "30-broken.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := e.newManager()
	_, err := m.Attach(context.Background(), "doomed", []*mesospb.NetworkInfo{{Name: proto.String("broken-net")}}, "")
	for _, want := range []string{`network "broken-net"`, "corral-broken", "disk on fire"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %s", err, want)
		}
	}
	e.m = m
	assertNothingLeft(t, e, "doomed")
}

func assertNothingLeft(t *testing.T, e *env, id string) {
	t.Helper()
	for _, p := range []string{filepath.Join(e.cfg.StateDir, "netns", id), filepath.Join(e.cfg.StateDir, "containers", id)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left behind (%v)", p, err)
		}
	}
	if _, ok := e.m.Attachment(id); ok {
		t.Errorf("the manager reports %s as attached", id)
	}
}

func TestNewRefusesTwoConfigurationsOfOneNetwork(t *testing.T) {
	dir := t.TempDir()
	conf := `{"cniVersion": "1.0.0", "name": "twice", "type": "bridge"}`
	for _, f := range []string{"a.conf", "b.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := cni.New(cni.Config{ConfigDir: dir, PluginDirs: []string{systemPlugins}, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"twice"`) || !strings.Contains(err.Error(), "a.conf") || !strings.Contains(err.Error(), "b.conf") {
		t.Fatalf("err = %v, want the network and both files named", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.conf"), []byte(`{"name": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cni.New(cni.Config{ConfigDir: dir, PluginDirs: []string{systemPlugins}, StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "b.conf") {
		t.Fatalf("a broken file: err = %v, want it named", err)
	}
}

// BenchmarkAttachDetach measures one container's namespace, bridge ADD
// and DEL, reporting the median and 99th percentile.
func BenchmarkAttachDetach(b *testing.B) {
	e := newEnv(b)
	var took, add []time.Duration
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		start := time.Now()
		if _, err := e.m.Attach(context.Background(), id, []*mesospb.NetworkInfo{{Name: proto.String(testNet)}}, ""); err != nil {
			b.Fatal(err)
		}
		add = append(add, time.Since(start))
		if err := e.m.Detach(context.Background(), id); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	slices.Sort(add)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(add[len(add)/2].Microseconds())/1000, "add-p50-ms")
	b.ReportMetric(float64(add[len(add)*99/100].Microseconds())/1000, "add-p99-ms")
}

package cni_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/internal/netns"
	"github.com/corral-sched/corral/internal/testkit/netnstest"
	"github.com/corral-sched/corral/isolators/cni"
	"github.com/corral-sched/corral/proto/mesospb"
)

// The test binary doubles as the HTTP server a container runs: with
// serveEnv set it serves "hello from <addr>" there and nothing else.
const serveEnv = "CORRAL_CNI_TEST_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s", addr) }))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// systemPlugins is where Debian's containernetworking-plugins puts them.
const systemPlugins = "/usr/lib/cni"

// testNet is the bridge network of these tests: inside the test's own
// namespace, on a range reserved for testing, with nothing routed out.
const testNet = "corral-net"

type env struct {
	t        testing.TB
	ns       *netnstest.NS
	m        *cni.Manager
	cfg      cni.Config
	confFile string
	ipamDir  string
}

// newEnv gives the test its own network namespace, a bridge network in it
// and a Manager whose plugins run there.
func newEnv(t testing.TB, mod ...func(*cni.Config)) *env {
	t.Helper()
	ns := netnstest.New(t)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(systemPlugins, p)); err != nil {
			netnstest.Unavailable(t, "the CNI plugins are not installed (apt-get install containernetworking-plugins): "+err.Error())
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		netnstest.Unavailable(t, "iptables is not installed (the portmap plugin needs it)")
	}
	e := &env{t: t, ns: ns, ipamDir: t.TempDir()}
	confDir := t.TempDir()
	e.confFile = filepath.Join(confDir, "10-corral.conflist")
	e.writeBridge("198.18.0.0/24", e.ipamDir)
	e.cfg = cni.Config{ConfigDir: confDir, PluginDirs: []string{systemPlugins}, StateDir: t.TempDir(), Exec: nsExec(ns.Path),
		Logger: slog.New(slog.DiscardHandler)}
	for _, f := range mod {
		f(&e.cfg)
	}
	e.m = e.newManager()
	t.Cleanup(func() {
		// Whatever a failed test left attached goes before its namespace.
		m, err := cni.New(e.cfg)
		if err == nil {
			err = m.Recover(context.Background(), nil)
		}
		if err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return e
}

func (e *env) writeBridge(subnet, ipamDir string) {
	e.t.Helper()
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": "corral0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}`, testNet, subnet, ipamDir)
	if err := os.WriteFile(e.confFile, []byte(conf), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) newManager() *cni.Manager {
	e.t.Helper()
	m, err := cni.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) attach(id string, infos ...*mesospb.NetworkInfo) *cni.Attachment {
	e.t.Helper()
	if len(infos) == 0 {
		infos = []*mesospb.NetworkInfo{{Name: proto.String(testNet)}}
	}
	a, err := e.m.Attach(context.Background(), id, infos, id)
	if err != nil {
		e.t.Fatalf("attaching %s: %v", id, err)
	}
	return a
}

// veths lists the veth ends left in the test's namespace.
func (e *env) veths() []string {
	e.t.Helper()
	links, err := e.ns.Links()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Name != "lo" && l.Name != "corral0" {
			out = append(out, l.Name)
		}
	}
	return out
}

// ipamHolds reports whether host-local has addr allocated.
func ipamHolds(t *testing.T, dir, addr string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, testNet, addr))
	return err == nil
}

// nsExec runs plugins inside the test's namespace: they fork from a
// thread switched into it, so what they make is made there.
func nsExec(path string) invoke.Exec {
	return &inNetns{DefaultExec: &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}, path: path}
}

type inNetns struct {
	*invoke.DefaultExec
	path string
}

func (e *inNetns) ExecPlugin(ctx context.Context, plugin string, stdin []byte, environ []string) ([]byte, error) {
	var out []byte
	err := netns.Do(e.path, func() error {
		var err error
		out, err = e.DefaultExec.ExecPlugin(ctx, plugin, stdin, environ)
		return err
	})
	return out, err
}

// serveIn starts the HTTP server process inside a container's namespace
// on addr and waits until it answers from the namespace itself.
func serveIn(t *testing.T, nsPath, addr string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), serveEnv+"="+addr)
	cmd.Stderr = os.Stderr
	if err := netns.Do(nsPath, cmd.Start); err != nil {
		t.Fatalf("starting the server in %s: %v", nsPath, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := getIn(nsPath, addr); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the server on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getIn fetches http://addr/ from inside the namespace at nsPath ("" for
// the test process's own): the socket is made there, the rest happens
// anywhere.
func getIn(nsPath, addr string) (string, error) {
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = netns.Do(nsPath, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: test\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

package system

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/netnstest"
	"github.com/corral-sched/corral/proto/masterpb"
)

// cniEnv is a network namespace of the test's own holding a CNI bridge
// network on a range reserved for testing (198.18.0.0/24, nothing routed
// out), and the corral processes that run in it: the host's network is
// never touched.
type cniEnv struct {
	t       *testing.T
	ns      *netnstest.NS
	root    string
	confDir string
	ipamDir string
	// cgroups is the cgroup root of the agents the test starts itself.
	cgroups string
	client  *http.Client // dials inside the namespace
}

const (
	cniNet     = "corral-net"
	cniBridge  = "corral0"
	cniGateway = "198.18.0.1" // the bridge's address: the agents' and corral dns' on the network
	cniSubnet  = "198.18.0.0/24"
)

func newCNIEnv(t *testing.T) *cniEnv {
	t.Helper()
	if why := containerizer.LinuxAvailable(); why != "" {
		netnstest.Unavailable(t, "CNI networks need linux isolation: "+why)
	}
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			netnstest.Unavailable(t, "the CNI plugins are not installed (apt-get install containernetworking-plugins)")
		}
	}
	for _, cmd := range []string{"iptables", "ip", "perl"} {
		if _, err := exec.LookPath(cmd); err != nil {
			netnstest.Unavailable(t, cmd+" is not installed")
		}
	}
	e := &cniEnv{t: t, ns: netnstest.New(t), root: t.TempDir(), cgroups: fmt.Sprintf("corral-cni-%d", time.Now().UnixNano())}
	e.confDir, e.ipamDir = filepath.Join(e.root, "cni"), filepath.Join(e.root, "ipam")
	if err := os.MkdirAll(e.confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "dataDir": %q}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}`, cniNet, cniBridge, cniSubnet, cniGateway, e.ipamDir)
	if err := os.WriteFile(filepath.Join(e.confDir, "10-corral.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The bridge exists before any container, so that corral dns can
	// listen on its address from the start; the plugin adopts it.
	for _, args := range [][]string{{"link", "add", cniBridge, "type", "bridge"}, {"addr", "add", cniGateway + "/24", "dev", cniBridge},
		{"link", "set", cniBridge, "up"}} {
		if out, err := exec.Command("ip", append([]string{"-n", e.ns.Name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: e.dial}}
	// Last in, first out: after the processes have stopped, whatever
	// task, cgroup or namespace mount they left goes before the temp dirs
	// do (an agent that is stopped leaves its tasks running).
	t.Cleanup(func() {
		killSandboxTasks(e.root)
		removeCgroups(e.cgroups)
		unmountUnder(e.root)
	})
	return e
}

// dial connects from inside the namespace.
func (e *cniEnv) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := e.ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// start runs corral with args inside the namespace.
func (e *cniEnv) start(name string, args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, name: name, args: args, log: filepath.Join(e.t.TempDir(), name+".log"), netns: e.ns.Path}
	p.start()
	e.t.Cleanup(func() {
		p.stop()
		if e.t.Failed() {
			e.t.Logf("--- last lines of %s's log:\n%s", name, tail(p.log, 40))
		}
	})
	return p
}

// get fetches url from inside the namespace.
func (e *cniEnv) get(url string) (int, string, error) {
	resp, err := e.client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// send sends body to url from inside the namespace and wants the status.
func (e *cniEnv) send(method, url, body string, want int) string {
	e.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	return string(b)
}

// operator sends an operator call to the master at addr in the namespace.
func (e *cniEnv) operator(addr string, c masterpb.Call_Type) *masterpb.Response {
	e.t.Helper()
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: c.Enum()})
	b := e.send(http.MethodPost, "http://"+addr+"/api/v1", string(body), http.StatusOK)
	out := &masterpb.Response{}
	if err := codec.JSON.Unmarshal([]byte(b), out); err != nil {
		e.t.Fatalf("decoding %v: %v", c, err)
	}
	return out
}

// agentCount is how many agents the master at addr has; 0 while it does
// not answer yet.
func (e *cniEnv) agentCount(addr string) int {
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	resp, err := e.client.Post("http://"+addr+"/api/v1", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &masterpb.Response{}
	if resp.StatusCode != http.StatusOK || codec.JSON.Unmarshal(b, out) != nil {
		return 0
	}
	return len(out.GetGetAgents().GetAgents())
}

// resolve asks corral dns on the bridge for name's A records.
func (e *cniEnv) resolve(name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return e.dial(ctx, network, net.JoinHostPort(cniGateway, "53"))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	slices.Sort(addrs)
	return addrs, err
}

// run runs the corral CLI inside the namespace and returns its output.
func (e *cniEnv) run(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(corralBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := e.ns.Do(cmd.Run); err != nil {
		e.t.Fatalf("corral %v: %v: %s", args, err, out.String())
	}
	return out.String()
}

// ipamHolds reports whether host-local has ip allocated.
func (e *cniEnv) ipamHolds(ip string) bool {
	_, err := os.Stat(filepath.Join(e.ipamDir, cniNet, ip))
	return err == nil
}

// veths lists the container ends' peers left on the namespace's bridge.
func (e *cniEnv) veths() []string {
	e.t.Helper()
	links, err := e.ns.Links()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Name != "lo" && l.Name != cniBridge {
			out = append(out, l.Name)
		}
	}
	return out
}

// waitLog waits until the process's log has a line containing want.
func waitLog(t *testing.T, p *proc, want string, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%q in %s's log", want, p.name), func() bool {
		if p.exited() {
			t.Fatalf("%s exited:\n%s", p.name, tail(p.log, 30))
		}
		b, _ := os.ReadFile(p.log)
		return bytes.Contains(b, []byte(want))
	})
}

// unmountUnder unmounts what is mounted below dir (network namespaces
// bind-mounted by agents that were killed), deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}

// eventually polls cond until it holds or d passes, and says which.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	return true
}

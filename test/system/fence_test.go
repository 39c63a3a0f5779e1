package system

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A leader paused (SIGSTOP) past its ZooKeeper session resumes believing
// it leads, and its ZooKeeper client quietly opens a new session. Requests
// that reached it while it was paused are handled the moment it resumes.
// The registry's fence must keep every one of its writes out: what the
// new leader wrote stays as it wrote it, and the old one stops leading.
func TestPausedLeaderCannotOverwriteItsSuccessor(t *testing.T) {
	server := zktest.Start(t)
	c := &haCluster{t: t, zk: &zktest.Ensemble{Servers: []*zktest.Server{server}}, root: t.TempDir()}
	url := c.zk.URL("/corral")
	for i := range 2 {
		addr := freeAddr(t)
		c.masterAddrs = append(c.masterAddrs, addr)
		c.masters = append(c.masters, startProc(t, fmt.Sprintf("master-%d", i), "master", "--listen", addr,
			"--zk", url, "--zk-session-timeout", zkSessionTimeout, "--work-dir", filepath.Join(c.root, fmt.Sprintf("master-%d", i)),
			"--allocation-interval", "100ms", "--log-level", "debug"))
		// One after the other: the first one started leads.
		waitFor(t, 60*time.Second, "the first master to lead", func() bool { return c.leader() == 0 })
	}
	old, successor := c.masters[0], c.masterAddrs[1]

	old.signal(syscall.SIGSTOP)
	paused := time.Now()
	waitFor(t, 60*time.Second, "the other master to lead", func() bool { return leads(successor) })
	t.Logf("successor leads %v after the pause", time.Since(paused).Round(time.Millisecond))

	// The successor writes: a framework subscribes through it, and an
	// operator sets a weight.
	f, _ := startFleet(t, 0, sdk.Config{Master: successor}, false)
	zkc := zkConn(t, server.Addr)
	waitFor(t, 30*time.Second, "the framework in the successor's registry", func() bool {
		id := f.s.FrameworkID()
		ok, _, _ := zkc.Exists("/corral/registry/frameworks/" + id)
		return id != "" && ok
	})
	if status, msg := updateWeight(t, noRedirects, successor, 2, nil); status != http.StatusOK {
		t.Fatalf("setting a weight on the leader: HTTP %d: %s", status, msg)
	}
	before := registryTree(t, zkc)

	// Operators' calls reach the paused master: they wait in its listen
	// queue until it runs again.
	const calls = 8
	var written, answered sync.WaitGroup
	statuses := make([]string, calls)
	patient := &http.Client{Timeout: 60 * time.Second, CheckRedirect: noRedirects.CheckRedirect}
	for i := range calls {
		written.Add(1)
		answered.Add(1)
		go func() {
			defer answered.Done()
			status, msg := updateWeight(t, patient, c.masterAddrs[0], 9, written.Done)
			statuses[i] = fmt.Sprintf("%d %s", status, strings.TrimSpace(msg))
		}()
	}
	written.Wait()
	old.signal(syscall.SIGCONT)
	answered.Wait()
	waitFor(t, 30*time.Second, "the resumed master to stop leading", func() bool { return !leads(c.masterAddrs[0]) })
	t.Logf("the resumed master answered: %v", statuses)

	after := registryTree(t, zkc)
	for _, key := range slices.Sorted(maps.Keys(after)) {
		if before[key] != after[key] {
			t.Errorf("registry %s changed after the old leader resumed: %q, was %q", key, after[key], before[key])
		}
	}
	for key := range before {
		if _, ok := after[key]; !ok {
			t.Errorf("registry %s was deleted after the old leader resumed", key)
		}
	}
	if !leads(successor) {
		t.Fatal("the successor no longer leads")
	}
}

// leads reports whether the master at addr answers operator calls itself.
func leads(addr string) bool {
	status, _, err := operator(addr, call(masterpb.Call_GET_HEALTH))
	return err == nil && status == http.StatusOK
}

// updateWeight sets the weight of role web through the master at addr;
// written, if set, is called once the request is on the wire.
func updateWeight(t *testing.T, client *http.Client, addr string, weight float64, written func()) (int, string) {
	body, err := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{
		WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("web"), Weight: proto.Float64(weight)}}}})
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	if written != nil {
		var once sync.Once
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(written) }}))
		defer once.Do(written) // failed before writing: do not hold the test up
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func zkConn(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	s, err := election.Dial([]string{addr}, 4*time.Second, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.Conn
}

// registryTree reads every znode under the registry: path → version and
// data.
func registryTree(t *testing.T, conn *zk.Conn) map[string]string {
	t.Helper()
	out := make(map[string]string)
	var walk func(path string)
	walk = func(path string) {
		data, stat, err := conn.Get(path)
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		out[path] = fmt.Sprintf("v%d %q", stat.Version, data)
		children, _, err := conn.Children(path)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			t.Fatalf("listing %s: %v", path, err)
		}
		for _, c := range children {
			walk(path + "/" + c)
		}
	}
	walk("/corral/registry")
	return out
}

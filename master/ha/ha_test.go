package ha_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/master/ha"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// The election shares its path with the registry, as `corral master --zk`
// sets it up.
const root = "/corral"

var quiet = slog.New(slog.DiscardHandler)

type member struct {
	srv   *ha.Server
	store *store.ZooKeeper
	http  *httptest.Server
}

// startMember runs a master under election until the test ends.
func startMember(t *testing.T, zkAddr, id string) *member {
	t.Helper()
	session, err := election.Dial([]string{zkAddr}, 4*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.DialZooKeeper([]string{zkAddr}, root, "", 4*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{store: st}
	var h http.Handler = http.NotFoundHandler()
	m.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	m.srv = ha.New(master.Config{Addr: m.http.Listener.Addr().String(), ID: id, Store: st, Logger: quiet}, session, root)
	h = m.srv.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; m.http.Close(); session.Close(); st.Close() })
	return m
}

// serving reports whether m answers operator calls as the leader, its
// registry read.
func (m *member) serving() bool {
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()})
	resp, err := http.Post(m.http.URL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// The leader's znode is what Mesos tooling reads: json.info_<10 digits>
// holding MasterInfo as JSON with Mesos' field names.
func TestLeaderZnodeHoldsMesosMasterInfo(t *testing.T) {
	server := zktest.Start(t)
	a := startMember(t, server.Addr, "a")
	waitFor(t, "a leader", a.srv.Leading)
	conn := a.store.Conn()
	children, _, err := conn.Children(root)
	if err != nil {
		t.Fatal(err)
	}
	var znodes []string
	for _, c := range children {
		switch {
		case regexp.MustCompile(`^json\.info_[0-9]{10}$`).MatchString(c):
			znodes = append(znodes, c)
		case c != "registry":
			t.Errorf("child %q of the election path is neither a contender nor the registry", c)
		}
	}
	if len(znodes) != 1 {
		t.Fatalf("contenders %v, want one", znodes)
	}
	data, _, err := conn.Get(root + "/" + znodes[0])
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ID       string `json:"id"`
		IP       uint32 `json:"ip"`
		Port     uint32 `json:"port"`
		PID      string `json:"pid"`
		Hostname string `json:"hostname"`
		Version  string `json:"version"`
		Address  struct {
			IP       string `json:"ip"`
			Hostname string `json:"hostname"`
			Port     int    `json:"port"`
		} `json:"address"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatalf("%s holds %s: %v", znodes[0], data, err)
	}
	host, portText, _ := net.SplitHostPort(a.http.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	if info.ID != "a" || info.IP != 0x0100007f || info.Port != uint32(port) || info.PID != "master@"+host+":"+portText ||
		info.Hostname != host || info.Version == "" || info.Address.IP != host || info.Address.Hostname != host || info.Address.Port != port {
		t.Fatalf("%s holds %s; want Mesos' MasterInfo of master a at %s:%d", znodes[0], data, host, port)
	}
	d := election.NewDetector(watcherSession(t, server.Addr), root)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if addr, err := d.Leader(ctx); err != nil || addr != a.http.Listener.Addr().String() {
		t.Fatalf("the detector names %q (%v), want %s", addr, err, a.http.Listener.Addr())
	}
}

func watcherSession(t *testing.T, addr string) *election.Session {
	s, err := election.Dial([]string{addr}, 4*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// A leader that believes it leads after a newer one took the registry's
// fence (here taken by the test, as a newer leader does first) fails its
// next registry write, steps down, and the next contender leads.
func TestFencedLeaderStepsDownForTheNextContender(t *testing.T) {
	server := zktest.Start(t)
	a := startMember(t, server.Addr, "a")
	waitFor(t, "a to lead and serve", a.serving)
	b := startMember(t, server.Addr, "b")
	ctx := context.Background()
	if _, err := store.TakeFence(ctx, b.store, master.FenceKey, []byte(`{"id":"newer"}`)); err != nil {
		t.Fatal(err)
	}

	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{
		WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("web"), Weight: proto.Float64(9)}}}})
	resp, err := http.Post(a.http.URL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("the fenced leader answered HTTP %d: %s", resp.StatusCode, msg)
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
		t.Fatalf("a fenced leader accepted a weight change: HTTP %d", resp.StatusCode)
	}
	waitFor(t, "b to lead and a to stand by", func() bool { return b.srv.Leading() && !a.srv.Leading() })
	if _, err := b.store.Get(ctx, "registry/weights/web"); err == nil {
		t.Fatal("the fenced leader's weight reached the registry")
	}
	e, err := b.store.Get(ctx, master.FenceKey)
	if err != nil || !bytes.Contains(e.Value, []byte(`"id":"b"`)) {
		t.Fatalf("fence = %s (%v), want taken by b", e.Value, err)
	}
	if a.srv.Terms() != 1 {
		t.Fatalf("a led %d times, want once", a.srv.Terms())
	}
}

package election_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/proto/mesospb"
)

type contender struct {
	name    string
	session *election.Session
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	leading bool
	terms   int
}

func (c *contender) isLeading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

func start(t *testing.T, addr, name string) *contender { return startWith(t, addr, name, nil) }

// startWith runs a contender after prepare has had its session.
func startWith(t *testing.T, addr, name string, prepare func(*election.Session)) *contender {
	s, err := election.Dial([]string{addr}, 2*time.Second, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(s)
	}
	c := &contender{name: name, session: s, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	info := &mesospb.MasterInfo{Id: proto.String(name), Ip: proto.Uint32(0), Port: proto.Uint32(5050),
		Hostname: proto.String(name), Address: &mesospb.Address{Hostname: proto.String(name), Port: proto.Int32(5050)}}
	go func() {
		defer close(c.done)
		_ = election.Contend(ctx, s, "/corral/election", info, func(lctx context.Context) {
			c.mu.Lock()
			c.leading, c.terms = true, c.terms+1
			c.mu.Unlock()
			<-lctx.Done()
			c.mu.Lock()
			c.leading = false
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); s.Close(); <-c.done })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func leaders(cs []*contender) []*contender {
	var out []*contender
	for _, c := range cs {
		if c.isLeading() {
			out = append(out, c)
		}
	}
	return out
}

func TestOneLeaderAndFailover(t *testing.T) {
	zk := zktest.Start(t)
	var cs []*contender
	for i := range 3 {
		cs = append(cs, start(t, zk.Addr, fmt.Sprintf("m%d", i)))
	}
	waitFor(t, "a leader", func() bool { return len(leaders(cs)) == 1 })
	first := leaders(cs)[0]

	watcher, err := election.Dial([]string{zk.Addr}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	d := election.NewDetector(watcher, "/corral/election")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if addr, err := d.Leader(ctx); err != nil || addr != first.name+":5050" {
		t.Fatalf("detector says %q, %v", addr, err)
	}

	// The leader's process dies: its session closes, its znode goes.
	killed := time.Now()
	first.session.Close()
	waitFor(t, "the old leader to step down", func() bool { return !first.isLeading() })
	waitFor(t, "a new leader", func() bool { l := leaders(cs); return len(l) == 1 && l[0] != first })
	t.Logf("new leader %s after %v", leaders(cs)[0].name, time.Since(killed))
	waitFor(t, "the detector to follow", func() bool {
		addr, err := d.Leader(ctx)
		return err == nil && addr == leaders(cs)[0].name+":5050"
	})
}

func TestLeaderStepsDownWhenZooKeeperGoesAway(t *testing.T) {
	zk := zktest.Start(t)
	c := start(t, zk.Addr, "solo")
	waitFor(t, "leadership", c.isLeading)
	zk.Stop()
	// Disconnected longer than the 2 s session timeout: no longer leader,
	// even though nobody else could have been told so.
	waitFor(t, "stepping down", func() bool { return !c.isLeading() })
	if err := zk.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leading again", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.leading && c.terms >= 2 })
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// With digest credentials the election's znodes are readable by anyone, so
// detectors without credentials find the leader, but only the credentials'
// holder may change or delete them.
func TestDigestCredentialsProtectTheElection(t *testing.T) {
	zk := zktest.Start(t)
	owner, err := election.DialAuth([]string{zk.Addr}, 4*time.Second, "corral:s3cret", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	info := &mesospb.MasterInfo{Id: proto.String("m1"), Ip: proto.Uint32(0), Port: proto.Uint32(5050), Hostname: proto.String("m1")}
	go func() {
		defer close(done)
		_ = election.Contend(ctx, owner, "/secure/election", info, func(lctx context.Context) { <-lctx.Done() })
	}()
	defer func() { cancel(); <-done }()

	stranger, err := election.Dial([]string{zk.Addr}, 4*time.Second, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	d := election.NewDetector(stranger, "/secure/election")
	var leader *mesospb.MasterInfo
	waitFor(t, "a detector without credentials to see the leader", func() bool {
		leader, _, _ = d.Current()
		return leader != nil
	})
	if leader.GetId() != "m1" {
		t.Fatalf("leader %v, want m1", leader.GetId())
	}
	children, _, err := stranger.Conn.Children("/secure/election")
	if err != nil || len(children) != 1 {
		t.Fatalf("children %v, %v", children, err)
	}
	znode := "/secure/election/" + children[0]
	if _, err := stranger.Conn.Set(znode, []byte("forged"), -1); err == nil {
		t.Fatal("a client without credentials overwrote the leader's znode")
	}
	if _, err := stranger.Conn.Create("/secure/election/json.info_9999999999", []byte("{}"), 0, nil); err == nil {
		t.Fatal("a client without credentials joined the election")
	}
	if err := stranger.Conn.Delete(znode, -1); err == nil {
		t.Fatal("a client without credentials deleted the leader's znode")
	}
}

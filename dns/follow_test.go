package dns

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

var quiet = slog.New(slog.DiscardHandler)

// launcher is a small framework named "svc": each name sent on launch
// becomes one task with one port, placed on the next offer.
type launcher struct {
	sched   *sdk.Scheduler
	launch  chan string
	mu      sync.Mutex
	running map[string]time.Time // task ID -> when TASK_RUNNING arrived; guarded by mu
	agents  map[string]string    // task ID -> agent ID; guarded by mu
	seq     atomic.Int64
}

func startLauncher(t testing.TB, master string) *launcher {
	t.Helper()
	l := &launcher{launch: make(chan string, 16), running: map[string]time.Time{}, agents: map[string]string{}}
	sched, err := sdk.New(sdk.Config{Master: master, Framework: &mesospb.FrameworkInfo{
		User: proto.String("root"), Name: proto.String("svc")}, Logger: quiet}, sdk.HandlerFunc(l.handle))
	if err != nil {
		t.Fatal(err)
	}
	l.sched = sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func (l *launcher) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_OFFERS:
		for _, o := range ev.GetOffers().GetOffers() {
			var name string
			select {
			case name = <-l.launch:
			default:
				if err := l.sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0.05); err != nil {
					return err
				}
				continue
			}
			res, ok := sdk.NewSpace(o).Take(0.01, 8, 0, 1)
			if !ok {
				l.launch <- name
				continue
			}
			id := fmt.Sprintf("%s.%d", name, l.seq.Add(1))
			if err := l.sched.Launch(ctx, o, 0.05, sdk.CommandTask(name, id, o, "exec sleep 600", res)); err != nil {
				return err
			}
		}
	case schedulerpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		l.mu.Lock()
		l.agents[st.GetTaskId().GetValue()] = st.GetAgentId().GetValue()
		if st.GetState() == mesospb.TaskState_TASK_RUNNING {
			if _, seen := l.running[st.GetTaskId().GetValue()]; !seen {
				l.running[st.GetTaskId().GetValue()] = time.Now()
			}
		}
		l.mu.Unlock()
	}
	return nil
}

func (l *launcher) runningSince(id string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.running[id]
	return at, ok
}

func (l *launcher) kill(ctx context.Context, id string) error {
	l.mu.Lock()
	agent := l.agents[id]
	l.mu.Unlock()
	return l.sched.Kill(ctx, id, agent)
}

// followed starts a cluster, a DNS server following its master over the
// operator API, and the launcher.
func followed(t testing.TB, fc func(*FollowConfig)) (*testcluster.Cluster, *Server, string, *launcher) {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{})
	s, err := New(Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	cfg := FollowConfig{Master: c.MasterAddr, MinBackoff: 20 * time.Millisecond}
	if fc != nil {
		fc(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Follow(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Follow: %v", err)
		}
	})
	return c, s, addr, startLauncher(t, c.MasterAddr)
}

// lookup polls addr until name's A answer satisfies ok, or fails after a
// generous deadline (the time it took is the caller's to report).
func lookup(t testing.TB, addr, name string, ok func(*dns.Msg) bool) *dns.Msg {
	t.Helper()
	c := &dns.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
		if err == nil && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered as wanted: last %v, %v", name, m, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func resolves(m *dns.Msg) bool { return m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 }
func nxdomain(m *dns.Msg) bool { return m.Rcode == dns.RcodeNameError }

func TestATaskIsNamedWhileItRuns(t *testing.T) {
	c, _, addr, l := followed(t, nil)
	l.launch <- "web"
	m := lookup(t, addr, "web.svc.corral.", resolves)
	if a, ok := m.Answer[0].(*dns.A); !ok || a.A.String() != "127.0.0.1" {
		t.Errorf("web.svc.corral = %v, want the agent's 127.0.0.1", m.Answer)
	}
	resolved := time.Now()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if since, ok := l.runningSince("web.1"); ok {
			t.Logf("resolvable %v after the framework's TASK_RUNNING", resolved.Sub(since))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the framework never heard TASK_RUNNING")
		}
	}
	srv, _, err := (&dns.Client{}).Exchange(new(dns.Msg).SetQuestion("_web._tcp.svc.corral.", dns.TypeSRV), addr)
	if err != nil || len(srv.Answer) != 1 || srv.Answer[0].(*dns.SRV).Port < 31000 {
		t.Errorf("SRV: %v, %v", srv, err)
	}
	if err := l.kill(context.Background(), "web.1"); err != nil {
		t.Fatal(err)
	}
	lookup(t, addr, "web.svc.corral.", nxdomain)
	_ = c
}

// The follower finds the master again when its stream cannot be had: a
// detector that first names nobody listening, then the real master.
func TestFollowRetriesUntilItFindsTheLeader(t *testing.T) {
	var calls atomic.Int64
	var master atomic.Value
	_, _, addr, l := followed(t, func(fc *FollowConfig) {
		master.Store(fc.Master)
		fc.Master = ""
		fc.Detector = detectorFunc(func(context.Context) (string, error) {
			if calls.Add(1) <= 2 {
				return "127.0.0.1:1", nil
			}
			return master.Load().(string), nil
		})
	})
	l.launch <- "api"
	lookup(t, addr, "api.svc.corral.", resolves)
	if calls.Load() < 3 {
		t.Errorf("the detector was asked %d times, want at least 3", calls.Load())
	}
}

type detectorFunc func(context.Context) (string, error)

func (f detectorFunc) Leader(ctx context.Context) (string, error) { return f(ctx) }

// BenchmarkRunningToResolvable measures, one task at a time, from the
// framework's TASK_RUNNING to the first answer naming the task.
func BenchmarkRunningToResolvable(b *testing.B) {
	_, _, addr, l := followed(b, nil)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("t%d", i)
		l.launch <- name
		id := fmt.Sprintf("%s.%d", name, i+1)
		lookup(b, addr, name+".svc.corral.", resolves)
		resolved := time.Now()
		for {
			if at, ok := l.runningSince(id); ok {
				took = append(took, max(0, resolved.Sub(at)))
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := l.kill(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

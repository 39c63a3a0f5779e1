package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/master/ha"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

type haMaster struct {
	addr    string
	srv     *ha.Server
	session *election.Session
	cancel  context.CancelFunc
	done    chan struct{}
}

func startHAMaster(t *testing.T, zkAddr string, log *slog.Logger) *haMaster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := election.Dial([]string{zkAddr}, 2*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	m := &haMaster{addr: ln.Addr().String(), session: sess, done: make(chan struct{})}
	m.srv = ha.New(master.Config{Addr: m.addr, Logger: log, AgentPingTimeout: time.Second, MaxAgentPingTimeouts: 10}, sess, "/corral")
	httpSrv := &http.Server{Handler: m.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = httpSrv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { _ = m.srv.Run(ctx); close(m.done) }()
	t.Cleanup(func() { m.stop(); httpSrv.Close() })
	return m
}

// stop is a master dying: its session ends and its term with it.
func (m *haMaster) stop() {
	m.cancel()
	m.session.Close()
	<-m.done
}

func TestMasterFailoverKeepsTasksRunning(t *testing.T) {
	zk := zktest.Start(t)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	masters := []*haMaster{startHAMaster(t, zk.Addr, log), startHAMaster(t, zk.Addr, log)}
	leader := func() *haMaster {
		for _, m := range masters {
			if m.srv.Leading() {
				return m
			}
		}
		return nil
	}
	waitFor(t, 30*time.Second, "a leading master", func() bool { return leader() != nil })

	detect := func() *election.Detector {
		s, err := election.Dial([]string{zk.Addr}, 2*time.Second, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return election.NewDetector(s, "/corral")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Detector: detect(), Addr: ln.Addr().String(), Hostname: "ha-agent",
		WorkDir: t.TempDir(), Resources: "cpus:2;mem:1024", RegisterBackoff: 50 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(ln, a.Handler()) }()
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan struct{})
	go func() { _ = a.Run(actx); close(adone) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		acancel()
		<-adone
		ln.Close()
	})

	updates := make(chan *mesospb.TaskStatus, 100)
	launched := false
	var s *sdk.Scheduler
	s, err = sdk.New(sdk.Config{Detector: detect(), Logger: log, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("ha"), FailoverTimeout: proto.Float64(3600)},
	}, sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
		for _, o := range ev.GetOffers().GetOffers() {
			if launched {
				if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 3600); err != nil {
					return err
				}
				continue
			}
			launched = true
			res, _ := sdk.NewSpace(o).Take(0.5, 64, 0, 0)
			if err := s.Launch(ctx, o, 3600, sdk.CommandTask("survivor", "survivor", o, "sleep 600", res)); err != nil {
				return err
			}
		}
		if st := ev.GetUpdate().GetStatus(); st != nil {
			updates <- st
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { _ = s.Run(sctx); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })
	waitUpdate(t, updates, "survivor", mesospb.TaskState_TASK_RUNNING)
	framework := s.FrameworkID()

	old := leader()
	standby := masters[0]
	if standby == old {
		standby = masters[1]
	}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Post("http://"+standby.addr+"/api/v1/scheduler", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "//"+old.addr+"/api/v1/scheduler" {
		t.Fatalf("standby answered %s with Location %q, want 307 to //%s/api/v1/scheduler", resp.Status, resp.Header.Get("Location"), old.addr)
	}
	killed := time.Now()
	old.stop()
	waitFor(t, 30*time.Second, "a new leader", func() bool { l := leader(); return l != nil && l != old })
	elected := time.Since(killed)
	// The framework re-subscribes to the new leader and reconciles; the
	// agent re-registers with the task, which is still running.
	st := waitUpdate(t, updates, "survivor", mesospb.TaskState_TASK_RUNNING)
	t.Logf("new leader after %v, task reconciled RUNNING after %v", elected, time.Since(killed))
	if st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("after failover: %v, want a reconciliation answer", st)
	}
	if s.FrameworkID() != framework {
		t.Fatalf("framework became %q, want %q", s.FrameworkID(), framework)
	}
}

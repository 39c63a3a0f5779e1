package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// healthFramework launches the tasks it is given, one per offer, and
// hands over their updates.
type healthFramework struct {
	s       *sdk.Scheduler
	tasks   chan func(*mesospb.Offer) *mesospb.TaskInfo
	updates chan *mesospb.TaskStatus
}

func startHealthFramework(t *testing.T, master string) *healthFramework {
	t.Helper()
	f := &healthFramework{tasks: make(chan func(*mesospb.Offer) *mesospb.TaskInfo, 10), updates: make(chan *mesospb.TaskStatus, 100)}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("health")}
	s, err := sdk.New(sdk.Config{Master: master, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case build := <-f.tasks:
					if err := f.s.Launch(ctx, o, 0, build(o)); err != nil {
						return err
					}
				default:
					if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0.05); err != nil {
						return err
					}
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.updates <- st
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(testkit.RunInBackground(s.Run))
	return f
}

func (f *healthFramework) launch(id, cmd string, hc *mesospb.HealthCheck) {
	f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
		res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
		ti := sdk.CommandTask(id, id, o, cmd, res)
		ti.HealthCheck = hc
		return ti
	}
}

// expect waits for an update of task id matching want.
func (f *healthFramework) expect(t *testing.T, id, what string, want func(*mesospb.TaskStatus) bool) *mesospb.TaskStatus {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case st := <-f.updates:
			if st.GetTaskId().GetValue() == id && want(st) {
				return st
			}
		case <-deadline:
			t.Fatalf("task %s: no update with %s within 30s", id, what)
			return nil
		}
	}
}

func fastCheck(hc *mesospb.HealthCheck) *mesospb.HealthCheck {
	hc.DelaySeconds, hc.IntervalSeconds, hc.TimeoutSeconds = proto.Float64(0), proto.Float64(0.05), proto.Float64(1)
	hc.GracePeriodSeconds, hc.ConsecutiveFailures = proto.Float64(0), proto.Uint32(3)
	return hc
}

func healthy(want bool) func(*mesospb.TaskStatus) bool {
	return func(st *mesospb.TaskStatus) bool {
		return st.GetState() == mesospb.TaskState_TASK_RUNNING && st.Healthy != nil && st.GetHealthy() == want &&
			st.GetReason() == mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
	}
}

func killedUnhealthy(st *mesospb.TaskStatus) bool {
	return st.GetState() == mesospb.TaskState_TASK_KILLED && !st.GetHealthy() && strings.Contains(st.GetMessage(), "health checks")
}

func TestHealthChecksReportAndKill(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startHealthFramework(t, c.MasterAddr)

	// HTTP: the agent polls a server; when it starts failing, the task is
	// reported unhealthy and then killed.
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() || r.URL.Path != "/ready" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	f.launch("web", "sleep 60", fastCheck(&mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(),
		Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(p)), Path: proto.String("/ready")}}))
	f.expect(t, "web", "healthy=true", healthy(true))
	failing.Store(true)
	f.expect(t, "web", "healthy=false", healthy(false))
	f.expect(t, "web", "TASK_KILLED after failed checks", killedUnhealthy)

	// TCP: healthy while something listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	f.launch("tcp", "sleep 60", fastCheck(&mesospb.HealthCheck{Type: mesospb.HealthCheck_TCP.Enum(),
		Tcp: &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(uint32(ln.Addr().(*net.TCPAddr).Port))}}))
	f.expect(t, "tcp", "healthy=true", healthy(true))

	// COMMAND: runs in the sandbox; a file the task creates makes it pass,
	// a command that always fails gets the task killed.
	f.launch("cmd", "touch ready; sleep 60", fastCheck(&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(),
		Command: &mesospb.CommandInfo{Value: proto.String("test -f ready")}}))
	f.expect(t, "cmd", "healthy=true", healthy(true))
	f.launch("sick", "sleep 60", fastCheck(&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(),
		Command: &mesospb.CommandInfo{Value: proto.String("exit 1")}}))
	st := f.expect(t, "sick", "TASK_KILLED after failed checks", killedUnhealthy)
	if !strings.Contains(st.GetMessage(), "3 consecutive") {
		t.Fatalf("kill message %q does not say how many checks failed", st.GetMessage())
	}
}

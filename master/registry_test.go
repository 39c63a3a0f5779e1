package master

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// startWithStore runs a master on a store until the returned stop is called.
func startWithStore(t *testing.T, st store.Store, mutate func(*Config)) (*httptest.Server, func()) {
	t.Helper()
	return startStoppableMaster(t, func(c *Config) {
		c.Store, c.AllocationInterval = st, 20*time.Millisecond
		// Frequent pings notice closed streams at once; scripted agents do
		// not answer them, so allow many misses.
		c.AgentPingTimeout, c.MaxAgentPingTimeouts = 20*time.Millisecond, 1000
		if mutate != nil {
			mutate(c)
		}
	})
}

func metricsOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestRegistrySurvivesTheMaster(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, stop := startWithStore(t, st, nil)
	registerAgent(t, first.URL, "cpus:1;mem:64")
	keeper := subscribe(t, first.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(3600) }))
	gone := subscribe(t, first.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(3600) }))
	gone.call(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}, http.StatusAccepted)
	stop()

	// The next master knows the agent and the framework before either
	// comes back, and refuses the removed framework.
	second, _ := startWithStore(t, st, func(c *Config) { c.AgentReregisterTimeout = 300 * time.Millisecond })
	m := metricsOf(t, second.URL)
	for _, want := range []string{`corral_master_agents{state="disconnected"} 1`, `corral_master_frameworks{state="disconnected"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("recovered master's metrics lack %s:\n%s", want, m)
		}
	}
	info := fwInfo(func(i *mesospb.FrameworkInfo) { i.Id = &mesospb.FrameworkID{Value: proto.String(gone.id)} })
	body, _ := proto.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: info.Id,
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}})
	s := openStream(t, second.URL+"/api/v1/scheduler", codec.Protobuf.MediaType(), body, codec.Protobuf.MediaType())
	rec, _ := s.next()
	ev := &schedulerpb.Event{}
	if err := proto.Unmarshal(rec, ev); err != nil || ev.GetType() != schedulerpb.Event_ERROR || !strings.Contains(ev.GetError().GetMessage(), "removed") {
		t.Fatalf("a removed framework re-subscribing got %v, want ERROR about removal", ev)
	}
	back := subscribe(t, second.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) {
		i.Id = &mesospb.FrameworkID{Value: proto.String(keeper.id)}
		i.FailoverTimeout = proto.Float64(3600)
	}))
	if back.id != keeper.id {
		t.Fatalf("framework came back as %s, want %s", back.id, keeper.id)
	}
	// The agent never re-registers: it becomes unreachable.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsOf(t, second.URL), `corral_master_agents{state="unreachable"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("the agent that did not come back never became unreachable")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestFailoverDeadlineOutlivesTheMaster(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, stop := startWithStore(t, st, nil)
	fw := subscribe(t, first.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(2) }))
	fw.stream.close()
	// Wait until the disconnect (and its deadline) is recorded.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsOf(t, first.URL), `corral_master_frameworks{state="disconnected"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("disconnect not noticed")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	stop()
	second, _ := startWithStore(t, st, nil)
	if m := metricsOf(t, second.URL); !strings.Contains(m, `corral_master_frameworks{state="disconnected"} 1`) {
		t.Fatalf("the next master did not recover the disconnected framework:\n%s", m)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsOf(t, second.URL), `corral_master_frameworks{state="disconnected"} 0`) {
		if time.Now().After(deadline) {
			t.Fatal("the framework outlived its failover timeout on the next master")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

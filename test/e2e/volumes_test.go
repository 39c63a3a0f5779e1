package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// volumeFramework is driven step by step by the test: offers and updates
// are handed over on channels.
type volumeFramework struct {
	s       *sdk.Scheduler
	offers  chan *mesospb.Offer
	updates chan *mesospb.TaskStatus
}

func startVolumeFramework(t *testing.T, master string) *volumeFramework {
	t.Helper()
	f := &volumeFramework{offers: make(chan *mesospb.Offer, 100), updates: make(chan *mesospb.TaskStatus, 100)}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("volumes"),
		Role: proto.String("db"), Principal: proto.String("db-principal")}
	s, err := sdk.New(sdk.Config{Master: master, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				f.offers <- o
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

// offer waits for an offer that satisfies want, declining the others.
func (f *volumeFramework) offer(t *testing.T, what string, want func(resources.Resources) bool) *mesospb.Offer {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case o := <-f.offers:
			if want(resources.Resources(o.GetResources())) {
				return o
			}
			if err := f.s.Decline(context.Background(), []*mesospb.OfferID{o.GetId()}, 0); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no offer with %s within 30s", what)
			return nil
		}
	}
}

// drain declines every offer received so far: after an agent restart,
// offers made before it were rescinded.
func (f *volumeFramework) drain(t *testing.T) {
	t.Helper()
	for {
		select {
		case o := <-f.offers:
			if err := f.s.Decline(context.Background(), []*mesospb.OfferID{o.GetId()}, 0); err != nil {
				t.Fatal(err)
			}
		default:
			return
		}
	}
}

func (f *volumeFramework) finished(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case st := <-f.updates:
			if st.GetTaskId().GetValue() != id {
				continue
			}
			switch st.GetState() {
			case mesospb.TaskState_TASK_FINISHED:
				return
			case mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING:
			default:
				t.Fatalf("task %s: %s", id, sdk.Describe(st))
			}
		case <-deadline:
			t.Fatalf("task %s did not finish within 30s", id)
		}
	}
}

// reserved builds resources dynamically reserved to db, in the shape of a
// framework without RESERVATION_REFINEMENT.
func reserved(name string, v float64) *mesospb.Resource {
	r := resources.Scalar(name, v)
	r.Role = proto.String("db")
	r.Reservation = &mesospb.Resource_ReservationInfo{Principal: proto.String("db-principal")}
	return r
}

func hasVolume(r resources.Resources) bool {
	for _, x := range r {
		if x.GetDisk().GetPersistence().GetId() == "data" {
			return true
		}
	}
	return false
}

func TestPersistentVolumeOutlivesTasksAndTheAgent(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, AgentResources: "cpus:2;mem:1024;disk:1000"})
	f := startVolumeFramework(t, c.MasterAddr)
	ctx := context.Background()

	// Reserve, create a volume and write into it, in one ACCEPT.
	o := f.offer(t, "unreserved resources", func(r resources.Resources) bool { return r.ScalarValue("disk") == 1000 })
	cpus, mem, disk := reserved("cpus", 0.5), reserved("mem", 128), reserved("disk", 100)
	vol := proto.CloneOf(disk)
	vol.Disk = &mesospb.Resource_DiskInfo{
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("data"), Principal: proto.String("db-principal")},
		Volume:      &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()},
	}
	writer := sdk.CommandTask("writer", "writer", o, "echo hello > data/greeting", resources.Resources{cpus, mem, vol})
	err := f.s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{
		{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{cpus, mem, disk}}},
		{Type: mesospb.Offer_Operation_CREATE.Enum(), Create: &mesospb.Offer_Operation_Create{Volumes: []*mesospb.Resource{vol}}},
		sdk.LaunchOperation(writer),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.finished(t, "writer")

	// The agent restarts: the volume is checkpointed and comes back.
	c.StopAgent(0)
	if _, err := c.RestartAgent(0); err != nil {
		t.Fatal(err)
	}
	f.drain(t)

	// The next offer to db carries the volume; a new task reads the file.
	o = f.offer(t, "the volume", hasVolume)
	var mine resources.Resources
	for _, x := range o.GetResources() {
		if resources.ReservedRole(resources.Normalize(x)) == "db" {
			mine = append(mine, x)
		}
	}
	reader := sdk.CommandTask("reader", "reader", o, `test "$(cat data/greeting)" = hello`, mine)
	if err := f.s.Launch(ctx, o, 0, reader); err != nil {
		t.Fatal(err)
	}
	f.finished(t, "reader")

	data := filepath.Join(c.Agents[0].WorkDir(), "volumes", "roles", "db", "data")
	if b, err := os.ReadFile(filepath.Join(data, "greeting")); err != nil || string(b) != "hello\n" {
		t.Fatalf("the volume holds %q (%v), want the writer's greeting", b, err)
	}

	// DESTROY deletes the data; UNRESERVE returns everything to the pool.
	o = f.offer(t, "the volume again", hasVolume)
	err = f.s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{
		{Type: mesospb.Offer_Operation_DESTROY.Enum(), Destroy: &mesospb.Offer_Operation_Destroy{Volumes: []*mesospb.Resource{vol}}},
		{Type: mesospb.Offer_Operation_UNRESERVE.Enum(), Unreserve: &mesospb.Offer_Operation_Unreserve{Resources: []*mesospb.Resource{cpus, mem, disk}}},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's resources are all unreserved again, and offered so.
	waitFor(t, 30*time.Second, "the agent to hold no reservation", func() bool {
		agents := getAgents(t, c.MasterURL)
		if len(agents) != 1 {
			return false
		}
		total := resources.Resources(agents[0].GetTotalResources())
		return len(total.Checkpointed()) == 0 && total.Unreserved().ScalarValue("disk") == 1000
	})
	// Freed resources may come alone or merged with the rest of the agent
	// (declined offers merge), so ask only that they come unreserved.
	f.offer(t, "the unreserved disk", func(r resources.Resources) bool {
		return r.ScalarValue("disk") >= 100 && len(r.Checkpointed()) == 0 && r.Unreserved().ScalarValue("disk") == r.ScalarValue("disk")
	})
	waitFor(t, 30*time.Second, "the destroyed volume's data to be deleted from "+data, func() bool {
		_, err := os.Stat(data)
		return os.IsNotExist(err)
	})
}

func getAgents(t *testing.T, base string) []*masterpb.Response_GetAgents_Agent {
	t.Helper()
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	resp, err := http.Post(base+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET_AGENTS: %s: %s", resp.Status, b)
	}
	out := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out.GetGetAgents().GetAgents()
}

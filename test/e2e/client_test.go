package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
	"github.com/corral-sched/corral/resources"
)

// rawFramework speaks the scheduler API by hand, so tests see exactly what
// goes over the wire.
type rawFramework struct {
	t        *testing.T
	url      string
	c        codec.Codec
	id       string
	streamID string
	resp     *http.Response
	raw      chan []byte
}

func subscribeRaw(t *testing.T, masterURL string, c codec.Codec, accept string, info *mesospb.FrameworkInfo) *rawFramework {
	t.Helper()
	body, err := c.Marshal(&schedulerpb.Call{
		Type:        schedulerpb.Call_SUBSCRIBE.Enum(),
		FrameworkId: info.GetId(),
		Subscribe:   &schedulerpb.Call_Subscribe{FrameworkInfo: info},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, masterURL+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", c.MediaType())
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %s: %s", resp.Status, b)
	}
	f := &rawFramework{t: t, url: masterURL, c: c, resp: resp, raw: make(chan []byte, 10000),
		streamID: resp.Header.Get("Mesos-Stream-Id")}
	go func() {
		defer close(f.raw)
		r := recordio.NewReader(resp.Body, 64<<20)
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				return
			}
			f.raw <- rec
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	f.id = f.next(schedulerpb.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId().GetValue()
	return f
}

func frameworkInfo(name string, caps ...mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo {
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name)}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return info
}

// nextRaw returns the next record as sent, within a deadline.
func (f *rawFramework) nextRaw() ([]byte, bool) {
	f.t.Helper()
	return f.nextRawBy(time.Now().Add(20 * time.Second))
}

func (f *rawFramework) nextRawBy(deadline time.Time) ([]byte, bool) {
	f.t.Helper()
	select {
	case rec, ok := <-f.raw:
		return rec, ok
	case <-time.After(time.Until(deadline)):
		f.t.Fatal("no event in time")
		return nil, false
	}
}

// next returns the next event of type want; heartbeats, offers and
// rescinds are skipped when something else is wanted.
func (f *rawFramework) next(want schedulerpb.Event_Type) *schedulerpb.Event {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, ok := f.nextRawBy(deadline)
		if !ok {
			f.t.Fatalf("stream ended waiting for %v", want)
		}
		ev := &schedulerpb.Event{}
		if err := f.c.Unmarshal(rec, ev); err != nil {
			f.t.Fatal(err)
		}
		switch {
		case ev.GetType() == want:
			return ev
		case ev.GetType() == schedulerpb.Event_HEARTBEAT, ev.GetType() == schedulerpb.Event_OFFERS, ev.GetType() == schedulerpb.Event_RESCIND:
			continue
		}
		f.t.Fatalf("got %v, want %v: %v", ev.GetType(), want, ev)
	}
}

// call posts c and returns the status and body.
func (f *rawFramework) call(c *schedulerpb.Call) (int, string) {
	f.t.Helper()
	if c.FrameworkId == nil {
		c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(f.id)}
	}
	body, err := f.c.Marshal(c)
	if err != nil {
		f.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", f.c.MediaType())
	req.Header.Set("Mesos-Stream-Id", f.streamID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (f *rawFramework) mustCall(c *schedulerpb.Call) {
	f.t.Helper()
	if code, body := f.call(c); code != http.StatusAccepted {
		f.t.Fatalf("%v: %d %s, want 202", c.GetType(), code, body)
	}
}

func (f *rawFramework) launch(o *mesospb.Offer, refuse float64, tasks ...*mesospb.TaskInfo) {
	f.t.Helper()
	f.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.GetId()},
			Operations: []*mesospb.Offer_Operation{{
				Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
			}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(refuse)},
		},
	})
}

func (f *rawFramework) ack(st *mesospb.TaskStatus) {
	f.t.Helper()
	if len(st.GetUuid()) == 0 {
		return
	}
	f.mustCall(&schedulerpb.Call{
		Type:        schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid()},
	})
}

// waitState acknowledges updates of task id until it reaches state.
func (f *rawFramework) waitState(id string, state mesospb.TaskState) *mesospb.TaskStatus {
	f.t.Helper()
	for {
		st := f.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		f.ack(st)
		if st.GetTaskId().GetValue() != id {
			continue
		}
		if st.GetState() == state {
			return st
		}
		if mesospb.IsTerminal(st.GetState()) {
			f.t.Fatalf("task %s ended %v (%s), want %v", id, st.GetState(), st.GetMessage(), state)
		}
	}
}

func shellTask(id string, o *mesospb.Offer, cmd, res string) *mesospb.TaskInfo {
	rs, err := resources.Parse(res, "*")
	if err != nil {
		panic(err)
	}
	return &mesospb.TaskInfo{
		Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
		AgentId: o.GetAgentId(), Resources: rs,
		Command: &mesospb.CommandInfo{Value: proto.String(cmd)},
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

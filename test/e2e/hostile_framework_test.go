package e2e

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
)

// subscribedFramework subscribes a hostile framework of its own and sends
// calls with its stream ID: malformed and mutated ACCEPTs of the offers
// it really gets, kills, acknowledgements and updates of things that are
// not there. Calls without a stream stop at the stream checks; these get
// into the master's loop.
func (h *hostile) subscribedFramework(ctx context.Context, r *rand.Rand) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sub, _ := codec.Protobuf.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
		FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String(pick(r, []string{"root", "nobody", "no-such-user"})), Name: proto.String("hostile-subscribed")}}})
	url := "http://" + h.master + "/api/v1/scheduler"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(sub))
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	h.calls.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		if isDialError(err) {
			h.dialErrors.Add(1)
		} else if ctx.Err() == nil {
			h.fail("hostile SUBSCRIBE: %v", err)
		}
		return
	}
	defer resp.Body.Close()
	h.record(hostileRequest{endpoint: "/api/v1/scheduler SUBSCRIBE", method: http.MethodPost}, resp.StatusCode, nil)
	if resp.StatusCode != http.StatusOK {
		return
	}
	streamID := resp.Header.Get("Mesos-Stream-Id")
	events := recordio.NewReader(resp.Body, 16<<20)
	rec, err := events.ReadRecord()
	ev := &schedulerpb.Event{}
	if err != nil || proto.Unmarshal(rec, ev) != nil || ev.GetType() != schedulerpb.Event_SUBSCRIBED {
		return
	}
	fw := ev.GetSubscribed().GetFrameworkId()
	var (
		mu     sync.Mutex
		offers []*mesospb.Offer // guarded by mu
	)
	go func() {
		for {
			rec, err := events.ReadRecord()
			if err != nil {
				return // the body is closed when this session ends
			}
			ev := &schedulerpb.Event{}
			if proto.Unmarshal(rec, ev) == nil && ev.GetType() == schedulerpb.Event_OFFERS {
				mu.Lock()
				offers = append(offers, ev.GetOffers().GetOffers()...)
				mu.Unlock()
			}
		}
	}()
	for range 40 {
		if ctx.Err() != nil {
			return
		}
		mu.Lock()
		var offer *mesospb.Offer
		if len(offers) > 0 {
			offer = pick(r, offers)
		}
		mu.Unlock()
		call := h.frameworkCall(r, fw, offer)
		b, _ := codec.Protobuf.Marshal(call)
		if r.IntN(4) == 0 {
			b = sanitize(mutate(r, b, h.schedPool))
		}
		h.do(ctx, hostileRequest{endpoint: "/api/v1/scheduler (subscribed)", method: http.MethodPost, url: url,
			contentType: codec.ProtobufMediaType, streamID: streamID, body: b})
	}
}

// frameworkCall is a call of the framework's own, mostly wrong.
func (h *hostile) frameworkCall(r *rand.Rand, fw *mesospb.FrameworkID, offer *mesospb.Offer) *schedulerpb.Call {
	call := &schedulerpb.Call{FrameworkId: fw}
	if offer == nil || r.IntN(3) == 0 {
		// A corpus call, made this framework's.
		for range 5 {
			c := &schedulerpb.Call{}
			b := pick(r, h.schedPool)
			if (codec.Protobuf.Unmarshal(b, c) == nil || codec.JSON.Unmarshal(b, c) == nil) && c.GetType() != schedulerpb.Call_SUBSCRIBE && c.GetType() != schedulerpb.Call_TEARDOWN {
				c.FrameworkId = fw
				sanitizeCall(c)
				return c
			}
		}
		call.Type = schedulerpb.Call_REVIVE.Enum()
		return call
	}
	weird := func(v float64) float64 {
		return v * pick(r, []float64{1, 1, 0.5, 2, 0, -1, math.NaN(), math.Inf(1), 1e300, 1e-300})
	}
	res := func() []*mesospb.Resource {
		var out []*mesospb.Resource
		for _, x := range offer.GetResources() {
			if r.IntN(3) == 0 {
				continue
			}
			x = proto.CloneOf(x)
			if x.Scalar != nil {
				x.Scalar.Value = proto.Float64(weird(x.GetScalar().GetValue() / 4))
			}
			if x.Ranges != nil && len(x.Ranges.Range) > 0 {
				x.Ranges.Range = x.Ranges.Range[:1]
				x.Ranges.Range[0] = &mesospb.Value_Range{Begin: proto.Uint64(x.Ranges.Range[0].GetBegin()), End: proto.Uint64(x.Ranges.Range[0].GetBegin() + uint64(r.IntN(3)))}
			}
			switch r.IntN(6) {
			case 0:
				x.Reservations = append(x.Reservations, &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(pick(r, []string{"web", "*", "", "../x"}))})
			case 1:
				x.Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(pick(r, []string{"v", "..", "../../meta", ""}))},
					Volume: &mesospb.Volume{ContainerPath: proto.String(pick(r, []string{"data", "/etc", "../x"})), Mode: mesospb.Volume_RW.Enum()}}
			case 2:
				x.Name = proto.String(pick(r, []string{"gpus", "", "cpus\x00"}))
			}
			out = append(out, x)
		}
		return out
	}
	id := func() *mesospb.TaskID {
		return &mesospb.TaskID{Value: proto.String(pick(r, []string{"h-" + strings.Repeat("x", r.IntN(3)), "", "..", "a/b", strings.Repeat("y", 300), "steady-1", "t\n"}))}
	}
	task := func() *mesospb.TaskInfo {
		agent := offer.GetAgentId()
		if r.IntN(5) == 0 {
			agent = &mesospb.AgentID{Value: proto.String("not-" + agent.GetValue())}
		}
		t := &mesospb.TaskInfo{Name: proto.String("h"), TaskId: id(), AgentId: agent, Resources: res(),
			Command: &mesospb.CommandInfo{Value: proto.String("true")}}
		if r.IntN(4) == 0 {
			t.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String(pick(r, []string{"e", "..", ""}))},
				Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: res()}
			if r.IntN(2) == 0 {
				t.Command = nil
			}
		}
		return t
	}
	ops := []*mesospb.Offer_Operation{}
	for range 1 + r.IntN(3) {
		switch r.IntN(7) {
		case 0, 1:
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{task(), task()}}})
		case 2:
			g1, g2 := task(), task()
			g1.Command, g1.Executor, g2.Command, g2.Executor = nil, nil, nil, nil
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
				Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String(pick(r, []string{"g", "..", ""}))},
					FrameworkId: fw, Resources: res()},
				TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{g1, g2}}}})
		case 3:
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{Resources: res()}})
		case 4:
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(), Create: &mesospb.Offer_Operation_Create{Volumes: res()}})
		case 5:
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_DESTROY.Enum(), Destroy: &mesospb.Offer_Operation_Destroy{Volumes: res()}})
		default:
			ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_Type(99).Enum()})
		}
	}
	ids := []*mesospb.OfferID{offer.GetId()}
	if r.IntN(4) == 0 {
		ids = append(ids, offer.GetId(), &mesospb.OfferID{Value: proto.String("nope")})
	}
	filters := &mesospb.Filters{RefuseSeconds: proto.Float64(weird(1))}
	switch r.IntN(8) {
	case 0:
		call.Type, call.Decline = schedulerpb.Call_DECLINE.Enum(), &schedulerpb.Call_Decline{OfferIds: ids, Filters: filters}
	case 1:
		call.Type, call.Kill = schedulerpb.Call_KILL.Enum(), &schedulerpb.Call_Kill{TaskId: id(), AgentId: offer.GetAgentId()}
	case 2:
		u := make([]byte, 16)
		for i := range u {
			u[i] = byte(r.Uint32())
		}
		call.Type, call.Acknowledge = schedulerpb.Call_ACKNOWLEDGE.Enum(), &schedulerpb.Call_Acknowledge{TaskId: id(), AgentId: offer.GetAgentId(), Uuid: u}
	case 3:
		call.Type, call.Reconcile = schedulerpb.Call_RECONCILE.Enum(), &schedulerpb.Call_Reconcile{Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: id(), AgentId: offer.GetAgentId()}}}
	case 4:
		call.Type, call.UpdateFramework = schedulerpb.Call_UPDATE_FRAMEWORK.Enum(), &schedulerpb.Call_UpdateFramework{FrameworkInfo: &mesospb.FrameworkInfo{
			Id: fw, User: proto.String("root"), Name: proto.String("renamed"), Roles: []string{pick(r, []string{"web", "*", "a/b", ""})},
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}},
			SuppressedRoles: []string{pick(r, []string{"web", "other"})}}
	default:
		call.Type, call.Accept = schedulerpb.Call_ACCEPT.Enum(), &schedulerpb.Call_Accept{OfferIds: ids, Operations: ops, Filters: filters}
	}
	return call
}

// sanitize keeps a mutated call from running anything but true on the
// agents, fetching anything or tearing the framework down: a call that no
// longer decodes is sent as it is.
func sanitize(b []byte) []byte {
	c := &schedulerpb.Call{}
	if codec.Protobuf.Unmarshal(b, c) != nil {
		return b
	}
	sanitizeCall(c)
	out, err := codec.Protobuf.Marshal(c)
	if err != nil {
		return b
	}
	return out
}

func sanitizeCall(c *schedulerpb.Call) {
	if c.GetType() == schedulerpb.Call_TEARDOWN {
		// The session would end with its first mutated call.
		c.Type = schedulerpb.Call_REVIVE.Enum()
	}
	harmless := func(cmd *mesospb.CommandInfo) *mesospb.CommandInfo {
		if cmd == nil {
			return nil
		}
		return &mesospb.CommandInfo{Value: proto.String("true"), Shell: proto.Bool(true)}
	}
	clean := func(t *mesospb.TaskInfo) {
		t.Command, t.Container, t.HealthCheck, t.Check = harmless(t.Command), nil, nil, nil
		if t.Executor != nil {
			t.Executor.Command, t.Executor.Container = harmless(t.Executor.Command), nil
		}
	}
	for _, op := range c.GetAccept().GetOperations() {
		for _, t := range op.GetLaunch().GetTaskInfos() {
			clean(t)
		}
		for _, t := range op.GetLaunchGroup().GetTaskGroup().GetTasks() {
			clean(t)
		}
		if ex := op.GetLaunchGroup().GetExecutor(); ex != nil {
			ex.Command, ex.Container = harmless(ex.Command), nil
		}
	}
}

package master

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
	"github.com/corral-sched/corral/resources"
)

// These tests drive the master over real HTTP. Agents here are scripted
// stand-ins speaking the agent protocol, so that the master's side of each
// exchange can be checked step by step; the end-to-end tests in test/e2e
// run real agents.

func startMaster(t *testing.T, mutate func(*Config)) *httptest.Server {
	t.Helper()
	srv, _ := startStoppableMaster(t, mutate)
	return srv
}

// startStoppableMaster also returns a function that stops the master (as
// the end of the test does), for tests that run a successor.
func startStoppableMaster(t *testing.T, mutate func(*Config)) (*httptest.Server, func()) {
	t.Helper()
	_, srv, stop := startMasterServer(t, mutate)
	return srv, stop
}

// startMasterServer also returns the master, for tests that reach past
// its HTTP API.
func startMasterServer(t *testing.T, mutate func(*Config)) (*Master, *httptest.Server, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Addr:               ln.Addr().String(),
		HeartbeatInterval:  time.Hour,
		AgentPingTimeout:   time.Hour,
		AllocationInterval: 50 * time.Millisecond,
		Logger:             slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(m.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	stopRun := testkit.RunInBackground(m.Run)
	// Until the registry is recovered the API answers 503.
	for deadline := time.Now().Add(10 * time.Second); !m.recovered.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the master did not recover its registry within 10s")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	stop := sync.OnceFunc(func() {
		stopRun()
		srv.CloseClientConnections()
		srv.Close()
	})
	t.Cleanup(stop)
	return m, srv, stop
}

// eventStream reads one RecordIO stream of protobuf messages.
type eventStream struct {
	t        *testing.T
	resp     *http.Response
	records  chan []byte
	streamID string
}

func openStream(t *testing.T, url, contentType string, body []byte, accept string) *eventStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe: %s: %s", resp.Status, msg)
	}
	s := &eventStream{t: t, resp: resp, records: make(chan []byte, 1000), streamID: resp.Header.Get(streamIDHeader)}
	go func() {
		defer close(s.records)
		r := recordio.NewReader(resp.Body, 64<<20)
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				return
			}
			s.records <- rec
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next record, failing the test after a deadline.
func (s *eventStream) next() ([]byte, bool) {
	s.t.Helper()
	select {
	case rec, ok := <-s.records:
		return rec, ok
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event within 10s")
		return nil, false
	}
}

func (s *eventStream) close() { s.resp.Body.Close() }

type fakeAgent struct {
	t      *testing.T
	base   string
	id     string
	stream *eventStream
}

func registerAgent(t *testing.T, base, res string) *fakeAgent {
	t.Helper()
	a := registerAgentWith(t, base, res, nil)
	ev := a.next(agentpb.Event_SUBSCRIBED)
	a.id = ev.GetSubscribed().GetAgentId().GetValue()
	return a
}

// registerAgentWith opens an agent's subscription; mutate may change the
// SUBSCRIBE call. The caller reads the first event.
func registerAgentWith(t *testing.T, base, res string, mutate func(*agentpb.Call_Subscribe)) *fakeAgent {
	t.Helper()
	rs, err := resources.Parse(res, "*")
	if err != nil {
		t.Fatal(err)
	}
	call := &agentpb.Call{
		Type: agentpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &agentpb.Call_Subscribe{AgentInfo: &mesospb.AgentInfo{
			Hostname: proto.String("host-" + res[:4]), Port: proto.Int32(5051), Resources: rs,
		}},
	}
	if mutate != nil {
		mutate(call.Subscribe)
	}
	body, _ := proto.Marshal(call)
	a := &fakeAgent{t: t, base: base}
	a.stream = openStream(t, base+"/api/v1/agent", codec.Protobuf.MediaType(), body, codec.Protobuf.MediaType())
	return a
}

// next returns the next event of type want, skipping pings.
func (a *fakeAgent) next(want agentpb.Event_Type) *agentpb.Event {
	a.t.Helper()
	for {
		rec, ok := a.stream.next()
		if !ok {
			a.t.Fatalf("agent stream ended waiting for %v", want)
		}
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			a.t.Fatal(err)
		}
		if ev.GetType() == agentpb.Event_PING {
			continue
		}
		if ev.GetType() != want {
			a.t.Fatalf("agent got %v, want %v", ev.GetType(), want)
		}
		return ev
	}
}

func (a *fakeAgent) update(fw string, st *mesospb.TaskStatus) {
	a.t.Helper()
	st.Uuid = uuid.New().Bytes()
	call := &agentpb.Call{
		Type:    agentpb.Call_UPDATE.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
		Update:  &agentpb.Call_Update{FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw)}, Status: st},
	}
	post(a.t, a.base+"/api/v1/agent", codec.Protobuf, a.stream.streamID, call, http.StatusAccepted)
}

type fakeScheduler struct {
	t      *testing.T
	base   string
	c      codec.Codec
	id     string
	stream *eventStream
}

func subscribe(t *testing.T, base string, c codec.Codec, info *mesospb.FrameworkInfo) *fakeScheduler {
	t.Helper()
	call := &schedulerpb.Call{
		Type:        schedulerpb.Call_SUBSCRIBE.Enum(),
		FrameworkId: info.GetId(),
		Subscribe:   &schedulerpb.Call_Subscribe{FrameworkInfo: info},
	}
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeScheduler{t: t, base: base, c: c}
	s.stream = openStream(t, base+"/api/v1/scheduler", c.MediaType(), body, c.MediaType())
	if got := s.stream.resp.Header.Get("Content-Type"); got != c.MediaType() {
		t.Fatalf("stream Content-Type = %q, want %q", got, c.MediaType())
	}
	ev := s.next(schedulerpb.Event_SUBSCRIBED)
	s.id = ev.GetSubscribed().GetFrameworkId().GetValue()
	if s.id == "" {
		t.Fatal("SUBSCRIBED without a framework ID")
	}
	return s
}

// next returns the next event of type want, skipping heartbeats, and
// offers and rescinds when something else is wanted.
func (s *fakeScheduler) next(want schedulerpb.Event_Type) *schedulerpb.Event {
	s.t.Helper()
	for {
		rec, ok := s.stream.next()
		if !ok {
			s.t.Fatalf("scheduler stream ended waiting for %v", want)
		}
		ev := &schedulerpb.Event{}
		if err := s.c.Unmarshal(rec, ev); err != nil {
			s.t.Fatal(err)
		}
		offerish := ev.GetType() == schedulerpb.Event_OFFERS || ev.GetType() == schedulerpb.Event_RESCIND
		if ev.GetType() == schedulerpb.Event_HEARTBEAT || (offerish && ev.GetType() != want) {
			continue
		}
		if ev.GetType() != want {
			s.t.Fatalf("scheduler got %v (%v), want %v", ev.GetType(), ev, want)
		}
		return ev
	}
}

func (s *fakeScheduler) call(c *schedulerpb.Call, wantStatus int) string {
	s.t.Helper()
	c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(s.id)}
	return post(s.t, s.base+"/api/v1/scheduler", s.c, s.stream.streamID, c, wantStatus)
}

func post(t *testing.T, url string, c codec.Codec, streamID string, msg proto.Message, wantStatus int) string {
	t.Helper()
	body, err := c.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", c.MediaType())
	if streamID != "" {
		req.Header.Set(streamIDHeader, streamID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("POST %s: %s (%s), want %d", url, resp.Status, strings.TrimSpace(string(text)), wantStatus)
	}
	return string(text)
}

func commandTask(id string, o *mesospb.Offer, res string) *mesospb.TaskInfo {
	rs, err := resources.Parse(res, "*")
	if err != nil {
		panic(err)
	}
	return &mesospb.TaskInfo{
		Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
		AgentId: o.GetAgentId(), Resources: rs,
		Command: &mesospb.CommandInfo{Value: proto.String("true")},
	}
}

func launchCall(o *mesospb.Offer, tasks ...*mesospb.TaskInfo) *schedulerpb.Call {
	return launchCallRefusing(o, 0, tasks...)
}

func launchCallRefusing(o *mesospb.Offer, refuse float64, tasks ...*mesospb.TaskInfo) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.GetId()},
			Operations: []*mesospb.Offer_Operation{{
				Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
			}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(refuse)},
		},
	}
}

func TestOfferLaunchUpdateAcknowledge(t *testing.T) {
	for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
		t.Run(c.MediaType(), func(t *testing.T) {
			srv := startMaster(t, nil)
			agent := registerAgent(t, srv.URL, "cpus:2;mem:1024")
			fw := subscribe(t, srv.URL, c, fwInfo(nil))

			offers := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()
			if len(offers) != 1 {
				t.Fatalf("got %d offers, want 1", len(offers))
			}
			o := offers[0]
			if o.GetAgentId().GetValue() != agent.id || resources.Resources(o.GetResources()).ScalarValue("cpus") != 2 {
				t.Fatalf("unexpected offer %v", o)
			}
			for _, r := range o.GetResources() {
				if r.AllocationInfo != nil || r.GetRole() != "*" {
					t.Fatalf("a framework without MULTI_ROLE got resource %v", r)
				}
			}
			// Refusing what is left for a while means the next offer comes
			// when the task's resources are back, and holds the whole agent.
			fw.call(launchCallRefusing(o, 60, commandTask("t1", o, "cpus:1;mem:128")), http.StatusAccepted)

			launch := agent.next(agentpb.Event_LAUNCH).GetLaunch()
			if launch.GetTask().GetTaskId().GetValue() != "t1" || launch.GetFrameworkInfo().GetId().GetValue() != fw.id {
				t.Fatalf("unexpected launch %v", launch)
			}
			if got := launch.GetTask().GetResources()[0].GetAllocationInfo().GetRole(); got != "*" {
				t.Fatalf("launched resources carry role %q, want \"*\"", got)
			}
			st := &mesospb.TaskStatus{TaskId: launch.GetTask().GetTaskId(), State: mesospb.TaskState_TASK_FINISHED.Enum()}
			agent.update(fw.id, st)

			upd := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
			if upd.GetState() != mesospb.TaskState_TASK_FINISHED || !bytes.Equal(upd.GetUuid(), st.GetUuid()) {
				t.Fatalf("unexpected update %v", upd)
			}
			fw.call(&schedulerpb.Call{
				Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
				Acknowledge: &schedulerpb.Call_Acknowledge{
					AgentId: upd.GetAgentId(), TaskId: upd.GetTaskId(), Uuid: upd.GetUuid(),
				},
			}, http.StatusAccepted)
			ack := agent.next(agentpb.Event_ACKNOWLEDGE).GetAcknowledge()
			if !bytes.Equal(ack.GetUuid(), st.GetUuid()) || ack.GetFrameworkId().GetValue() != fw.id {
				t.Fatalf("unexpected ack %v", ack)
			}
			// The task's resources are back: the whole agent is offered again.
			again := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()
			total := resources.Resources(nil)
			for _, o := range again {
				total = total.Add(resources.Resources(o.GetResources()))
			}
			if total.ScalarValue("cpus") != 2 || total.ScalarValue("mem") != 1024 {
				t.Fatalf("after the task finished, offers hold %s, want the whole agent", total)
			}
		})
	}
}

func TestInvalidAcceptsAnswerWithTaskUpdates(t *testing.T) {
	srv := startMaster(t, nil)
	registerAgent(t, srv.URL, "cpus:2;mem:1024")
	partitionAware := fwInfo(func(i *mesospb.FrameworkInfo) {
		i.Capabilities = []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}
	})
	fw := subscribe(t, srv.URL, codec.Protobuf, partitionAware)
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]

	tests := []struct {
		name   string
		task   func(o *mesospb.Offer) *mesospb.TaskInfo
		state  mesospb.TaskState
		reason mesospb.TaskStatus_Reason
	}{
		{"too big", func(o *mesospb.Offer) *mesospb.TaskInfo { return commandTask("big", o, "cpus:3;mem:128") },
			mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID},
		{"no command", func(o *mesospb.Offer) *mesospb.TaskInfo {
			ti := commandTask("nocmd", o, "cpus:1")
			ti.Command = nil
			return ti
		}, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID},
		{"negative cpus", func(o *mesospb.Offer) *mesospb.TaskInfo {
			ti := commandTask("neg", o, "cpus:1")
			ti.Resources[0].Scalar.Value = proto.Float64(-1)
			return ti
		}, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID},
		{"wrong agent", func(o *mesospb.Offer) *mesospb.TaskInfo {
			ti := commandTask("elsewhere", o, "cpus:1")
			ti.AgentId = &mesospb.AgentID{Value: proto.String("other")}
			return ti
		}, mesospb.TaskState_TASK_ERROR, mesospb.TaskStatus_REASON_TASK_INVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each invalid launch consumes the offer and the master offers
			// the agent again (refuse_seconds is 0).
			fw.call(launchCall(o, tt.task(o)), http.StatusAccepted)
			upd := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
			if upd.GetState() != tt.state || upd.GetReason() != tt.reason || upd.GetSource() != mesospb.TaskStatus_SOURCE_MASTER || len(upd.GetUuid()) != 0 {
				t.Fatalf("update = %v, want state %v reason %v from the master without uuid", upd, tt.state, tt.reason)
			}
			o = fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		})
	}
	t.Run("used offer", func(t *testing.T) {
		fw.call(launchCall(o, commandTask("ok", o, "cpus:1")), http.StatusAccepted)
		fw.call(launchCall(o, commandTask("again", o, "cpus:1")), http.StatusAccepted)
		upd := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		if upd.GetTaskId().GetValue() != "again" || upd.GetState() != mesospb.TaskState_TASK_DROPPED ||
			upd.GetReason() != mesospb.TaskStatus_REASON_INVALID_OFFERS {
			t.Fatalf("reusing an offer gave %v, want TASK_DROPPED with REASON_INVALID_OFFERS", upd)
		}
	})
}

func TestCallChecks(t *testing.T) {
	srv := startMaster(t, nil)
	fw := subscribe(t, srv.URL, codec.JSON, fwInfo(nil))
	revive := &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw.id)}}
	unknown := &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("nope")}}

	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, fw.stream.streamID, unknown, http.StatusBadRequest)
	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, "", revive, http.StatusBadRequest)
	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, "stale", revive, http.StatusBadRequest)
	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, fw.stream.streamID, revive, http.StatusAccepted)

	// A second subscription with the same ID fails the first over.
	info := fwInfo(func(i *mesospb.FrameworkInfo) {
		i.Id = &mesospb.FrameworkID{Value: proto.String(fw.id)}
		i.FailoverTimeout = proto.Float64(60)
	})
	fw2 := subscribe(t, srv.URL, codec.JSON, info)
	if fw2.id != fw.id {
		t.Fatalf("re-subscription got framework ID %q, want %q", fw2.id, fw.id)
	}
	if msg := fw.next(schedulerpb.Event_ERROR).GetError().GetMessage(); !strings.Contains(msg, "failed over") {
		t.Fatalf("old stream got ERROR %q", msg)
	}
	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, fw.stream.streamID, revive, http.StatusBadRequest)
	post(t, srv.URL+"/api/v1/scheduler", codec.JSON, fw2.stream.streamID, revive, http.StatusAccepted)

	// After the stream closes the framework is disconnected: 403.
	fw2.stream.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, _ := codec.JSON.Marshal(revive)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/scheduler", bytes.NewReader(body))
		req.Header.Set("Content-Type", codec.JSON.MediaType())
		req.Header.Set(streamIDHeader, fw2.stream.streamID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls after disconnect still answered %s, want 403", resp.Status)
		}
		time.Sleep(10 * time.Millisecond) // polling for the disconnect to be noticed
	}
}

func TestSubscribeRefusesBadFrameworkInfoOnTheStream(t *testing.T) {
	srv := startMaster(t, nil)
	call := &schedulerpb.Call{
		Type:      schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(func(i *mesospb.FrameworkInfo) { i.Roles = []string{"a"} })},
	}
	body, _ := proto.Marshal(call)
	s := openStream(t, srv.URL+"/api/v1/scheduler", codec.Protobuf.MediaType(), body, codec.Protobuf.MediaType())
	rec, ok := s.next()
	if !ok {
		t.Fatal("stream closed without an event")
	}
	ev := &schedulerpb.Event{}
	if err := proto.Unmarshal(rec, ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetType() != schedulerpb.Event_ERROR || !strings.Contains(ev.GetError().GetMessage(), "MULTI_ROLE") {
		t.Fatalf("first event = %v, want ERROR about MULTI_ROLE", ev)
	}
	if _, ok := s.next(); ok {
		t.Fatal("stream stayed open after ERROR")
	}
}

func TestHTTPLevelErrors(t *testing.T) {
	srv := startMaster(t, nil)
	tests := []struct {
		name, method, ct string
		body             string
		want             int
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{"no content type", http.MethodPost, "", "{}", http.StatusBadRequest},
		{"text/plain", http.MethodPost, "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"bad json", http.MethodPost, "application/json", "{not json", http.StatusBadRequest},
		{"bad protobuf", http.MethodPost, "application/x-protobuf", "\xff\xff\xff", http.StatusBadRequest},
		{"no type", http.MethodPost, "application/json", "{}", http.StatusBadRequest},
		{"unknown type", http.MethodPost, "application/json", `{"type":"UNKNOWN"}`, http.StatusNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+"/api/v1/scheduler", strings.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("got %s (%s), want %d", resp.Status, text, tt.want)
			}
			if len(bytes.TrimSpace(text)) == 0 {
				t.Fatal("error answer has no message")
			}
		})
	}
}

func TestAgentSilenceMakesTasksLost(t *testing.T) {
	srv := startMaster(t, func(c *Config) {
		c.AgentPingTimeout, c.MaxAgentPingTimeouts = 20*time.Millisecond, 15
	})
	agent := registerAgent(t, srv.URL, "cpus:1;mem:256")
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(launchCall(o, commandTask("t1", o, "cpus:1")), http.StatusAccepted)
	agent.next(agentpb.Event_LAUNCH)
	agent.stream.close() // the agent goes silent: no pongs, no stream
	upd := fw.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if upd.GetState() != mesospb.TaskState_TASK_LOST || upd.GetTaskId().GetValue() != "t1" {
		t.Fatalf("update = %v, want TASK_LOST for t1", upd)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	srv := startMaster(t, nil)
	registerAgent(t, srv.URL, "cpus:3;mem:512")
	for path, want := range map[string]string{
		"/health":  `"healthy":true`,
		"/metrics": `corral_master_resources{kind="total",resource="cpus"} 3`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %s, body lacks %q:\n%s", path, resp.Status, want, body)
		}
	}
}

// A master that leads again under the same ID must not reissue the IDs of
// its earlier term.
func TestIDsAreUniqueAcrossTermsOfOneMaster(t *testing.T) {
	seen := make(map[string]bool)
	for range 2 {
		srv := startMaster(t, func(c *Config) { c.ID = "same-master" })
		a := registerAgent(t, srv.URL, "cpus:1;mem:64")
		fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
		for _, id := range []string{a.id, fw.id} {
			if seen[id] {
				t.Fatalf("ID %s was handed out twice", id)
			}
			seen[id] = true
		}
	}
}

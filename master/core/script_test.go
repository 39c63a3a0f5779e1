package core

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/internal/testkit/golden"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// TestScripts steps the core from the scripts in testdata/*.script, with
// no transport, no goroutine and a clock of its own, and compares what it
// did (events on every stream, registry writes, refusals) with the
// .golden files next to them (go test -update rewrites those). Names in
// scripts stand for the IDs the core hands out.
//
//	agent A RESOURCES              an agent subscribes (--resources syntax)
//	framework F [role=R] [failover=SECONDS] [principal=P]
//	                               a framework subscribes
//	settle                         admissions and the allocation round the calls asked for
//	launch F A TASK RESOURCES      F accepts its offers on A, launching TASK
//	decline F A [SECONDS]          F declines its offers on A
//	update A TASK STATE            A reports TASK's new state
//	updates A TASK STATE TASK STATE...  A reports several in one call
//	ack F TASK                     F acknowledges TASK's latest update
//	kill F TASK / reconcile F / teardown F / suppress F / revive F
//	close A|F                      the subscriber's stream ends
//	resubscribe F                  F subscribes again under its ID (new stream)
//	reregister A                   A subscribes again under its ID, with its tasks
//	advance DURATION               the clock moves on, one allocation interval at a
//	                               time: timers due fire, agents answer pings, ticks run
//	tick                           one periodic tick (silent agents, full round)
//	silence A                      A stops answering pings (its stream stays open)
//	restart                        the master fails over: a new core on the same registry
func TestScripts(t *testing.T) {
	golden.Scripts(t, "testdata/*.script", runScript)
}

var scriptEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is what a script drives: a core, its clock and timers, the
// subscribers' streams, and the names that stand for IDs.
type world struct {
	t      *testing.T
	core   *Core
	store  *recordingStore
	posted testPost
	now    time.Time
	timers []*fakeTimer

	frameworks map[string]*scriptFramework
	agents     map[string]*scriptAgent
	streams    []*namedStream // in subscription order: the order output is printed in
	names      map[string]string
	offers     int
}

type namedStream struct {
	name string
	rec  *recorder
}

type scriptFramework struct {
	name   string
	id     string
	info   *mesospb.FrameworkInfo
	conn   *SchedulerConn
	stream string
	offers map[string]*mesospb.Offer      // outstanding, by ID
	latest map[string]*mesospb.TaskStatus // by task, the newest update
}

type scriptAgent struct {
	name   string
	id     string
	info   *mesospb.AgentInfo
	conn   *AgentConn
	stream string
	tasks  map[string]*mesospb.Task // what it runs, by task ID
	fws    map[string]*mesospb.FrameworkInfo
	seq    int
	// closed: its stream ended; silent: it stopped answering pings.
	closed, silent bool
}

type fakeTimer struct {
	due     time.Time
	fn      func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

func runScript(t *testing.T, path string) string {
	local, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	w := &world{t: t, now: scriptEpoch, frameworks: make(map[string]*scriptFramework),
		agents: make(map[string]*scriptAgent), names: make(map[string]string)}
	w.store = &recordingStore{Local: local, w: w}
	w.start()
	return golden.Script(t, path, func(args []string, out *strings.Builder) error {
		err := w.do(args, out)
		w.print(out)
		return err
	})
}

// start makes a core on the world's registry and starts it, as a newly
// elected master does.
func (w *world) start() {
	c, err := New(Config{
		Addr: "127.0.0.1:5050", ID: "master", Store: w.store, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return w.now },
		AfterFunc: func(d time.Duration, fn func()) Timer {
			ft := &fakeTimer{due: w.now.Add(d), fn: fn}
			w.timers = append(w.timers, ft)
			return ft
		},
	}, Options{Post: w.posted.post})
	if err != nil {
		w.t.Fatal(err)
	}
	w.core = c
	if err := c.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// settle runs what timers and streams posted, then what a transport's loop
// runs after a batch of calls.
func (w *world) settle() {
	w.posted.run()
	w.core.Settle()
}

func (w *world) framework(name string) (*scriptFramework, error) {
	if f := w.frameworks[name]; f != nil {
		return f, nil
	}
	return nil, fmt.Errorf("no framework %q", name)
}

func (w *world) agent(name string) (*scriptAgent, error) {
	if a := w.agents[name]; a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("no agent %q", name)
}

func (w *world) stream(name string) *recorder {
	rec := newRecorder()
	w.streams = append(w.streams, &namedStream{name: name, rec: rec})
	return rec
}

func (w *world) do(args []string, out *strings.Builder) error {
	report := func(r Result) {
		if r.Failed() {
			fmt.Fprintf(out, "refused (%v): %s\n", r.Code, w.named(r.Msg))
		}
	}
	switch cmd := args[0]; {
	case cmd == "agent" && len(args) == 3:
		return w.addAgent(args[1], args[2])
	case cmd == "framework" && len(args) >= 2:
		return w.addFramework(args[1], args[2:], report)
	case cmd == "resubscribe" && len(args) == 2:
		f, err := w.framework(args[1])
		if err != nil {
			return err
		}
		return w.subscribe(f, report)
	case cmd == "reregister" && len(args) == 2:
		a, err := w.agent(args[1])
		if err != nil {
			return err
		}
		w.subscribeAgent(a)
	case cmd == "settle" && len(args) == 1:
		w.settle()
	case cmd == "launch" && len(args) == 5:
		return w.launch(args[1], args[2], args[3], args[4], report)
	case cmd == "decline" && (len(args) == 3 || len(args) == 4):
		return w.decline(args[1:], report)
	case cmd == "update" && len(args) == 4:
		return w.update(args[1], args[2:], report)
	case cmd == "updates" && len(args) >= 4 && len(args)%2 == 0:
		return w.update(args[1], args[2:], report)
	case cmd == "ack" && len(args) == 3:
		f, err := w.framework(args[1])
		if err != nil {
			return err
		}
		st := f.latest[args[2]]
		if st == nil {
			return fmt.Errorf("framework %s has no update of task %s", args[1], args[2])
		}
		report(w.call(f, &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid()}}))
		w.settle()
	case cmd == "kill" && len(args) == 3:
		f, err := w.framework(args[1])
		if err != nil {
			return err
		}
		report(w.call(f, &schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: &schedulerpb.Call_Kill{
			TaskId: &mesospb.TaskID{Value: proto.String(args[2])}}}))
		w.settle()
	case (cmd == "reconcile" || cmd == "teardown" || cmd == "suppress" || cmd == "revive") && len(args) == 2:
		f, err := w.framework(args[1])
		if err != nil {
			return err
		}
		typ := map[string]schedulerpb.Call_Type{"reconcile": schedulerpb.Call_RECONCILE, "teardown": schedulerpb.Call_TEARDOWN,
			"suppress": schedulerpb.Call_SUPPRESS, "revive": schedulerpb.Call_REVIVE}[cmd]
		call := &schedulerpb.Call{Type: typ.Enum()}
		if cmd == "reconcile" {
			call.Reconcile = &schedulerpb.Call_Reconcile{}
		}
		report(w.call(f, call))
		w.settle()
	case cmd == "close" && len(args) == 2:
		if f := w.frameworks[args[1]]; f != nil {
			w.core.SchedulerDisconnected(f.id, f.conn, "the test closed the stream")
		} else if a := w.agents[args[1]]; a != nil {
			a.closed = true
			w.core.AgentDisconnected(a.id, a.conn, "the test closed the stream")
		} else {
			return fmt.Errorf("no subscriber %q", args[1])
		}
		w.settle()
	case cmd == "silence" && len(args) == 2:
		a, err := w.agent(args[1])
		if err != nil {
			return err
		}
		a.silent = true
	case cmd == "advance" && len(args) == 2:
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return err
		}
		w.advance(d)
	case cmd == "tick" && len(args) == 1:
		w.core.Tick()
		w.settle()
	case cmd == "restart" && len(args) == 1:
		w.core.Shutdown()
		w.print(out)
		w.timers = nil
		w.posted = testPost{}
		w.start()
	default:
		return fmt.Errorf("unknown command or wrong arguments: %q", strings.Join(args, " "))
	}
	return nil
}

func (w *world) addAgent(name, res string) error {
	if w.agents[name] != nil {
		return fmt.Errorf("agent %s exists", name)
	}
	parsed, err := resources.Parse(res, "*")
	if err != nil {
		return err
	}
	a := &scriptAgent{name: name, tasks: make(map[string]*mesospb.Task), fws: make(map[string]*mesospb.FrameworkInfo),
		info: &mesospb.AgentInfo{Hostname: proto.String(name), Port: proto.Int32(5051), Resources: parsed}}
	w.agents[name] = a
	w.subscribeAgent(a)
	return nil
}

func (w *world) subscribeAgent(a *scriptAgent) {
	a.seq++
	a.closed, a.silent = false, false
	a.stream = fmt.Sprintf("%s#%d", a.name, a.seq)
	a.conn = NewAgentConn(a.stream, w.stream(a.name), "127.0.0.1", "", a.name)
	sub := &agentpb.Call_Subscribe{AgentInfo: proto.CloneOf(a.info), BootId: proto.String(a.name)}
	if a.id != "" {
		sub.AgentInfo.Id = &mesospb.AgentID{Value: proto.String(a.id)}
	}
	for _, id := range slices.Sorted(mapsKeys(a.tasks)) {
		sub.Tasks = append(sub.Tasks, a.tasks[id])
	}
	for _, id := range slices.Sorted(mapsKeys(a.fws)) {
		sub.Frameworks = append(sub.Frameworks, a.fws[id])
	}
	adm := w.core.SubscribeAgent(sub, a.conn)
	switch {
	case adm.Takeover != "":
		w.store.log = append(w.store.log, "takeover refused: "+adm.Takeover)
	case adm.Gone:
		w.store.log = append(w.store.log, a.name+" is gone")
	}
	w.settle()
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (w *world) addFramework(name string, opts []string, report func(Result)) error {
	if w.frameworks[name] != nil {
		return fmt.Errorf("framework %s exists", name)
	}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name), Roles: []string{"*"},
		Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}}
	for _, opt := range opts {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "role":
			info.Roles = []string{v}
		case "failover":
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return err
			}
			info.FailoverTimeout = proto.Float64(secs)
		case "principal":
			info.Principal = proto.String(v)
		default:
			return fmt.Errorf("unknown framework option %q", opt)
		}
	}
	f := &scriptFramework{name: name, info: info, latest: make(map[string]*mesospb.TaskStatus)}
	w.frameworks[name] = f
	return w.subscribe(f, report)
}

func (w *world) subscribe(f *scriptFramework, report func(Result)) error {
	f.offers = make(map[string]*mesospb.Offer)
	f.stream = fmt.Sprintf("%s#%d", f.name, len(w.streams))
	f.conn = NewSchedulerConn(f.stream, w.stream(f.name))
	info := proto.CloneOf(f.info)
	if f.id != "" {
		info.Id = &mesospb.FrameworkID{Value: proto.String(f.id)}
	}
	call := &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: info.Id,
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}}
	if msg := ValidateCall(call); msg != "" {
		return fmt.Errorf("the script's SUBSCRIBE is invalid: %s", msg)
	}
	id, rep := w.core.Subscribe(call, f.conn)
	report(rep)
	if id != "" {
		f.id = id
		w.names[id] = f.name
	}
	w.settle()
	return nil
}

// call makes a scheduler call of f on its current stream.
func (w *world) call(f *scriptFramework, call *schedulerpb.Call) Result {
	call.FrameworkId = &mesospb.FrameworkID{Value: proto.String(f.id)}
	if msg := ValidateCall(call); msg != "" {
		return Result{Code: BadRequest, Msg: msg}
	}
	return w.core.SchedulerCall(call, f.stream)
}

// offersOn are f's outstanding offers on agent a.
func (w *world) offersOn(f *scriptFramework, a *scriptAgent) []*mesospb.OfferID {
	var ids []*mesospb.OfferID
	for _, o := range f.offers {
		if o.GetAgentId().GetValue() == a.id {
			ids = append(ids, o.GetId())
		}
	}
	slices.SortFunc(ids, func(x, y *mesospb.OfferID) int { return cmp.Compare(x.GetValue(), y.GetValue()) })
	return ids
}

func (w *world) launch(fw, agent, task, res string, report func(Result)) error {
	f, err := w.framework(fw)
	if err != nil {
		return err
	}
	a, err := w.agent(agent)
	if err != nil {
		return err
	}
	ids := w.offersOn(f, a)
	if len(ids) == 0 {
		return fmt.Errorf("framework %s holds no offer on %s", fw, agent)
	}
	parsed, err := resources.Parse(res, "*")
	if err != nil {
		return err
	}
	for _, r := range parsed {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(f.info.GetRoles()[0])}
	}
	ti := &mesospb.TaskInfo{Name: proto.String(task), TaskId: &mesospb.TaskID{Value: proto.String(task)},
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)}, Resources: parsed,
		Command: &mesospb.CommandInfo{Value: proto.String("sleep 1000")}}
	for _, id := range ids {
		delete(f.offers, id.GetValue())
	}
	report(w.call(f, &schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
		OfferIds: ids,
		Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
			Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{ti}}}},
	}}))
	w.settle()
	return nil
}

func (w *world) decline(args []string, report func(Result)) error {
	f, err := w.framework(args[0])
	if err != nil {
		return err
	}
	a, err := w.agent(args[1])
	if err != nil {
		return err
	}
	ids := w.offersOn(f, a)
	if len(ids) == 0 {
		return fmt.Errorf("framework %s holds no offer on %s", args[0], args[1])
	}
	call := &schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{OfferIds: ids}}
	if len(args) == 3 {
		secs, err := strconv.ParseFloat(args[2], 64)
		if err != nil {
			return err
		}
		call.Decline.Filters = &mesospb.Filters{RefuseSeconds: proto.Float64(secs)}
	}
	for _, id := range ids {
		delete(f.offers, id.GetValue())
	}
	report(w.call(f, call))
	w.settle()
	return nil
}

func (w *world) update(agent string, taskStates []string, report func(Result)) error {
	a, err := w.agent(agent)
	if err != nil {
		return err
	}
	call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: &mesospb.AgentID{Value: proto.String(a.id)}}
	for i := 0; i < len(taskStates); i += 2 {
		task, state := taskStates[i], taskStates[i+1]
		t := a.tasks[task]
		if t == nil {
			return fmt.Errorf("agent %s runs no task %s", agent, task)
		}
		v, ok := mesospb.TaskState_value[state]
		if !ok {
			return fmt.Errorf("no task state %q", state)
		}
		a.seq++
		st := &mesospb.TaskStatus{TaskId: t.GetTaskId(), State: mesospb.TaskState(v).Enum(), AgentId: t.GetAgentId(),
			Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: scriptUUID(fmt.Sprintf("%s.%d", task, a.seq)),
			Timestamp: proto.Float64(float64(w.now.Unix()))}
		t.State, t.Statuses = st.State, []*mesospb.TaskStatus{st}
		u := &agentpb.Call_Update{FrameworkId: t.GetFrameworkId(), Status: st, LatestState: st.State}
		if len(taskStates) == 2 {
			call.Update = u // one update, as every agent sends it
		} else {
			call.Updates = append(call.Updates, u)
		}
	}
	report(w.core.AgentCall(call, a.conn.streamID))
	w.settle()
	return nil
}

// scriptUUID is a status update UUID that reads as text: 16 bytes.
func scriptUUID(text string) []byte {
	b := []byte(text + strings.Repeat("_", 16))
	return b[:16]
}

// advance moves the clock one allocation interval at a time, as a
// master's ticker would: timers due fire, agents whose streams are open
// (and not silenced) answer their pings, and the tick runs.
func (w *world) advance(d time.Duration) {
	step := w.core.cfg.AllocationInterval
	for end := w.now.Add(d); w.now.Before(end); {
		w.now = w.now.Add(min(step, end.Sub(w.now)))
		slices.SortStableFunc(w.timers, func(x, y *fakeTimer) int { return x.due.Compare(y.due) })
		var keep []*fakeTimer
		for _, ft := range w.timers {
			switch {
			case ft.stopped:
			case !ft.due.After(w.now):
				ft.stopped = true
				ft.fn()
			default:
				keep = append(keep, ft)
			}
		}
		w.timers = keep
		w.posted.run()
		for _, name := range slices.Sorted(mapsKeys(w.agents)) {
			// As the transport does: off the loop when the stream is the
			// agent's subscription, else through AgentCall.
			if a := w.agents[name]; a.id != "" && !a.closed && !a.silent && !w.core.Pong(a.conn) {
				w.core.AgentCall(&agentpb.Call{Type: agentpb.Call_PONG.Enum(), AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
					Pong: &agentpb.Call_Pong{}}, a.conn.streamID)
			}
		}
		w.core.Tick()
		w.settle()
	}
}

// print writes what happened since the last print: registry writes, then
// every stream's events in subscription order. Events are read first: they
// give the names of the IDs the registry writes mention.
func (w *world) print(out *strings.Builder) {
	var lines []string
	for _, ns := range w.streams {
		events, closed := ns.rec.take()
		for _, ev := range events {
			if line := w.event(ns.name, ev); line != "" {
				lines = append(lines, ns.name+" <- "+line)
			}
		}
		if closed && ns.rec.reason != "" {
			lines = append(lines, ns.name+" closed: "+ns.rec.reason)
			ns.rec.reason = "" // said once
		}
	}
	for _, l := range append(w.store.log, lines...) {
		fmt.Fprintf(out, "%s\n", w.named(l))
	}
	w.store.log = nil
}

// named replaces the IDs the core handed out with the script's names.
func (w *world) named(s string) string {
	ids := slices.SortedFunc(mapsKeys(w.names), func(x, y string) int { return cmp.Compare(len(y), len(x)) })
	var pairs []string
	for _, id := range ids {
		pairs = append(pairs, id, w.names[id])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// event formats ev for the golden file and follows what it tells the
// subscriber (IDs, offers, launches, updates). Heartbeats and pings are
// left out.
func (w *world) event(stream string, ev proto.Message) string {
	switch ev := ev.(type) {
	case *schedulerpb.Event:
		return w.schedulerEvent(w.frameworks[stream], ev)
	case *agentpb.Event:
		return w.agentEvent(w.agents[stream], ev)
	}
	return fmt.Sprintf("%T", ev)
}

func (w *world) schedulerEvent(f *scriptFramework, ev *schedulerpb.Event) string {
	switch ev.GetType() {
	case schedulerpb.Event_HEARTBEAT:
		return ""
	case schedulerpb.Event_OFFERS:
		// The core offers agents in an order of its own (shuffled); the
		// golden files list them by agent name.
		offers := slices.Clone(ev.GetOffers().GetOffers())
		slices.SortFunc(offers, func(x, y *mesospb.Offer) int {
			return cmp.Compare(w.named(x.GetAgentId().GetValue()), w.named(y.GetAgentId().GetValue()))
		})
		var lines []string
		for _, o := range offers {
			w.offers++
			w.names[o.GetId().GetValue()] = fmt.Sprintf("o%d", w.offers)
			f.offers[o.GetId().GetValue()] = o
			lines = append(lines, fmt.Sprintf("OFFER %s on %s: %s", o.GetId().GetValue(), o.GetAgentId().GetValue(),
				resources.Format(o.GetResources())))
		}
		return strings.Join(lines, "\n"+f.name+" <- ")
	case schedulerpb.Event_RESCIND:
		delete(f.offers, ev.GetRescind().GetOfferId().GetValue())
		return "RESCIND " + ev.GetRescind().GetOfferId().GetValue()
	case schedulerpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		f.latest[st.GetTaskId().GetValue()] = st
		line := fmt.Sprintf("UPDATE %s %v %v", st.GetTaskId().GetValue(), st.GetState(), st.GetSource())
		if st.Reason != nil {
			line += " " + st.GetReason().String()
		}
		if st.GetSource() == mesospb.TaskStatus_SOURCE_MASTER && st.GetMessage() != "" {
			line += fmt.Sprintf(" %q", st.GetMessage())
		}
		if len(st.GetUuid()) == 0 {
			line += " (no ack)"
		}
		return line
	case schedulerpb.Event_ERROR:
		return fmt.Sprintf("ERROR %q", ev.GetError().GetMessage())
	case schedulerpb.Event_FAILURE:
		return "FAILURE " + ev.GetFailure().GetAgentId().GetValue()
	}
	return ev.GetType().String()
}

func (w *world) agentEvent(a *scriptAgent, ev *agentpb.Event) string {
	switch ev.GetType() {
	case agentpb.Event_PING:
		return ""
	case agentpb.Event_SUBSCRIBED:
		a.id = ev.GetSubscribed().GetAgentId().GetValue()
		w.names[a.id] = a.name
		return "SUBSCRIBED"
	case agentpb.Event_LAUNCH:
		l := ev.GetLaunch()
		ti := l.GetTask()
		a.fws[l.GetFrameworkInfo().GetId().GetValue()] = l.GetFrameworkInfo()
		a.tasks[ti.GetTaskId().GetValue()] = &mesospb.Task{Name: ti.Name, TaskId: ti.TaskId, FrameworkId: l.GetFrameworkInfo().GetId(),
			AgentId: ti.AgentId, Resources: ti.Resources, State: mesospb.TaskState_TASK_STAGING.Enum()}
		return fmt.Sprintf("LAUNCH %s/%s %s", l.GetFrameworkInfo().GetId().GetValue(), ti.GetTaskId().GetValue(), resources.Format(ti.GetResources()))
	case agentpb.Event_KILL:
		return fmt.Sprintf("KILL %s/%s", ev.GetKill().GetFrameworkId().GetValue(), ev.GetKill().GetTaskId().GetValue())
	case agentpb.Event_ACKNOWLEDGE:
		ack := ev.GetAcknowledge()
		return fmt.Sprintf("ACKNOWLEDGE %s/%s %s", ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), strings.TrimRight(string(ack.GetUuid()), "_"))
	case agentpb.Event_SHUTDOWN:
		return fmt.Sprintf("SHUTDOWN %q", ev.GetShutdown().GetMessage())
	case agentpb.Event_SHUTDOWN_FRAMEWORK:
		id := ev.GetShutdownFramework().GetFrameworkId().GetValue()
		for tid, t := range a.tasks {
			if t.GetFrameworkId().GetValue() == id {
				delete(a.tasks, tid)
			}
		}
		return "SHUTDOWN_FRAMEWORK " + id
	}
	return ev.GetType().String()
}

// recordingStore is the registry: a real local store that also notes
// what the core writes (all of it guarded by the fence), for the golden
// files.
type recordingStore struct {
	*store.Local
	w   *world
	log []string
}

func (s *recordingStore) note(verb, key string) {
	if key != FenceKey {
		s.log = append(s.log, "registry "+verb+" "+key)
	}
}

func (s *recordingStore) PutGuarded(ctx context.Context, g store.Guard, key string, value []byte, expected int64) (store.Entry, error) {
	s.note("put", key)
	return s.Local.PutGuarded(ctx, g, key, value, expected)
}

func (s *recordingStore) DeleteGuarded(ctx context.Context, g store.Guard, key string, expected int64) error {
	s.note("delete", key)
	return s.Local.DeleteGuarded(ctx, g, key, expected)
}

func (s *recordingStore) ApplyGuarded(ctx context.Context, g store.Guard, ops []store.Op) error {
	for _, op := range ops {
		if op.Delete {
			s.note("delete", op.Key)
		} else {
			s.note("put", op.Key)
		}
	}
	return s.Local.ApplyGuarded(ctx, g, ops)
}

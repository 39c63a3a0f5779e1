package agent

import (
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/httpbody"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

// The executor HTTP API (Mesos' v1 executor API at /api/v1/executor):
// an executor subscribes and holds a RecordIO stream of events (LAUNCH,
// KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN), and sends its tasks' status
// updates and its messages as calls. What the calls change is the
// executors' lifecycle, in executors.go.

// toExecutor queues an event on the executor's stream.
func (a *Agent) toExecutor(e *executorRun, ev *executorpb.Event) {
	if e.events == nil {
		return
	}
	select {
	case e.events <- ev:
	default:
		a.log.Warn("executor event queue full; ending its subscription", "executor", e.key.executor)
		close(e.events)
		e.events = nil
	}
}

// serveExecutorAPI is POST /api/v1/executor.
func (a *Agent) serveExecutorAPI(w http.ResponseWriter, r *http.Request) {
	var claims executorClaims // zero when executors are not authenticated
	if a.cfg.AuthenticateHTTPExecutors {
		// Before the body is read: a caller without a token costs nothing.
		var ok bool
		if claims, ok = a.authenticateExecutor(w, r); !ok {
			return
		}
	}
	call := &executorpb.Call{}
	if _, ok := httpbody.ReadCall(w, r, maxExecutorCallBytes, call); !ok {
		return
	}
	k := execKey{call.GetFrameworkId().GetValue(), call.GetExecutorId().GetValue()}
	if k.framework == "" || k.executor == "" {
		http.Error(w, "Expecting 'framework_id' and 'executor_id' to be present", http.StatusBadRequest)
		return
	}
	if a.cfg.AuthenticateHTTPExecutors {
		if why := claims.refusal(k); why != "" {
			http.Error(w, why, http.StatusForbidden)
			return
		}
	}
	switch call.GetType() {
	case executorpb.Call_SUBSCRIBE:
		a.executorSubscribe(w, r, k, claims.Container, call.GetSubscribe())
	case executorpb.Call_UPDATE, executorpb.Call_MESSAGE, executorpb.Call_HEARTBEAT:
		status, msg := http.StatusAccepted, ""
		if err := a.do(r.Context(), func() {
			if e := a.executors[k]; e != nil && !e.gone {
				if why := containerRefusal(e, claims.Container); why != "" {
					status, msg = http.StatusForbidden, why
					return
				}
			}
			status, msg = a.executorCall(k, call)
		}); err != nil {
			status, msg = http.StatusServiceUnavailable, "Agent is not running"
		}
		if status != http.StatusAccepted {
			http.Error(w, msg, status)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, fmt.Sprintf("Executor call %v is not valid", call.GetType()), http.StatusBadRequest)
	}
}

func (a *Agent) executorCall(k execKey, call *executorpb.Call) (int, string) {
	e := a.executors[k]
	if e == nil || e.gone {
		return http.StatusBadRequest, "Executor " + k.executor + " is not running on this agent"
	}
	switch call.GetType() {
	case executorpb.Call_UPDATE:
		st := proto.CloneOf(call.GetUpdate().GetStatus())
		t := e.tasks[st.GetTaskId().GetValue()]
		switch {
		case t == nil:
			return http.StatusBadRequest, "Task " + st.GetTaskId().GetValue() + " is not a task of this executor"
		case len(st.GetUuid()) == 0:
			return http.StatusBadRequest, "Expecting 'uuid' in the status update"
		case st.GetState() == mesospb.TaskState_TASK_STAGING:
			return http.StatusBadRequest, "An executor cannot send TASK_STAGING"
		}
		st.AgentId = &mesospb.AgentID{Value: proto.String(a.ID())}
		st.ExecutorId = e.info.GetExecutorId()
		st.Source = mesospb.TaskStatus_SOURCE_EXECUTOR.Enum()
		withNetworks(st, e.proc)
		if st.Timestamp == nil {
			st.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
		}
		eff, err := t.life.Forward(st.GetState())
		if err != nil {
			return http.StatusBadRequest, "Task " + st.GetTaskId().GetValue() + " is not run by an executor"
		}
		if !eff.Forward {
			return http.StatusAccepted, "" // it ended already: a repeat, nothing to pass on
		}
		t.state, t.last = st.GetState(), st
		first := a.updates.Add(t.key, st)
		_ = a.checkpoint(t) // logged; the update is sent all the same
		if first {
			a.requestFlush()
		}
		if t.life.Ended() {
			a.ended(t)
		}
	case executorpb.Call_MESSAGE:
		if a.session != nil {
			a.send(a.session, &agentpb.Call{Type: agentpb.Call_MESSAGE.Enum(), Message: &agentpb.Call_Message{
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(k.framework)}, ExecutorId: e.info.GetExecutorId(),
				Data: call.GetMessage().GetData()}}, nil)
		}
	}
	return http.StatusAccepted, ""
}

// executorSubscribe answers SUBSCRIBE with the executor's event stream;
// cid is the container the caller's token names ("" without tokens).
func (a *Agent) executorSubscribe(w http.ResponseWriter, r *http.Request, k execKey, cid string, sub *executorpb.Call_Subscribe) {
	out, err := codec.Negotiate(r.Header.Get("Accept"))
	if err != nil {
		http.Error(w, "Expecting 'Accept' to allow JSON or protobuf", http.StatusNotAcceptable)
		return
	}
	events := make(chan *executorpb.Event, 1024)
	refusal, status := "", http.StatusBadRequest
	err = a.do(r.Context(), func() {
		e := a.executors[k]
		if e == nil || e.gone {
			refusal = "Executor " + k.executor + " is not running on this agent"
			return
		}
		if refusal = containerRefusal(e, cid); refusal != "" {
			status = http.StatusForbidden
			return
		}
		if e.events != nil {
			close(e.events) // a newer subscription replaces the old one
		}
		e.events = events
		a.resubscribed(e, sub)
		if e.timer != nil {
			e.timer.Stop()
		}
		info := proto.CloneOf(a.info)
		info.Id = &mesospb.AgentID{Value: proto.String(a.ID())}
		events <- &executorpb.Event{Type: executorpb.Event_SUBSCRIBED.Enum(), Subscribed: &executorpb.Event_Subscribed{
			ExecutorInfo: e.info, FrameworkInfo: e.framework, AgentInfo: info,
			ContainerId: &mesospb.ContainerID{Value: proto.String(e.containerID)}}}
		for _, t := range e.queued {
			if t.life.Ended() {
				continue // killed while it waited
			}
			events <- &executorpb.Event{Type: executorpb.Event_LAUNCH.Enum(), Launch: &executorpb.Event_Launch{Task: t.info}}
			_ = t.life.Delivered() // a queued task is launching: it cannot be impossible
		}
		e.queued = nil
	})
	if err != nil || refusal != "" {
		http.Error(w, refusal, status)
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	rw := recordio.NewWriter(w)
	heartbeat := time.NewTicker(30 * time.Second)
	defer heartbeat.Stop()
	write := func(ev *executorpb.Event) bool {
		b, err := out.Marshal(ev)
		if err == nil {
			err = rw.WriteRecord(b)
		}
		if flusher != nil {
			flusher.Flush()
		}
		return err == nil
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok || !write(ev) {
				return
			}
		case <-heartbeat.C:
			if !write(&executorpb.Event{Type: executorpb.Event_HEARTBEAT.Enum()}) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

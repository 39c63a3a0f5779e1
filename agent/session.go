package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

const (
	streamIDHeader = "Mesos-Stream-Id"
	maxRedirects   = 10
	// maxEventBytes bounds one event from the master.
	maxEventBytes = 64 << 20
)

// session is one subscription to a master.
type session struct {
	master   string // host:port
	streamID string
	agentID  string
	// subscribedAt is when SUBSCRIBED was read off the stream.
	subscribedAt time.Time
	// batched: the master takes several status updates per call.
	batched bool
}

// runSession subscribes and handles the master's events until the stream
// ends. The stream is watched: a master that sends nothing (not even a
// ping) for three ping intervals is presumed gone.
func (a *Agent) runSession(ctx context.Context) error {
	var sub *agentpb.Call
	if err := a.do(ctx, func() { sub = a.subscribeCall() }); err != nil {
		return err
	}
	body, err := proto.Marshal(sub)
	if err != nil {
		return fmt.Errorf("agent: encoding SUBSCRIBE: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	master := a.cfg.Master
	if a.cfg.Detector != nil {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		master, err = a.cfg.Detector.Leader(dctx)
		dcancel()
		if err != nil {
			return err
		}
	}
	var resp *http.Response
	for hop := 0; ; hop++ {
		resp, err = a.postCall(ctx, master, "", body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusTemporaryRedirect || hop == maxRedirects {
			break
		}
		next, err := redirectTarget(resp.Header.Get("Location"))
		resp.Body.Close()
		if err != nil {
			return err
		}
		master = next
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusForbidden {
			// Not a passing failure: an ACL, or another agent holding this
			// agent's ID. Run retries with its growing backoff.
			a.log.Error("the master refused this agent's registration", "master", master, "reason", strings.TrimSpace(string(msg)))
		}
		return fmt.Errorf("agent: SUBSCRIBE to %s: %s: %s", master, resp.Status, strings.TrimSpace(string(msg)))
	}
	s := &session{master: master, streamID: resp.Header.Get(streamIDHeader)}
	if s.streamID == "" {
		return errors.New("agent: SUBSCRIBE answer has no Mesos-Stream-Id")
	}
	r := recordio.NewReader(resp.Body, maxEventBytes)
	// Until SUBSCRIBED says how often the master pings, allow a minute.
	watch := time.Minute
	watchdog := time.AfterFunc(watch, cancel)
	defer watchdog.Stop()
	defer a.post(func() { a.disconnected(s) })
	for first := true; ; first = false {
		rec, err := r.ReadRecord()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("agent: event stream from %s: nothing received for %v", master, watch)
			}
			return fmt.Errorf("agent: event stream from %s: %w", master, err)
		}
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return fmt.Errorf("agent: decoding an event from %s: %w", master, err)
		}
		if !first {
			watchdog.Reset(watch)
			a.post(func() { a.handleEvent(s, ev) })
			continue
		}
		if ev.GetType() == agentpb.Event_SHUTDOWN {
			// The master refuses this agent for good (marked gone).
			a.post(func() { a.shutdownByMaster(ev.GetShutdown().GetMessage()) })
			return fmt.Errorf("agent: master %s refused this agent: %s", master, ev.GetShutdown().GetMessage())
		}
		if ev.GetType() != agentpb.Event_SUBSCRIBED {
			return fmt.Errorf("agent: first event from %s is %v, not SUBSCRIBED", master, ev.GetType())
		}
		s.agentID, s.subscribedAt = ev.GetSubscribed().GetAgentId().GetValue(), time.Now()
		s.batched = ev.GetSubscribed().GetBatchedUpdates()
		if ping := time.Duration(ev.GetSubscribed().GetPingIntervalSeconds() * float64(time.Second)); ping > 0 {
			watch = 3*ping + time.Second
		}
		watchdog.Reset(watch)
		if err := a.do(ctx, func() { a.subscribed(s) }); err != nil {
			return err
		}
	}
}

// redirectTarget takes the host:port from a Location such as
// //host:port/api/v1/agent or http://host:port/api/v1/agent.
func redirectTarget(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("agent: bad redirect Location %q", loc)
	}
	return u.Host, nil
}

// postCall sends one call to master's agent endpoint.
func (a *Agent) postCall(ctx context.Context, master, streamID string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, auth.Scheme(a.cfg.MasterTLS)+"://"+master+"/api/v1/agent", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("agent: building a request to %s: %w", master, err)
	}
	req.Header.Set("Content-Type", codec.Protobuf.MediaType())
	req.Header.Set("Accept", codec.Protobuf.MediaType())
	if streamID != "" {
		req.Header.Set(streamIDHeader, streamID)
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent: calling %s: %w", master, err)
	}
	return resp, nil
}

// send posts a call for the current session in the background. It reports
// the outcome to done, on the loop, if done is not nil.
// maxCallsInFlight is below the HTTP client's idle pool (64), so that the
// connections calls use stay open for the next ones.
const maxCallsInFlight = 32

func (a *Agent) send(s *session, call *agentpb.Call, done func(error)) {
	call.AgentId = &mesospb.AgentID{Value: proto.String(s.agentID)}
	body, err := proto.Marshal(call)
	if err != nil {
		a.log.Error("encoding a call", "err", err)
		return
	}
	go func() {
		a.calls <- struct{}{}
		defer func() { <-a.calls }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := a.postCall(ctx, s.master, s.streamID, body)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("agent: %v call: %s: %s", call.GetType(), resp.Status, strings.TrimSpace(string(msg)))
			}
		}
		if err != nil {
			a.log.Debug("call failed", "type", call.GetType().String(), "err", err)
		}
		if done != nil {
			a.post(func() { done(err) })
		}
	}()
}

// subscribeCall describes the agent and every task it holds.
func (a *Agent) subscribeCall() *agentpb.Call {
	info := proto.CloneOf(a.info)
	if id := a.ID(); id != "" {
		info.Id = &mesospb.AgentID{Value: proto.String(id)}
	}
	sub := &agentpb.Call_Subscribe{AgentInfo: info, Version: proto.String(version.Version), CheckpointedResources: a.checkpointed,
		BootId: proto.String(a.bootID)}
	frameworks := make(map[string]bool)
	for _, t := range a.tasks {
		sub.Tasks = append(sub.Tasks, t.report(a.ID()))
		if fw := t.framework.GetId().GetValue(); !frameworks[fw] {
			frameworks[fw] = true
			sub.Frameworks = append(sub.Frameworks, t.framework)
		}
	}
	for _, e := range a.executors {
		if !e.gone {
			sub.Executors = append(sub.Executors, e.info)
		}
	}
	return &agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: sub}
}

// subscribed runs on the loop when the master accepted the subscription.
func (a *Agent) subscribed(s *session) {
	if s.agentID != a.ID() {
		id := s.agentID
		if err := a.saveID(id); err != nil {
			a.log.Error("could not checkpoint the agent ID", "err", err)
		}
		a.id.Store(&id)
	}
	a.session = s
	a.subscribedAt.Store(s.subscribedAt.UnixNano())
	a.connected.Store(true)
	a.metrics.registered.Set(1)
	a.log.Info("registered with master", "agent", s.agentID, "master", s.master)
	a.updates.ResendAll()
	a.flushUpdates()
}

func (a *Agent) disconnected(s *session) {
	if a.session == s {
		a.session = nil
		a.connected.Store(false)
		a.metrics.registered.Set(0)
	}
}

// handleEvent runs one event from the master on the loop.
func (a *Agent) handleEvent(s *session, ev *agentpb.Event) {
	if a.session != s {
		return // from a stream that has since been replaced
	}
	switch ev.GetType() {
	case agentpb.Event_LAUNCH:
		a.launch(ev.GetLaunch())
	case agentpb.Event_KILL:
		k := ev.GetKill()
		a.kill(keyOf(k.GetFrameworkId(), k.GetTaskId()), k.GetKillPolicy())
	case agentpb.Event_ACKNOWLEDGE:
		ack := ev.GetAcknowledge()
		a.acknowledge(keyOf(ack.GetFrameworkId(), ack.GetTaskId()), ack.GetUuid())
	case agentpb.Event_PING:
		a.send(s, &agentpb.Call{Type: agentpb.Call_PONG.Enum(), Pong: &agentpb.Call_Pong{Seq: ev.GetPing().Seq}}, nil)
	case agentpb.Event_SHUTDOWN_FRAMEWORK:
		fw := ev.GetShutdownFramework().GetFrameworkId().GetValue()
		a.shutdownExecutors(fw)
		for k, t := range a.tasks {
			if k.FrameworkID == fw {
				a.killTask(t, lifecycle.Killed, "", nil)
			}
		}
	case agentpb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		a.shutdownExecutor(se.GetFrameworkId().GetValue(), se.GetExecutorId().GetValue())
	case agentpb.Event_SHUTDOWN:
		a.shutdownByMaster(ev.GetShutdown().GetMessage())
	case agentpb.Event_CHECKPOINT_RESOURCES:
		a.checkpointResources(ev.GetCheckpointResources().GetResources())
	case agentpb.Event_MESSAGE:
		m := ev.GetMessage()
		e := a.executors[execKey{m.GetFrameworkId().GetValue(), m.GetExecutorId().GetValue()}]
		if e == nil {
			a.log.Debug("framework message for an executor not running here", "executor", m.GetExecutorId().GetValue())
			break
		}
		a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_MESSAGE.Enum(), Message: &executorpb.Event_Message{Data: m.GetData()}})
	default:
		a.log.Debug("ignoring unknown event", "type", ev.GetType().String())
	}
}

// shutdownByMaster kills every task and stops the agent, as the master
// asked.
func (a *Agent) shutdownByMaster(msg string) {
	select {
	case <-a.shutdown:
		return
	default:
	}
	a.log.Warn("master asked this agent to shut down", "message", msg)
	for _, t := range a.tasks {
		if t.running() {
			a.killing = append(a.killing, t.proc)
		}
		a.killTask(t, lifecycle.Killed, "", nil)
	}
	close(a.shutdown) // publishes a.killing to Run
}

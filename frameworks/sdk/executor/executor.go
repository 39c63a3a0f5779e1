// Package executor is the executor half of the SDK: a small client of the
// Mesos v1 executor HTTP API for custom executors, the programs a
// framework ships to run its tasks its own way. The agent starts the
// executor with MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and
// MESOS_EXECUTOR_ID in its environment; FromEnv reads them, and the
// token of agents run with --authenticate-http-executors
// (MESOS_EXECUTOR_AUTHENTICATION_TOKEN), which every call then carries.
package executor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

// Executor talks to its agent.
type Executor struct {
	Agent string // host:port
	// FrameworkID and ExecutorID say who the executor is; every call
	// carries them.
	FrameworkID, ExecutorID string
	// Client makes the calls; FromEnv sets one up (with the agent's CA
	// when it serves TLS).
	Client *http.Client
	// Checkpoint (MESOS_CHECKPOINT) means the agent can restart under a
	// running executor: Run then re-subscribes for up to RecoveryTimeout
	// (MESOS_RECOVERY_TIMEOUT) instead of ending with the stream, and
	// tells the new agent the updates it has not seen acknowledged.
	Checkpoint bool
	// RecoveryTimeout: see Checkpoint.
	RecoveryTimeout time.Duration
	// Token, if set, is sent as "Authorization: Bearer <Token>": agents
	// that authenticate executors give it in
	// MESOS_EXECUTOR_AUTHENTICATION_TOKEN.
	Token string

	scheme   string // "https" when the agent serves TLS
	mu       sync.Mutex
	unacked  map[string]*mesospb.TaskStatus // by uuid
	launched map[string]*mesospb.TaskInfo   // tasks without a terminal acknowledged update
}

// FromEnv builds an Executor from the environment the agent gives it.
func FromEnv() (*Executor, error) {
	e := &Executor{Agent: os.Getenv("MESOS_AGENT_ENDPOINT"), FrameworkID: os.Getenv("MESOS_FRAMEWORK_ID"),
		ExecutorID: os.Getenv("MESOS_EXECUTOR_ID"), Client: &http.Client{}}
	if e.Agent == "" || e.FrameworkID == "" || e.ExecutorID == "" {
		return nil, errors.New("executor: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID must be set (is this run by an agent?)")
	}
	if os.Getenv("LIBPROCESS_SSL_ENABLED") == "true" || os.Getenv("LIBPROCESS_SSL_ENABLED") == "1" {
		cfg, err := auth.TLSFiles{CA: os.Getenv("LIBPROCESS_SSL_CA_FILE")}.Client()
		if err != nil || cfg == nil {
			return nil, fmt.Errorf("executor: the agent serves TLS but LIBPROCESS_SSL_CA_FILE does not give a CA: %v", err)
		}
		e.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		e.scheme = "https"
	}
	if e.Token = os.Getenv(TokenEnv); e.Token != "" {
		// As Mesos' executor library does: the processes the executor
		// starts for its tasks must not inherit the right to act as it.
		_ = os.Unsetenv(TokenEnv)
	}
	e.Checkpoint = os.Getenv("MESOS_CHECKPOINT") == "1"
	if e.Checkpoint {
		d, err := ParseMesosDuration(os.Getenv("MESOS_RECOVERY_TIMEOUT"))
		if err != nil {
			return nil, fmt.Errorf("executor: MESOS_RECOVERY_TIMEOUT: %w", err)
		}
		e.RecoveryTimeout = d
	}
	return e, nil
}

// TokenEnv holds the executor's token when its agent authenticates
// executors; FromEnv reads it and removes it from the environment.
const TokenEnv = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

// ParseMesosDuration reads a duration as Mesos writes them: a number and
// one of ns, us, ms, secs, mins, hrs, days, weeks ("15mins", "2.5secs").
func ParseMesosDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || i == 0 {
		return 0, fmt.Errorf("%q is not a Mesos duration (e.g. 15mins)", s)
	}
	unit, ok := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "ms": time.Millisecond,
		"secs": time.Second, "mins": time.Minute, "hrs": time.Hour, "days": 24 * time.Hour, "weeks": 7 * 24 * time.Hour}[s[i:]]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q", s, s[i:])
	}
	return time.Duration(v * float64(unit)), nil
}

func (e *Executor) call(ctx context.Context, c *executorpb.Call) (*http.Response, error) {
	c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(e.FrameworkID)}
	c.ExecutorId = &mesospb.ExecutorID{Value: proto.String(e.ExecutorID)}
	body, err := codec.Protobuf.Marshal(c)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cmp.Or(e.scheme, "http")+"://"+e.Agent+"/api/v1/executor", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	if e.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.Token)
	}
	return e.Client.Do(req)
}

// Run subscribes and hands every event to handle until the stream ends,
// handle fails, or SHUTDOWN arrives (handle sees it first).
//
// With Checkpoint, a broken stream (the agent restarting) is followed by
// new subscriptions, every half second, until RecoveryTimeout passes.
func (e *Executor) Run(ctx context.Context, handle func(context.Context, *executorpb.Event) error) error {
	var lost time.Time
	for {
		done, subscribed, err := e.session(ctx, handle)
		if done || ctx.Err() != nil {
			return err
		}
		if !e.Checkpoint {
			return err
		}
		if subscribed || lost.IsZero() {
			lost = time.Now()
		}
		if time.Since(lost) > e.RecoveryTimeout {
			return fmt.Errorf("executor: the agent did not come back within %v: %w", e.RecoveryTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// session is one subscription: done when it ended for good (SHUTDOWN, a
// handler error), subscribed if the agent took it.
func (e *Executor) session(ctx context.Context, handle func(context.Context, *executorpb.Event) error) (done, subscribed bool, err error) {
	sub := &executorpb.Call_Subscribe{}
	e.mu.Lock()
	for _, st := range e.unacked {
		sub.UnacknowledgedUpdates = append(sub.UnacknowledgedUpdates, &executorpb.Call_Update{Status: st})
	}
	for _, ti := range e.launched {
		sub.UnacknowledgedTasks = append(sub.UnacknowledgedTasks, ti)
	}
	e.mu.Unlock()
	resp, err := e.call(ctx, &executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: sub})
	if err != nil {
		return false, false, fmt.Errorf("executor: subscribing: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return false, false, fmt.Errorf("executor: subscribing: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	r := recordio.NewReader(resp.Body, 16<<20)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return false, true, fmt.Errorf("executor: event stream: %w", err)
		}
		ev := &executorpb.Event{}
		if err := codec.Protobuf.Unmarshal(rec, ev); err != nil {
			return true, true, fmt.Errorf("executor: decoding an event: %w", err)
		}
		e.track(ev)
		if err := handle(ctx, ev); err != nil {
			return true, true, err
		}
		if ev.GetType() == executorpb.Event_SHUTDOWN {
			return true, true, nil
		}
	}
}

// track remembers launched tasks and forgets acknowledged updates.
func (e *Executor) track(ev *executorpb.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev.GetType() {
	case executorpb.Event_LAUNCH:
		if e.launched == nil {
			e.launched = make(map[string]*mesospb.TaskInfo)
		}
		e.launched[ev.GetLaunch().GetTask().GetTaskId().GetValue()] = ev.GetLaunch().GetTask()
	case executorpb.Event_ACKNOWLEDGED:
		id := string(ev.GetAcknowledged().GetUuid())
		if st := e.unacked[id]; st != nil && mesospb.IsTerminal(st.GetState()) {
			delete(e.launched, st.GetTaskId().GetValue())
		}
		delete(e.unacked, id)
	}
}

// Update sends a task's status (it sets the uuid, time and source).
func (e *Executor) Update(ctx context.Context, taskID *mesospb.TaskID, state mesospb.TaskState, message string) error {
	st := &mesospb.TaskStatus{TaskId: taskID, State: state.Enum(), Uuid: uuid.New().Bytes(),
		Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9)}
	if message != "" {
		st.Message = proto.String(message)
	}
	e.mu.Lock()
	if e.unacked == nil {
		e.unacked = make(map[string]*mesospb.TaskStatus)
	}
	e.unacked[string(st.GetUuid())] = st // told again to a restarted agent until acknowledged
	e.mu.Unlock()
	return e.accepted(e.call(ctx, &executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{Status: st}}))
}

// Message sends data to the framework's scheduler.
func (e *Executor) Message(ctx context.Context, data []byte) error {
	return e.accepted(e.call(ctx, &executorpb.Call{Type: executorpb.Call_MESSAGE.Enum(), Message: &executorpb.Call_Message{Data: data}}))
}

func (e *Executor) accepted(resp *http.Response, err error) error {
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("executor: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

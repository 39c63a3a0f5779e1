// Package executor is the executor half of the SDK: a small client of the
// Mesos v1 executor HTTP API for custom executors, the programs a
// framework ships to run its tasks its own way. The agent starts the
// executor with MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and
// MESOS_EXECUTOR_ID in its environment; FromEnv reads them.
package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

// Executor talks to its agent.
type Executor struct {
	Agent       string // host:port
	FrameworkID string
	ExecutorID  string
	Client      *http.Client
}

// FromEnv builds an Executor from the environment the agent gives it.
func FromEnv() (*Executor, error) {
	e := &Executor{Agent: os.Getenv("MESOS_AGENT_ENDPOINT"), FrameworkID: os.Getenv("MESOS_FRAMEWORK_ID"),
		ExecutorID: os.Getenv("MESOS_EXECUTOR_ID"), Client: &http.Client{}}
	if e.Agent == "" || e.FrameworkID == "" || e.ExecutorID == "" {
		return nil, errors.New("executor: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID must be set (is this run by an agent?)")
	}
	return e, nil
}

func (e *Executor) call(ctx context.Context, c *executorpb.Call) (*http.Response, error) {
	c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(e.FrameworkID)}
	c.ExecutorId = &mesospb.ExecutorID{Value: proto.String(e.ExecutorID)}
	body, err := codec.Protobuf.Marshal(c)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.Agent+"/api/v1/executor", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	return e.Client.Do(req)
}

// Run subscribes and hands every event to handle until the stream ends,
// handle fails, or SHUTDOWN arrives (handle sees it first).
func (e *Executor) Run(ctx context.Context, handle func(context.Context, *executorpb.Event) error) error {
	resp, err := e.call(ctx, &executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: &executorpb.Call_Subscribe{}})
	if err != nil {
		return fmt.Errorf("executor: subscribing: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("executor: subscribing: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	r := recordio.NewReader(resp.Body, 16<<20)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return fmt.Errorf("executor: event stream: %w", err)
		}
		ev := &executorpb.Event{}
		if err := codec.Protobuf.Unmarshal(rec, ev); err != nil {
			return fmt.Errorf("executor: decoding an event: %w", err)
		}
		if err := handle(ctx, ev); err != nil {
			return err
		}
		if ev.GetType() == executorpb.Event_SHUTDOWN {
			return nil
		}
	}
}

// Update sends a task's status (it sets the uuid, time and source).
func (e *Executor) Update(ctx context.Context, taskID *mesospb.TaskID, state mesospb.TaskState, message string) error {
	st := &mesospb.TaskStatus{TaskId: taskID, State: state.Enum(), Uuid: uuid.New().Bytes(),
		Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9)}
	if message != "" {
		st.Message = proto.String(message)
	}
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

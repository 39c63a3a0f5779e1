package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Operator sends call to the leading master's operator API (Mesos v1,
// JSON) and returns its answer, empty for calls answered without a body.
// A refusal is an error carrying the master's reason.
func (c *Cluster) Operator(ctx context.Context, call *masterpb.Call) (*masterpb.Response, error) {
	body, err := codec.JSON.Marshal(call)
	if err != nil {
		return nil, fmt.Errorf("sdktest: encoding %v: %w", call.GetType(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.MasterURL+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sdktest: %w", err)
	}
	req.Header.Set("Content-Type", codec.JSONMediaType)
	req.Header.Set("Accept", codec.JSONMediaType)
	if c.opts.OperatorPrincipal != "" {
		req.SetBasicAuth(c.opts.OperatorPrincipal, c.opts.OperatorSecret)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sdktest: %v: %w", call.GetType(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("sdktest: %v: reading the answer: %w", call.GetType(), err)
	}
	out := &masterpb.Response{}
	switch {
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted:
		return nil, fmt.Errorf("sdktest: %v: %s: %s", call.GetType(), resp.Status, strings.TrimSpace(string(b)))
	case len(b) == 0:
		return out, nil
	}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("sdktest: %v: decoding the answer: %w", call.GetType(), err)
	}
	return out, nil
}

// Tasks lists every task the master knows: live, unreachable and
// finished.
func (c *Cluster) Tasks(ctx context.Context) ([]*mesospb.Task, error) {
	resp, err := c.Operator(ctx, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
	if err != nil {
		return nil, err
	}
	t := resp.GetGetTasks()
	return append(append(t.GetTasks(), t.GetUnreachableTasks()...), t.GetCompletedTasks()...), nil
}

// rescindRole is a role no test uses: clearing its (absent) quota changes
// nothing but the offers.
const rescindRole = "sdktest-rescind"

// RescindOffers makes the master rescind every outstanding offer, as it
// does when quota changes: frameworks get RESCIND for each and must not
// use them. The resources are offered again in the next round.
func (c *Cluster) RescindOffers(ctx context.Context) error {
	_, err := c.Operator(ctx, &masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(),
		UpdateQuota: &masterpb.Call_UpdateQuota{QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String(rescindRole)}}}})
	return err
}

// DropUpdates drops every status update on its way to a framework for
// which drop returns true, as a lossy network would. The master and the
// agent believe it sent: the agent sends an update it originated (one
// with a uuid) again, with backoff, until the framework acknowledges it;
// one the master made (TASK_UNREACHABLE, TASK_DROPPED, a reconciliation
// answer) is lost, and only reconciling recovers it. nil stops dropping.
// drop sees a copy and runs on the stream's goroutine; it must not block.
func (c *Cluster) DropUpdates(drop func(*mesospb.TaskStatus) bool) {
	if c.traffic == nil {
		return
	}
	c.traffic.set(func() { c.traffic.drop = drop })
}

// DelayUpdates holds each status update for d before the framework's
// stream carries it, and with it what the stream carries after it (a
// stream keeps its order, as a slow network does). A change applies to
// the updates held already: zero releases them.
func (c *Cluster) DelayUpdates(d time.Duration) {
	if c.traffic == nil {
		return
	}
	c.traffic.set(func() { c.traffic.delay = d })
}

// Unoffered is why the master's latest allocation round offered the
// framework nothing on some agents: a count of agents per reason
// ("filtered", "suppressed", "no_resources", ...), as GET_FRAMEWORKS
// reports it.
func (c *Cluster) Unoffered(ctx context.Context, frameworkID string) (map[string]int, error) {
	resp, err := c.Operator(ctx, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	for _, f := range resp.GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetId().GetValue() != frameworkID {
			continue
		}
		for _, u := range f.GetUnoffered() {
			out[u.GetReason()] += int(u.GetAgents())
		}
	}
	return out, nil
}

package fanout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
)

// update follows a shard's attempt. A finished attempt's output is read
// back before the update is acknowledged: if that fails the attempt
// counts as failed, and the shard is tried again.
func (j *Job) update(ctx context.Context, st *mesospb.TaskStatus) error {
	i := parseTaskID(st.GetTaskId().GetValue())
	j.mu.Lock()
	if i < 0 || i >= len(j.shards) || j.shards[i].Task != st.GetTaskId().GetValue() || j.shards[i].State != Running {
		j.mu.Unlock()
		return nil // an earlier attempt, a repeated update, or not ours
	}
	s := j.shards[i]
	source := s.agentURL
	j.mu.Unlock()

	var output, failure string
	switch st.GetState() {
	case mesospb.TaskState_TASK_STAGING, mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLING:
		return nil
	case mesospb.TaskState_TASK_FINISHED:
		var err error
		if output, err = j.collect(ctx, source, st); err != nil {
			failure = "collecting its output: " + err.Error()
		}
	default:
		// Failed, killed, lost, or unreachable: a shard is worth more
		// done again elsewhere than waited for (a late result of this
		// attempt is ignored).
		failure = st.GetState().String()
		if m := st.GetMessage(); m != "" {
			failure += ": " + m
		}
	}

	j.mu.Lock()
	if failure == "" {
		s.State, s.Output = Finished, output
	} else {
		s.failedOn[s.agentID] = true
		s.Error = failure
		s.State = Waiting
		if s.Attempts > j.cfg.Retries {
			s.State = Failed
			j.err = fmt.Errorf("fanout: shard %d failed %d times, last: %s", s.Index, s.Attempts, failure)
		}
	}
	finished, failed, stop := j.allFinishedLocked(), j.err != nil, j.stop
	j.mu.Unlock()
	j.log.Info("shard", "index", s.Index, "task", st.GetTaskId().GetValue(), "state", st.GetState().String(), "failure", failure)

	switch {
	case finished || failed:
		// Nothing more to do: the master forgets the framework (and kills
		// whatever still runs), and Run returns.
		if err := j.sched.Teardown(ctx); err != nil {
			stop()
		}
		return nil
	case failure != "":
		return j.sched.Revive(ctx)
	}
	return nil
}

// collect reads a finished task's stdout from its agent's sandbox, by the
// virtual path agents serve for every executor's latest run (a command
// task's executor has the task's ID).
func (j *Job) collect(ctx context.Context, agent string, st *mesospb.TaskStatus) (string, error) {
	if agent == "" {
		return "", fmt.Errorf("the offer for task %s did not say where its agent is", st.GetTaskId().GetValue())
	}
	path := fmt.Sprintf("/frameworks/%s/executors/%s/runs/latest/stdout", j.sched.FrameworkID(), st.GetTaskId().GetValue())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agent+"/files/download?path="+url.QueryEscape(path), nil)
	if err != nil {
		return "", err
	}
	resp, err := j.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, j.cfg.MaxOutput))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

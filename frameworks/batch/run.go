package batch

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// RunStatus is where a run is.
type RunStatus string

// Run statuses.
const (
	Running   RunStatus = "running"
	Succeeded RunStatus = "succeeded"
	Failed    RunStatus = "failed"
)

// Task states as the batch framework shows them.
const (
	taskLaunching = "launching" // sent to the master, no update yet
	taskRunning   = "running"
	taskWaiting   = "waiting" // failed, retrying after a backoff
	taskSucceeded = "succeeded"
	taskFailed    = "failed" // out of retries, or stopped with its run
)

// Run is one execution of a job.
type Run struct {
	ID           string    `json:"id"`
	JobID        string    `json:"job"`
	Number       int       `json:"number"`
	Trigger      string    `json:"trigger"` // manual, schedule, dependency
	Status       RunStatus `json:"status"`
	Reason       string    `json:"reason,omitempty"`
	Created      time.Time `json:"created"`
	ScheduledFor time.Time `json:"scheduledFor,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	// Spec is the job as it was when the run started.
	Spec Job `json:"spec"`

	Succeeded      int `json:"succeeded"`
	FailedAttempts int `json:"failedAttempts"`

	// Done marks succeeded completion indexes (a bitmap, so that a run of
	// a million completions stays small in the store).
	Done []byte `json:"done"`
	// Next is the first index never launched.
	Next int `json:"next"`
	// Tasks are the indexes launched and not yet succeeded (and, in
	// memory, the succeeded ones too, for the API).
	Tasks map[int]*TaskRecord `json:"tasks"`
}

// TaskRecord is one completion index's latest attempt.
type TaskRecord struct {
	Index     int       `json:"index"`
	Attempt   int       `json:"attempt"`
	Failures  int       `json:"failures"`
	TaskID    string    `json:"taskId"`
	AgentID   string    `json:"agentId,omitempty"`
	Hostname  string    `json:"hostname,omitempty"`
	State     string    `json:"state"`
	Message   string    `json:"message,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	NotBefore time.Time `json:"notBefore,omitzero"`
}

func newRun(job *Job, number int, trigger string, now time.Time) *Run {
	return &Run{
		ID: fmt.Sprintf("%s-%d", job.ID, number), JobID: job.ID, Number: number, Trigger: trigger,
		Status: Running, Created: now, Spec: *job,
		Done:  make([]byte, (job.Completions+7)/8),
		Tasks: make(map[int]*TaskRecord),
	}
}

func (r *Run) done(i int) bool { return r.Done[i/8]&(1<<(i%8)) != 0 }
func (r *Run) markDone(i int)  { r.Done[i/8] |= 1 << (i % 8) }

func (r *Run) active() bool { return r.Status == Running }

// inFlight counts tasks launched and not finished.
func (r *Run) inFlight() int {
	n := 0
	for _, t := range r.Tasks {
		if t.State == taskLaunching || t.State == taskRunning {
			n++
		}
	}
	return n
}

// stored is the run as written to the store: succeeded tasks are only
// bits in Done.
func (r *Run) stored() ([]byte, error) {
	cp := *r
	cp.Tasks = make(map[int]*TaskRecord, len(r.Tasks))
	for i, t := range r.Tasks {
		if t.State != taskSucceeded {
			cp.Tasks[i] = t
		}
	}
	return json.Marshal(&cp)
}

// RunView is a run as the API shows it.
type RunView struct {
	*Run
	Running   int           `json:"running"`
	Waiting   int           `json:"waiting"`
	Remaining int           `json:"remaining"`
	TaskList  []*TaskRecord `json:"taskList,omitempty"`
	Tasks     struct{}      `json:"-"`
	Done      struct{}      `json:"-"`
}

func (r *Run) view(withTasks bool) *RunView {
	v := &RunView{Run: r, Remaining: r.Spec.Completions - r.Succeeded}
	for _, t := range r.Tasks {
		switch t.State {
		case taskLaunching, taskRunning:
			v.Running++
		case taskWaiting:
			v.Waiting++
		}
		if withTasks {
			v.TaskList = append(v.TaskList, t)
		}
	}
	slices.SortFunc(v.TaskList, func(a, b *TaskRecord) int { return a.Index - b.Index })
	return v
}

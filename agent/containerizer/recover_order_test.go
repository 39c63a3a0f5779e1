package containerizer

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/corral-sched/corral/isolators"
)

// orderLog records the isolator calls, in order.
type orderLog struct {
	mu    sync.Mutex
	calls []string
}

func (o *orderLog) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, s)
}

func (o *orderLog) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// recordingIsolator only learns what to clean up in Recover, as the CNI
// isolator does.
type recordingIsolator struct{ log *orderLog }

func (recordingIsolator) Name() string { return "test/recording" }
func (recordingIsolator) Prepare(context.Context, *isolators.Container, *isolators.Launch) error {
	return nil
}
func (r recordingIsolator) Cleanup(_ context.Context, c *isolators.Container) error {
	r.log.add("cleanup " + c.ID)
	return nil
}
func (r recordingIsolator) Recover(_ context.Context, alive []*isolators.Container) error {
	r.log.add("recover")
	return nil
}

// endingLauncher recovers "early" alive but has it end at once, before
// Recover returns; "gone" is gone already.
type endingLauncher struct{}

func (endingLauncher) Launch(Start) (*Process, error) { panic("not used") }
func (endingLauncher) Containers(string) map[string]Running {
	return nil
}
func (endingLauncher) Recover(s Start, pid int, _ uint64) (*Process, error) {
	if s.ID == "gone" {
		s.exited(Exit{Code: -1, Err: ErrGone})
		s.destroyed()
		return nil, ErrGone
	}
	p := &Process{Pid: pid, done: make(chan struct{})}
	ended := make(chan struct{})
	go func() {
		p.exit = s.exited(Exit{Code: 0})
		s.destroyed()
		close(p.done)
		close(ended)
	}()
	<-ended // the process is gone before the isolators have recovered
	return p, nil
}

// A recovered container that ends before the isolators have recovered is
// cleaned up after they have (before, they would not know what it held:
// a CNI attachment leaked this way); one gone already is cleaned up at
// once, as before.
func TestRecoveredContainerEndingEarlyIsCleanedUpAfterTheIsolatorsRecover(t *testing.T) {
	log := &orderLog{}
	c := &Containerizer{launcher: endingLauncher{}, isolators: []isolators.Isolator{recordingIsolator{log}}, log: slog.New(slog.DiscardHandler)}
	procs := c.Recover(context.Background(), []Recovered{{Spec: Spec{ID: "gone"}, Pid: 1}, {Spec: Spec{ID: "early"}, Pid: 2}})
	if procs["early"] == nil {
		t.Fatal("the container alive at recovery was not returned")
	}
	<-procs["early"].Done()
	want := []string{"cleanup gone", "recover", "cleanup early"}
	if got := log.list(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

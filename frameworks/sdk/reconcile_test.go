package sdk

import (
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/schedulerpb"
)

func TestReconcileTaskNamesTheAgentOnlyWhenKnown(t *testing.T) {
	if rt := ReconcileTask("t1", "a1"); rt.GetTaskId().GetValue() != "t1" || rt.GetAgentId().GetValue() != "a1" {
		t.Errorf("with an agent: %v", rt)
	}
	if rt := ReconcileTask("t2", ""); rt.GetTaskId().GetValue() != "t2" || rt.AgentId != nil {
		t.Errorf("without an agent: %v", rt)
	}
}

func ids(tasks []*schedulerpb.Call_Reconcile_Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.GetTaskId().GetValue())
	}
	return out
}

func TestReconcilerAsksAgainBackingOffUntilEveryTaskIsAnswered(t *testing.T) {
	r := NewReconciler(time.Second, 4*time.Second)
	t0 := time.Unix(1000, 0)
	if got := r.Due(t0); got != nil {
		t.Fatalf("nothing asked, yet due: %v", ids(got))
	}
	r.Ask(t0, ReconcileTask("b", "a1"), ReconcileTask("a", ""))
	if got := ids(r.Due(t0)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("due at once: %v, want [a b]", got)
	}
	// Asked: the next ask is a wait later, and the waits double up to max.
	for _, step := range []struct {
		at   time.Duration
		want []string
	}{
		{999 * time.Millisecond, nil},
		{time.Second, []string{"a", "b"}},      // waited 1 s
		{2999 * time.Millisecond, nil},         // next after 2 s more
		{3 * time.Second, []string{"a", "b"}},  // waited 2 s
		{7 * time.Second, []string{"a", "b"}},  // waited 4 s
		{10 * time.Second, nil},                // max is 4 s, not 8
		{11 * time.Second, []string{"a", "b"}}, // waited 4 s
	} {
		if got := ids(r.Due(t0.Add(step.at))); !slices.Equal(got, step.want) {
			t.Fatalf("at +%v: due %v, want %v", step.at, got, step.want)
		}
	}
	// An update about a, whatever it says, answers it.
	r.Answered("a")
	if got := ids(r.Due(t0.Add(15 * time.Second))); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after a's answer: due %v, want [b]", got)
	}
	r.Answered("b")
	if n := r.Pending(); n != 0 {
		t.Fatalf("%d pending after every answer", n)
	}
	if got := r.Due(t0.Add(time.Hour)); got != nil {
		t.Fatalf("every task answered, yet due: %v", ids(got))
	}
}

func TestReconcilerStartsOverOnNewQuestions(t *testing.T) {
	r := NewReconciler(time.Second, time.Minute)
	t0 := time.Unix(1000, 0)
	r.Ask(t0, ReconcileTask("old", ""))
	for i := range 5 { // backed off to 32 s
		r.Due(t0.Add(time.Duration(1<<i-1) * time.Second))
	}
	// A launch that failed is asked about a second from now, not after the
	// old tasks' long wait; and with it the old ones.
	at := t0.Add(40 * time.Second)
	r.Ask(at, ReconcileTask("new", ""))
	if got := ids(r.Due(at)); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("due %v, want [new old]", got)
	}
	if got := r.Due(at.Add(999 * time.Millisecond)); got != nil {
		t.Fatalf("the wait did not start over: due %v", ids(got))
	}
	if got := ids(r.Due(at.Add(time.Second))); len(got) != 2 {
		t.Fatalf("due %v a wait of 1 s later, want both", got)
	}
}

func TestNewReconcilerDefaults(t *testing.T) {
	r := NewReconciler(0, 0)
	if r.min != DefaultReconcileMin || r.max != DefaultReconcileMax {
		t.Fatalf("defaults %v..%v", r.min, r.max)
	}
	if r := NewReconciler(time.Minute, time.Second); r.max < r.min {
		t.Fatalf("max %v below min %v", r.max, r.min)
	}
}

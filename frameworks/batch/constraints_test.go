package batch

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func offerOn(host, rack string) *mesospb.Offer {
	o := &mesospb.Offer{Hostname: proto.String(host), AgentId: &mesospb.AgentID{Value: proto.String("id-" + host)}}
	if rack != "" {
		o.Attributes = []*mesospb.Attribute{{Name: proto.String("rack"), Type: mesospb.Value_TEXT.Enum(),
			Text: &mesospb.Value_Text{Value: proto.String(rack)}}}
	}
	return o
}

// A job's constraints are the SDK's (Marathon's operators), evaluated
// against the offer's agent and where the run's live tasks are.
func TestJobConstraintsAreTheSDKs(t *testing.T) {
	running := func(hosts ...string) *Run {
		r := &Run{Tasks: map[int]*TaskRecord{}}
		for i, h := range hosts {
			r.Tasks[i] = &TaskRecord{Index: i, State: taskRunning, Hostname: h, AgentID: "id-" + h}
		}
		// An ended task no longer counts.
		r.Tasks[len(hosts)] = &TaskRecord{Index: len(hosts), State: taskSucceeded, Hostname: "b", AgentID: "id-b"}
		return r
	}
	for _, tc := range []struct {
		constraints [][]string
		run         *Run
		offer       *mesospb.Offer
		want        bool
	}{
		{[][]string{{"rack", "LIKE", "r[12]"}}, running(), offerOn("a", "r1"), true},
		{[][]string{{"rack", "LIKE", "r[12]"}}, running(), offerOn("a", "r3"), false},
		{[][]string{{"rack", "LIKE", "r[12]"}}, running(), offerOn("a", ""), false},
		{[][]string{{"rack", "UNLIKE", "r1"}}, running(), offerOn("a", ""), true},
		{[][]string{{"hostname", "UNIQUE"}}, running("a"), offerOn("a", ""), false},
		{[][]string{{"hostname", "UNIQUE"}}, running("a"), offerOn("b", ""), true},
		{[][]string{{"hostname", "MAX_PER", "2"}}, running("a"), offerOn("a", ""), true},
		{[][]string{{"hostname", "MAX_PER", "2"}}, running("a", "a"), offerOn("a", ""), false},
		{[][]string{{"hostname", "CLUSTER", "a"}}, running(), offerOn("b", ""), false},
		{[][]string{{"hostname", "IS", "b"}}, running(), offerOn("b", ""), true},
	} {
		j := &Job{ID: "j", Cmd: "true", CPUs: 0.1, Mem: 16, Constraints: tc.constraints}
		if err := j.normalize(); err != nil {
			t.Fatalf("%v: %v", tc.constraints, err)
		}
		if got := constraintsAllow(j, tc.run, tc.offer); got != tc.want {
			t.Errorf("%v on %s (rack %v) with tasks on %v: allowed %v, want %v", tc.constraints, tc.offer.GetHostname(),
				tc.offer.GetAttributes(), tc.run.Tasks, got, tc.want)
		}
	}
	for _, bad := range [][]string{{"rack", "LIKE", "("}, {"hostname", "MAX_PER", "0"}, {"hostname", "NEAR", "a"}, {"", "UNIQUE"}} {
		j := &Job{ID: "j", Cmd: "true", CPUs: 0.1, Mem: 16, Constraints: [][]string{bad}}
		if err := j.normalize(); err == nil {
			t.Errorf("constraint %q accepted", bad)
		}
	}
}

package core

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

func TestCallLimits(t *testing.T) {
	task := func(labels int, name string) *mesospb.TaskInfo {
		ti := &mesospb.TaskInfo{Name: proto.String(name), TaskId: &mesospb.TaskID{Value: proto.String("t")},
			AgentId: &mesospb.AgentID{Value: proto.String("a")}, Command: &mesospb.CommandInfo{Value: proto.String("true")}}
		if labels > 0 {
			ti.Labels = &mesospb.Labels{}
			for range labels {
				ti.Labels.Labels = append(ti.Labels.Labels, &mesospb.Label{Key: proto.String("k")})
			}
		}
		return ti
	}
	accept := func(ops ...*mesospb.Offer_Operation) *schedulerpb.Call {
		return &schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
			Accept: &schedulerpb.Call_Accept{OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}}, Operations: ops}}
	}
	launch := func(tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
		return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks}}
	}
	many := func(n int) []*mesospb.Offer_Operation {
		out := make([]*mesospb.Offer_Operation, n)
		for i := range out {
			out[i] = launch(task(0, "x"))
		}
		return out
	}
	manyTasks := make([]*mesospb.TaskInfo, maxTasksPerACCEPT+1)
	for i := range manyTasks {
		manyTasks[i] = task(0, "x")
	}
	for _, c := range []struct {
		name string
		call *schedulerpb.Call
		want string
	}{
		{"fine", accept(launch(task(maxLabels, "ok"))), ""},
		{"labels", accept(launch(task(0, "ok"), task(maxLabels+1, "ok"))), "'accept.operations[0].launch.task_infos[1].labels.labels' has 101 entries"},
		{"long name", accept(launch(task(0, strings.Repeat("n", maxStringBytes+1)))), "'accept.operations[0].launch.task_infos[0].name' is 65537 bytes"},
		{"operations", accept(many(maxOperationsPerACC + 1)...), "ACCEPT carries 1001 operations"},
		{"tasks", accept(launch(manyTasks...)), "ACCEPT launches 10001 tasks"},
		{"framework name", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
			FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String(strings.Repeat("n", maxStringBytes+1))}}},
			"'subscribe.framework_info.name' is 65537 bytes"},
	} {
		got := validateCall(c.call)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func BenchmarkValidateAccept(b *testing.B) {
	ops := make([]*mesospb.Offer_Operation, 0, 10)
	for range 10 {
		ops = append(ops, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
			TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("web"), TaskId: &mesospb.TaskID{Value: proto.String("web.1234")},
				AgentId: &mesospb.AgentID{Value: proto.String("a-S1")}, Command: &mesospb.CommandInfo{Value: proto.String("sleep 100")},
				Labels: &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("app"), Value: proto.String("web")}}}}}}})
	}
	call := &schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Accept: &schedulerpb.Call_Accept{OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}}, Operations: ops}}
	b.ReportAllocs()
	for b.Loop() {
		if msg := validateCall(call); msg != "" {
			b.Fatal(msg)
		}
	}
}

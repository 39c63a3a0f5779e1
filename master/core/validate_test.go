package core

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

func fwInfo(mutate func(*mesospb.FrameworkInfo)) *mesospb.FrameworkInfo {
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("test")}
	if mutate != nil {
		mutate(info)
	}
	return info
}

func multiRole(info *mesospb.FrameworkInfo) {
	info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{
		Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum(),
	})
}

func TestValidateFrameworkInfo(t *testing.T) {
	tests := []struct {
		name       string
		info       *mesospb.FrameworkInfo
		suppressed []string
		wantRoles  []string
		wantErr    string
	}{
		{name: "default role", info: fwInfo(nil), wantRoles: []string{"*"}},
		{name: "single role", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.Role = proto.String("web") }), wantRoles: []string{"web"}},
		{name: "multi role", info: fwInfo(func(i *mesospb.FrameworkInfo) {
			multiRole(i)
			i.Roles = []string{"a", "b/c"}
		}), wantRoles: []string{"a", "b/c"}},
		{name: "roles without capability", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.Roles = []string{"a"} }),
			wantErr: "requires the MULTI_ROLE capability"},
		{name: "role with capability", info: fwInfo(func(i *mesospb.FrameworkInfo) {
			multiRole(i)
			i.Role = proto.String("a")
		}), wantErr: "must not be set together"},
		{name: "duplicate roles", info: fwInfo(func(i *mesospb.FrameworkInfo) {
			multiRole(i)
			i.Roles = []string{"a", "a"}
		}), wantErr: "duplicate role"},
		{name: "bad role name", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.Role = proto.String("..") }), wantErr: "invalid role"},
		{name: "no user", info: &mesospb.FrameworkInfo{Name: proto.String("x")}, wantErr: "user"},
		{name: "no name", info: &mesospb.FrameworkInfo{User: proto.String("x")}, wantErr: "name"},
		{name: "NaN failover", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(math.NaN()) }),
			wantErr: "failover_timeout"},
		{name: "negative failover", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(-1) }),
			wantErr: "failover_timeout"},
		{name: "huge failover", info: fwInfo(func(i *mesospb.FrameworkInfo) { i.FailoverTimeout = proto.Float64(1e12) }),
			wantErr: "failover_timeout"},
		{name: "suppressed role not subscribed", info: fwInfo(nil), suppressed: []string{"web"}, wantErr: "suppressed role"},
		{name: "suppressed role subscribed", info: fwInfo(nil), suppressed: []string{"*"}, wantRoles: []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roles, err := validateFrameworkInfo(tt.info, tt.suppressed)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if strings.Join(roles, ",") != strings.Join(tt.wantRoles, ",") {
				t.Fatalf("roles = %v, want %v", roles, tt.wantRoles)
			}
		})
	}
}

func TestValidateCall(t *testing.T) {
	fid := &mesospb.FrameworkID{Value: proto.String("f1")}
	call := func(typ schedulerpb.Call_Type, mutate func(*schedulerpb.Call)) *schedulerpb.Call {
		c := &schedulerpb.Call{Type: typ.Enum(), FrameworkId: fid}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	tests := []struct {
		name    string
		call    *schedulerpb.Call
		wantErr string
	}{
		{"subscribe without body", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum()}, "subscribe"},
		{"subscribe ok", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(),
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(nil)}}, ""},
		{"subscribe id mismatch", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: fid,
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(nil)}}, "differs"},
		{"subscribe with a path as id", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(),
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("../../../../tmp/x")},
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(func(i *mesospb.FrameworkInfo) {
				i.Id = &mesospb.FrameworkID{Value: proto.String("../../../../tmp/x")}
			})}}, "Framework ID"},
		{"subscribe with a dot-dot id", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(),
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("..")},
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(func(i *mesospb.FrameworkInfo) {
				i.Id = &mesospb.FrameworkID{Value: proto.String("..")}
			})}}, "Framework ID"},
		{"subscribe again with its id", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: fid,
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo(func(i *mesospb.FrameworkInfo) { i.Id = fid })}}, ""},
		{"no framework id", &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}, "framework_id"},
		{"revive without body", call(schedulerpb.Call_REVIVE, nil), ""},
		{"accept without body", call(schedulerpb.Call_ACCEPT, nil), "accept"},
		{"decline empty", call(schedulerpb.Call_DECLINE, func(c *schedulerpb.Call) { c.Decline = &schedulerpb.Call_Decline{} }), ""},
		{"ack short uuid", call(schedulerpb.Call_ACKNOWLEDGE, func(c *schedulerpb.Call) {
			c.Acknowledge = &schedulerpb.Call_Acknowledge{
				AgentId: &mesospb.AgentID{Value: proto.String("a")}, TaskId: &mesospb.TaskID{Value: proto.String("t")},
				Uuid: []byte("short"),
			}
		}), "UUID"},
		{"ack ok", call(schedulerpb.Call_ACKNOWLEDGE, func(c *schedulerpb.Call) {
			c.Acknowledge = &schedulerpb.Call_Acknowledge{
				AgentId: &mesospb.AgentID{Value: proto.String("a")}, TaskId: &mesospb.TaskID{Value: proto.String("t")},
				Uuid: make([]byte, 16),
			}
		}), ""},
		{"kill without task", call(schedulerpb.Call_KILL, nil), "kill.task_id"},
		{"reconcile without body", call(schedulerpb.Call_RECONCILE, nil), "reconcile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validateCall(tt.call)
			if tt.wantErr == "" && got != "" {
				t.Fatalf("unexpected error %q", got)
			}
			if tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
				t.Fatalf("error %q does not mention %q", got, tt.wantErr)
			}
		})
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b", "a b", "a\x00", strings.Repeat("x", 256)} {
		if err := validateID("Task ID", id); err == nil {
			t.Errorf("validateID(%q) accepted an invalid ID", id)
		}
	}
	for _, id := range []string{"task-1", "web.1a2b", "x_y:z"} {
		if err := validateID("Task ID", id); err != nil {
			t.Errorf("validateID(%q) = %v", id, err)
		}
	}
}

func TestRefuseDuration(t *testing.T) {
	f := func(v float64) *mesospb.Filters { return &mesospb.Filters{RefuseSeconds: proto.Float64(v)} }
	tests := []struct {
		in   *mesospb.Filters
		want time.Duration
	}{
		{nil, 5 * time.Second},
		{&mesospb.Filters{}, 5 * time.Second},
		{f(0), 0},
		{f(2.5), 2500 * time.Millisecond},
		{f(-3), 5 * time.Second},
		{f(math.NaN()), 5 * time.Second},
		{f(1e12), maxRefuseSeconds * time.Second},
	}
	for _, tt := range tests {
		if got := refuseDuration(tt.in); got != tt.want {
			t.Errorf("refuseDuration(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatAndNormalizeResources(t *testing.T) {
	reserved := &mesospb.Resource{
		Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(2)},
		Reservations: []*mesospb.Resource_ReservationInfo{{
			Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng"), Principal: proto.String("ops"),
		}},
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("eng")},
	}
	unreserved := &mesospb.Resource{
		Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(64)},
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("eng")},
	}
	in := []*mesospb.Resource{reserved, unreserved}

	old := formatResources(in, capabilities{})
	if old[0].AllocationInfo != nil || old[0].GetRole() != "eng" || old[0].GetReservation().GetPrincipal() != "ops" || len(old[0].Reservations) != 0 {
		t.Fatalf("pre-refinement reserved resource = %v", old[0])
	}
	if old[1].Role == nil || old[1].GetRole() != "*" {
		t.Fatalf("pre-refinement unreserved resource should say role \"*\": %v", old[1])
	}
	modern := formatResources(in, capabilities{multiRole: true, refinement: true})
	if !proto.Equal(modern[0], reserved) || !proto.Equal(modern[1], unreserved) {
		t.Fatalf("post-refinement, multi-role resources changed: %v", modern)
	}
	// What an old-style framework sends back normalizes to what was offered.
	back := normalizeResources(old, "eng")
	for i := range in {
		if !proto.Equal(back[i], in[i]) {
			t.Errorf("normalize(format(r)) = %v, want %v", back[i], in[i])
		}
	}
	if !proto.Equal(in[0], reserved) {
		t.Fatal("formatResources modified its input")
	}
}

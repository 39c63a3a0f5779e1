package codec

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// FuzzCallRoundTrip decodes a scheduler Call with either codec and
// re-encodes it with both. Whatever the master accepted must survive:
// protobuf round-trips exactly, and the JSON we write is JSON our reader
// takes back and then round-trips unchanged (the writer replaces invalid
// UTF-8 and drops unknown fields, so the first JSON pass may lose those,
// but only the first).
func FuzzCallRoundTrip(f *testing.F) {
	for _, c := range []*schedulerpb.Call{
		{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{
			User: proto.String("root"), Name: proto.String("fw \"quoted\"\n"), FailoverTimeout: proto.Float64(1e300),
			Roles: []string{"web"}, Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}}}},
		{Type: schedulerpb.Call_ACCEPT.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
			Accept: &schedulerpb.Call_Accept{OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}}, Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{richTask()}}}}}},
		{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
			Acknowledge: &schedulerpb.Call_Acknowledge{TaskId: &mesospb.TaskID{Value: proto.String("t")},
				AgentId: &mesospb.AgentID{Value: proto.String("a")}, Uuid: []byte{0, 1, 2, 0xff, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}}},
		{Type: schedulerpb.Call_DECLINE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
			Decline: &schedulerpb.Call_Decline{Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(-1)}}},
	} {
		for _, c2 := range []Codec{Protobuf, JSON} {
			b, err := c2.Marshal(c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"DECLINE","decline":{"filters":{"refuse_seconds":"NaN"}},"framework_id":{"value":"\ud800"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range []Codec{Protobuf, JSON} {
			call := &schedulerpb.Call{}
			if in.Unmarshal(b, call) != nil {
				continue
			}
			pb, err := Protobuf.Marshal(call)
			if err != nil {
				t.Fatalf("%s: protobuf: %v", in.MediaType(), err)
			}
			back := &schedulerpb.Call{}
			if err := Protobuf.Unmarshal(pb, back); err != nil || !proto.Equal(call, back) {
				t.Fatalf("%s: protobuf round trip: %v\n%v\n%v", in.MediaType(), err, call, back)
			}
			js, err := JSON.Marshal(call)
			if err != nil {
				t.Fatalf("%s: json: %v", in.MediaType(), err)
			}
			again := &schedulerpb.Call{}
			if err := JSON.Unmarshal(js, again); err != nil {
				t.Fatalf("%s: our JSON does not decode: %v\n%s", in.MediaType(), err, js)
			}
			js2, _ := JSON.Marshal(again)
			third := &schedulerpb.Call{}
			if err := JSON.Unmarshal(js2, third); err != nil || !proto.Equal(again, third) {
				t.Fatalf("%s: JSON is not stable: %v\n%s\n%s", in.MediaType(), err, js, js2)
			}
		}
	})
}

func richTask() *mesospb.TaskInfo {
	return &mesospb.TaskInfo{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
		AgentId: &mesospb.AgentID{Value: proto.String("a")}, Command: &mesospb.CommandInfo{Value: proto.String("echo é \x01"),
			Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{Name: proto.String("A"), Value: proto.String("1")}}}},
		Resources: richOffer(1).GetResources(), Data: []byte{0, 0xff}}
}

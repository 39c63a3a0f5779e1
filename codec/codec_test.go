package codec

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

func richOffer(i int) *mesospb.Offer {
	return &mesospb.Offer{
		Id:          &mesospb.OfferID{Value: proto.String(fmt.Sprintf("o-%d", i))},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")},
		AgentId:     &mesospb.AgentID{Value: proto.String("agent")},
		Hostname:    proto.String("host \"quoted\"\n"),
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.5)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")},
				Reservations: []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(),
					Role: proto.String("web"), Principal: proto.String("ops")}}},
			{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
				{Begin: proto.Uint64(31000), End: proto.Uint64(32000)}, {Begin: proto.Uint64(1 << 40), End: proto.Uint64(1<<40 + 5)}}}},
			{Name: proto.String("disks"), Type: mesospb.Value_SET.Enum(), Set: &mesospb.Value_Set{Item: []string{"a", "b"}}},
		},
	}
}

func roundTripMessages() []proto.Message {
	return []proto.Message{
		richOffer(1),
		&mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_STARTING.Enum(),
			Uuid: []byte{0, 1, 2, 250, 251, 252, 253, 254, 255, 9, 10, 11, 12, 13, 14, 15}, Timestamp: proto.Float64(1.7e9)},
		&schedulerpb.Event{Type: schedulerpb.Event_OFFERS.Enum(), Offers: &schedulerpb.Event_Offers{Offers: []*mesospb.Offer{richOffer(1), richOffer(2)}}},
		&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}},
			Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
				TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("n"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
					AgentId:    &mesospb.AgentID{Value: proto.String("a")},
					KillPolicy: &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(-5_000_000_000)}},
					Command:    &mesospb.CommandInfo{Value: proto.String("echo"), Shell: proto.Bool(false)}}}}}},
		}},
		&mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), OfferFilters: map[string]*mesospb.OfferFilters{
			"b": {}, "a": {MinAllocatableResources: &mesospb.OfferFilters_MinAllocatableResources{}}}},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, m := range roundTripMessages() {
		b, err := JSON.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := JSON.Unmarshal(b, got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !proto.Equal(got, m) {
			t.Errorf("round trip changed %T:\n%s", m, b)
		}
		// protojson, the reference reader, agrees.
		ref := m.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal(b, ref); err != nil || !proto.Equal(ref, m) {
			t.Errorf("protojson reads %s differently: %v", b, err)
		}
	}
}

func TestJSONLooksLikeMesos(t *testing.T) {
	b, _ := JSON.Marshal(richOffer(1))
	s := string(b)
	for _, want := range []string{`"begin":31000`, `"end":1099511627781`, `"framework_id":{"value":"fw"}`, `"type":"RANGES"`, `"allocation_info":{"role":"web"}`, `"value":0.5`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s:\n%s", want, s)
		}
	}
	st, _ := JSON.Marshal(&mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_STARTING.Enum(), Uuid: []byte{0xfb, 0xff}})
	if string(st) != `{"task_id":{"value":"t"},"state":"TASK_STARTING","uuid":"+/8="}` {
		t.Errorf("TaskStatus JSON = %s", st)
	}
	nan, _ := JSON.Marshal(&mesospb.Value_Scalar{Value: proto.Float64(math.NaN())})
	if string(nan) != `{"value":"NaN"}` {
		t.Errorf("NaN = %s", nan)
	}
}

func TestJSONReadsWhatClientsSend(t *testing.T) {
	in := `{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":null,"unknownField":3,"allocationInfo":{"role":"r"}}`
	var r mesospb.Resource
	if err := JSON.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.GetAllocationInfo().GetRole() != "r" || len(r.Reservations) != 0 {
		t.Fatalf("decoded %v", &r)
	}
	var rg mesospb.Value_Range
	if err := JSON.Unmarshal([]byte(`{"begin":"5","end":6}`), &rg); err != nil || rg.GetBegin() != 5 || rg.GetEnd() != 6 {
		t.Fatalf("quoted and bare 64-bit ints: %v, %v", &rg, err)
	}
}

func TestProtobufAllowsMissingRequiredFields(t *testing.T) {
	b, err := Protobuf.Marshal(&mesospb.TaskStatus{State: mesospb.TaskState_TASK_RUNNING.Enum()})
	if err != nil {
		t.Fatal(err)
	}
	var st mesospb.TaskStatus
	if err := Protobuf.Unmarshal(b, &st); err != nil || st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("got %v, %v", &st, err)
	}
	if err := Protobuf.Unmarshal([]byte{0xff, 0xff}, &st); err == nil {
		t.Fatal("garbage decoded without error")
	}
}

func TestContentTypeAndAccept(t *testing.T) {
	for ct, want := range map[string]error{"": ErrNoContentType, "text/plain": ErrUnsupportedContentType,
		"application/json; charset=utf-8": ErrUnsupportedContentType, "application/json": nil, "application/x-protobuf": nil} {
		if _, err := ForContentType(ct); !errors.Is(err, want) {
			t.Errorf("ForContentType(%q) = %v, want %v", ct, err, want)
		}
	}
	tests := []struct {
		accept string
		want   Codec
	}{
		{"", JSON},
		{"*/*", JSON},
		{"application/x-protobuf, application/x-protobuf", Protobuf},
		{"application/x-protobuf;q=0.5, application/json", JSON},
		{"application/json;q=0, application/x-protobuf", Protobuf},
		{"text/html", nil},
	}
	for _, tt := range tests {
		got, err := Negotiate(tt.accept)
		if tt.want == nil {
			if !errors.Is(err, ErrNotAcceptable) {
				t.Errorf("Negotiate(%q) = %v, %v; want ErrNotAcceptable", tt.accept, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Negotiate(%q) = %v, %v; want %s", tt.accept, got, err, tt.want.MediaType())
		}
	}
}

func offersEvent() *schedulerpb.Event {
	ev := &schedulerpb.Event{Type: schedulerpb.Event_OFFERS.Enum(), Offers: &schedulerpb.Event_Offers{}}
	for i := range 100 {
		ev.Offers.Offers = append(ev.Offers.Offers, richOffer(i))
	}
	return ev
}

func BenchmarkMarshalOffers(b *testing.B) {
	ev := offersEvent()
	for _, c := range []Codec{Protobuf, JSON} {
		b.Run(c.MediaType(), func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Marshal(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshalOffers(b *testing.B) {
	ev := offersEvent()
	for _, c := range []Codec{Protobuf, JSON} {
		data, _ := c.Marshal(ev)
		b.Run(c.MediaType(), func(b *testing.B) {
			for b.Loop() {
				if err := c.Unmarshal(data, &schedulerpb.Event{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package sdk

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func TestSpacePacksTasks(t *testing.T) {
	res, _ := resources.Parse("cpus:1;mem:256;ports:[31000-31002]", "*")
	offer := &mesospb.Offer{
		Id: &mesospb.OfferID{Value: proto.String("o")}, AgentId: &mesospb.AgentID{Value: proto.String("a")},
		Resources:      res.Allocate("web"),
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")},
	}
	s := NewSpace(offer)
	first, ok := s.Take(0.4, 100, 0, 2)
	if !ok {
		t.Fatal("first task did not fit")
	}
	for _, r := range first {
		if r.GetAllocationInfo().GetRole() != "web" {
			t.Fatalf("task resource %v lacks the offer's role", r)
		}
	}
	if got := resources.Resources(first).Ranges("ports"); len(got) != 1 || got[0].GetBegin() != 31000 || got[0].GetEnd() != 31001 {
		t.Fatalf("ports = %v", got)
	}
	if _, ok := s.Take(0.4, 100, 0, 2); ok {
		t.Fatal("a second task needing two ports fit where one is left")
	}
	if _, ok := s.Take(0.4, 100, 0, 1); !ok {
		t.Fatal("a task needing one port should fit")
	}
	if _, ok := s.Take(0.4, 10, 0, 0); ok {
		t.Fatal("more cpus than left were taken")
	}
	if left := s.Left(); left.ScalarValue("cpus") != 0.2 || left.ScalarValue("mem") != 56 {
		t.Fatalf("left = %s", left)
	}
}

func TestStaticDetector(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:5050": "127.0.0.1:5050", "http://m:5050/api/v1/scheduler": "m:5050"} {
		d, err := StaticDetector(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := d.Leader(t.Context()); got != want {
			t.Errorf("StaticDetector(%q) = %q", in, got)
		}
	}
	if _, err := StaticDetector("no-port"); err == nil {
		t.Error("accepted a master without a port")
	}
}

func TestFileIDStore(t *testing.T) {
	s := FileIDStore{Path: t.TempDir() + "/id"}
	if id, err := s.Load(); err != nil || id != "" {
		t.Fatalf("empty store: %q, %v", id, err)
	}
	if err := s.Save("fw-1"); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.Load(); id != "fw-1" {
		t.Fatalf("loaded %q", id)
	}
}

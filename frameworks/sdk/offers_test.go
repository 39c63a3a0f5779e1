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

func TestTakePortsHonoursWantedPorts(t *testing.T) {
	o := &mesospb.Offer{Resources: []*mesospb.Resource{
		resources.Scalar("cpus", 1), resources.Scalar("mem", 64),
		{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
			{Begin: proto.Uint64(31000), End: proto.Uint64(31002)}, {Begin: proto.Uint64(32000), End: proto.Uint64(32000)}}}},
	}}
	s := NewSpace(o)
	if why := s.Shortfall(0.5, 32, 0, []uint64{31005}); why != "ports" {
		t.Fatalf("Shortfall for a port not offered = %q, want ports", why)
	}
	if why := s.Shortfall(2, 32, 0, nil); why != "cpus" {
		t.Fatalf("Shortfall for 2 cpus = %q, want cpus", why)
	}
	res, ports, ok := s.TakePorts(0.5, 32, 0, []uint64{0, 31000, 0})
	if !ok {
		t.Fatal("TakePorts failed")
	}
	if n := len(resources.Resources(res).Ranges("ports")); n == 0 {
		t.Fatal("no ports resource")
	}
	if len(ports) != 3 || ports[0] != 31001 || ports[1] != 31000 || ports[2] != 31002 {
		t.Fatalf("ports = %v, want [31001 31000 31002] in the order asked", ports)
	}
	if _, _, ok := s.TakePorts(0.1, 1, 0, []uint64{31000}); ok {
		t.Fatal("a port taken twice")
	}
	if _, _, ok := s.TakePorts(0.1, 1, 0, []uint64{0}); !ok {
		t.Fatal("the last free port (32000) was not found")
	}
}

func TestWithImage(t *testing.T) {
	o := &mesospb.Offer{AgentId: &mesospb.AgentID{Value: proto.String("a")}}
	ti := CommandTask("t", "t", o, "", nil)
	ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("web-0")}
	WithImage(ti, "reg:5000/web:1", true)
	img := ti.GetContainer().GetMesos().GetImage()
	if img.GetType() != mesospb.Image_DOCKER || img.GetDocker().GetName() != "reg:5000/web:1" || img.GetCached() ||
		ti.GetContainer().GetHostname() != "web-0" || ti.GetCommand().GetShell() || ti.GetCommand().Value != nil {
		t.Fatalf("task %v", ti)
	}
	ti = CommandTask("t", "t", o, "exec web", nil)
	WithImage(ti, "web:1", false)
	if !ti.GetCommand().GetShell() || ti.GetCommand().GetValue() != "exec web" || ti.GetContainer().GetMesos().GetImage().Cached != nil {
		t.Fatalf("task %v", ti)
	}
}

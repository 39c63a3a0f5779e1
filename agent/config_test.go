package agent

import (
	"strings"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
)

func TestParseAttributes(t *testing.T) {
	attrs, err := ParseAttributes("rack:a; zone:z1;weight:2.5;ports:[1-3];disks:{x,y}")
	if err != nil {
		t.Fatal(err)
	}
	want := []mesospb.Value_Type{mesospb.Value_TEXT, mesospb.Value_TEXT, mesospb.Value_SCALAR, mesospb.Value_RANGES, mesospb.Value_SET}
	if len(attrs) != len(want) {
		t.Fatalf("got %d attributes", len(attrs))
	}
	for i, a := range attrs {
		if a.GetType() != want[i] {
			t.Errorf("%s is %v, want %v", a.GetName(), a.GetType(), want[i])
		}
	}
	if attrs[0].GetText().GetValue() != "a" || attrs[2].GetScalar().GetValue() != 2.5 {
		t.Errorf("values: %v", attrs)
	}
	for _, bad := range []string{"rack", ":x", "p:[3-1]"} {
		if _, err := ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q) accepted", bad)
		}
	}
}

func TestResourcesAreDetectedWhereNotGiven(t *testing.T) {
	r, err := agentResources("cpus:2", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.ScalarValue("cpus") != 2 || r.ScalarValue("mem") <= 0 || r.ScalarValue("disk") <= 0 || len(r.Ranges("ports")) != 1 {
		t.Fatalf("resources = %s", r)
	}
	if _, err := agentResources("cpus:-2", t.TempDir()); err == nil {
		t.Fatal("negative cpus accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Addr: "127.0.0.1:1", WorkDir: "/tmp"},
		{Master: "m:1", WorkDir: "/tmp"},
		{Master: "m:1", Addr: "127.0.0.1:1"},
		{Master: "m:1", Addr: "127.0.0.1:1", WorkDir: t.TempDir(), Isolation: "docker"},
		{Master: "m:1", Addr: "127.0.0.1:1", WorkDir: t.TempDir(), CgroupsRoot: "relative"},
		{Master: "m:1", Addr: "127.0.0.1:1", WorkDir: t.TempDir(), ContainerPidsLimit: -1},
		{Master: "m", Addr: "127.0.0.1:1", WorkDir: t.TempDir()},
	} {
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "agent: ") {
			t.Errorf("New(%+v) = %v, want a clear error", c, err)
		}
	}
}

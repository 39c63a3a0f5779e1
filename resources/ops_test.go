package resources

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func dynamic(x *mesospb.Resource, role, principal string) *mesospb.Resource {
	x = Normalize(x)
	x.Reservations = append(x.Reservations, &mesospb.Resource_ReservationInfo{
		Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role), Principal: proto.String(principal)})
	return x
}

func volume(x *mesospb.Resource, id, path string) *mesospb.Resource {
	x = proto.CloneOf(x)
	x.Disk = &mesospb.Resource_DiskInfo{
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(id)},
		Volume:      &mesospb.Volume{ContainerPath: proto.String(path), Mode: mesospb.Volume_RW.Enum()},
	}
	return x
}

func TestReserveCreateDestroyUnreserveRoundTrip(t *testing.T) {
	total := mustParse(t, "cpus:4;mem:4096;disk:1000")
	disk := dynamic(Scalar("disk", 200), "db", "ops")
	cpus := dynamic(Scalar("cpus", 1), "db", "ops")
	reserve, err := Reserve(Resources{disk, cpus})
	if err != nil {
		t.Fatal(err)
	}
	reserved, err := total.Apply(reserve)
	if err != nil {
		t.Fatal(err)
	}
	if got := reserved.Unreserved().ScalarValue("disk"); got != 800 {
		t.Fatalf("after reserving 200 disk, %v unreserved disk left", got)
	}
	vol := volume(disk, "data", "data")
	create, err := Create(Resources{vol})
	if err != nil {
		t.Fatal(err)
	}
	withVolume, err := reserved.Apply(create)
	if err != nil {
		t.Fatal(err)
	}
	if cp := withVolume.Checkpointed(); len(cp) != 2 || !cp.Contains(Resources{vol}) {
		t.Fatalf("checkpointed = %s, want the volume and the reserved cpu", cp)
	}
	// The agent's total comes back from its configuration and checkpoint.
	rebuilt, rejected := ApplyCheckpointed(total, withVolume.Checkpointed())
	if len(rejected) != 0 || !rebuilt.Equal(withVolume) {
		t.Fatalf("rebuilt %s (rejected %s), want %s", rebuilt, rejected, withVolume)
	}
	if _, err := Unreserve(Resources{vol}); err == nil {
		t.Fatal("unreserved a volume's disk without destroying it")
	}
	destroy, err := Destroy(Resources{vol})
	if err != nil {
		t.Fatal(err)
	}
	back, err := withVolume.Apply(destroy)
	if err != nil {
		t.Fatal(err)
	}
	unreserve, err := Unreserve(Resources{disk, cpus})
	if err != nil {
		t.Fatal(err)
	}
	final, err := back.Apply(unreserve)
	if err != nil {
		t.Fatal(err)
	}
	if !final.Equal(total) {
		t.Fatalf("after the round trip: %s, want %s", final, total)
	}
}

func TestConversionsRefuseBadInput(t *testing.T) {
	disk := dynamic(Scalar("disk", 200), "db", "ops")
	static := mustParse(t, "disk(db):100")
	for name, err := range map[string]error{
		"reserve without reservation": second(Reserve(Resources{Scalar("cpus", 1)})),
		"reserve a static one":        second(Reserve(static)),
		"unreserve unreserved":        second(Unreserve(Resources{Scalar("cpus", 1)})),
		"unreserve static":            second(Unreserve(static)),
		"volume on unreserved disk":   second(Create(Resources{volume(Scalar("disk", 10), "v", "data")})),
		"volume without id":           second(Create(Resources{volume(disk, "", "data")})),
		"absolute path":               second(Create(Resources{volume(disk, "v", "/etc")})),
		"path leaving the sandbox":    second(Create(Resources{volume(disk, "v", "a/../../x")})),
		"id with a slash":             second(Create(Resources{volume(disk, "a/b", "data")})),
		"volume of cpus":              second(Create(Resources{volume(dynamic(Scalar("cpus", 1), "db", ""), "v", "data")})),
	} {
		if err == nil || strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := mustParse(t, "disk:100").Apply(Conversion{Consumed: Resources{Scalar("disk", 200)}}); err == nil {
		t.Error("applied a conversion consuming more than there is")
	}
}

func second(_ Conversion, err error) error { return err }

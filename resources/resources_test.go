package resources

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func mustParse(t testing.TB, s string) Resources {
	t.Helper()
	r, err := Parse(s, "*")
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return r
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		a, b, sum, diff string
		contains        bool
	}{
		{"cpus:1;mem:512", "cpus:0.5", "cpus:1.5;mem:512", "cpus:0.5;mem:512", true},
		{"cpus:0.1", "cpus:0.2", "cpus:0.3", "", false},
		{"ports:[1-10]", "ports:[4-5]", "ports:[1-10]", "ports:[1-3,6-10]", true},
		{"ports:[1-3]", "ports:[4-6]", "ports:[1-6]", "ports:[1-3]", false},
		{"disks:{a,b}", "disks:{b,c}", "disks:{a,b,c}", "disks:{a}", false},
		{"cpus:2;cpus(eng):1", "cpus(eng):1", "cpus:2;cpus(eng):2", "cpus:2", true},
		{"cpus:1", "cpus(eng):1", "cpus:1;cpus(eng):1", "cpus:1", false},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.a), mustParse(t, tt.b)
		if got := a.Add(b).String(); got != mustParse(t, tt.sum).String() {
			t.Errorf("%s + %s = %s, want %s", tt.a, tt.b, got, tt.sum)
		}
		if got := a.Subtract(b).String(); got != mustParse(t, tt.diff).String() {
			t.Errorf("%s - %s = %s, want %s", tt.a, tt.b, got, tt.diff)
		}
		if got := a.Contains(b); got != tt.contains {
			t.Errorf("%s contains %s = %v, want %v", tt.a, tt.b, got, tt.contains)
		}
	}
}

func TestFixedPoint(t *testing.T) {
	r := Resources{Scalar("cpus", 0.1)}.Add(Resources{Scalar("cpus", 0.2)})
	if r.ScalarValue("cpus") != 0.3 {
		t.Fatalf("0.1 + 0.2 = %v, want 0.3", r.ScalarValue("cpus"))
	}
	left := Resources{Scalar("cpus", 1)}
	for range 10 {
		left = left.Subtract(Resources{Scalar("cpus", 0.1)})
	}
	if !left.Empty() {
		t.Fatalf("1 - 10*0.1 left %s", left)
	}
}

func TestReservationsAndAllocation(t *testing.T) {
	r := mustParse(t, "cpus:4;cpus(eng):2;mem(eng/backend):64;mem(ops):8")
	if got := r.AllocatableTo("eng/backend").String(); got != "cpus:4;cpus(eng):2;mem(eng/backend):64" {
		t.Errorf("AllocatableTo(eng/backend) = %s", got)
	}
	if got := r.Unreserved().String(); got != "cpus:4" {
		t.Errorf("Unreserved = %s", got)
	}
	a := r.Allocate("eng")
	for _, x := range a {
		if x.GetAllocationInfo().GetRole() != "eng" {
			t.Fatalf("Allocate left %v without a role", x)
		}
	}
	if a.Contains(r) || !a.Unallocate().Equal(r) {
		t.Error("allocated resources must differ from unallocated ones and come back with Unallocate")
	}
	// The pre-refinement shape means the same as the stack.
	old := &mesospb.Resource{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(2)}, Role: proto.String("eng")}
	if !r.Contains(Resources{old}) {
		t.Error("a role-field reservation should match its reservations-stack form")
	}
}

func TestPersistentVolumesAreAtomic(t *testing.T) {
	vol := &mesospb.Resource{Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(100)},
		Disk:   &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("v1")}}}
	r := Resources{vol}.Add(Resources{vol})
	if len(r) != 2 {
		t.Fatalf("two volumes merged: %v", r)
	}
	half := proto.CloneOf(vol)
	half.Scalar.Value = proto.Float64(50)
	if r.Contains(Resources{half}) {
		t.Error("part of a volume must not be contained")
	}
	if len(r.Subtract(Resources{vol})) != 1 {
		t.Error("subtracting a volume should remove exactly one")
	}
}

func TestValidate(t *testing.T) {
	bad := []*mesospb.Resource{
		Scalar("cpus", -1), Scalar("cpus", math.NaN()), Scalar("cpus", math.Inf(1)), Scalar("", 1),
		{Name: proto.String("x"), Type: mesospb.Value_SCALAR.Enum()},
		{Name: proto.String("p"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{
			Range: []*mesospb.Value_Range{{Begin: proto.Uint64(5), End: proto.Uint64(1)}}}},
		Set("s", "a", "a"),
	}
	for _, r := range bad {
		if err := (Resources{r}).Validate(); err == nil {
			t.Errorf("Validate accepted %v", r)
		}
	}
	if err := mustParse(t, "cpus:1;ports:[1-2];s:{a}").Validate(); err != nil {
		t.Error(err)
	}
}

func TestParse(t *testing.T) {
	good := map[string]string{
		"cpus:4;mem:4096;disk:20000;ports:[31000-32000]":         "cpus:4;disk:20000;mem:4096;ports:[31000-32000]",
		" cpus(eng) : 2 ; cpus:1 ":                               "cpus:1;cpus(eng):2",
		"ports:[1-2, 5-6, 3-4]":                                  "ports:[1-6]",
		"gpus:{a,b}":                                             "gpus:{a,b}",
		`[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]`: "cpus:2",
	}
	for in, want := range good {
		r, err := Parse(in, "*")
		if err != nil || r.String() != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"cpus", "cpus:x", "cpus:-1", "ports:[5-1]", "ports:[1-2", "cpus(:1", "cpus(..):1", ":3", "cpus:NaN", "[not json"} {
		if _, err := Parse(in, "*"); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestValidateRole(t *testing.T) {
	for _, r := range []string{"web", "eng/backend", "a.b", "x-y"} {
		if err := ValidateRole(r); err != nil {
			t.Errorf("ValidateRole(%q) = %v", r, err)
		}
	}
	for _, r := range []string{"", "*", ".", "..", "/a", "a/", "a//b", "-a", "a b", "a/./b"} {
		if ValidateRole(r) == nil {
			t.Errorf("ValidateRole(%q) accepted", r)
		}
	}
	if !IsAncestor("eng", "eng/backend") || IsAncestor("eng", "engineering") || IsAncestor("eng", "eng") {
		t.Error("IsAncestor is wrong")
	}
}

// randomBag makes a bag of resources from a seeded generator.
func randomBag(rng *rand.Rand) Resources {
	var r Resources
	for range rng.IntN(6) {
		switch rng.IntN(4) {
		case 0:
			r = append(r, Scalar("cpus", float64(rng.IntN(8000))/1000))
		case 1:
			x := Scalar("mem", float64(rng.IntN(4096)))
			x.Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("eng")}}
			r = append(r, x)
		case 2:
			b := uint64(rng.IntN(100))
			r = append(r, Range("ports", b, b+uint64(rng.IntN(20))))
		default:
			r = append(r, Set("disks", []string{"a", "b", "c"}[:1+rng.IntN(3)]...))
		}
	}
	return r.Clone()
}

func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		a, b := randomBag(rng), randomBag(rng)
		// Ranges and sets unite rather than count (as in Mesos), so the
		// round trip is a law for scalars only.
		noSets := b.Filter(func(x *mesospb.Resource) bool { return x.GetType() == mesospb.Value_SCALAR })
		if !a.Add(noSets).Subtract(noSets).Equal(a) {
			t.Fatalf("#%d: (a+b)-b != a for a=%s b=%s: got %s", i, a, noSets, a.Add(noSets).Subtract(noSets))
		}
		if !a.Add(b).Equal(b.Add(a)) {
			t.Fatalf("#%d: a+b != b+a for a=%s b=%s", i, a, b)
		}
		d := a.Subtract(b)
		if !a.Contains(d) {
			t.Fatalf("#%d: a does not contain a-b for a=%s b=%s", i, a, b)
		}
		for _, x := range d {
			if x.GetType() == mesospb.Value_SCALAR && x.GetScalar().GetValue() <= 0 {
				t.Fatalf("#%d: a-b has a non-positive scalar: %s", i, d)
			}
		}
		if !a.Add(b).Contains(b) {
			t.Fatalf("#%d: a+b does not contain b", i)
		}
	}
}

// Contains answers without copies when it can (containsDistinct); its
// answer is always the general one's, over random bags and over a bag's
// own parts, halves and duplicates.
func TestContainsShortcutAgreesWithSubtracting(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shortcuts := 0
	for i := range 5000 {
		a, b := randomBag(rng), randomBag(rng)
		for _, o := range []Resources{b, a.Subtract(b), a.Add(b), b[:len(b)/2], append(b.Clone(), b...), nil} {
			if _, ok := a.containsDistinct(o); ok {
				shortcuts++
			}
			if got, want := a.Contains(o), a.containsBySubtracting(o); got != want {
				t.Fatalf("#%d: %s contains %s: %v, subtracting says %v", i, a, o, got, want)
			}
		}
	}
	if shortcuts == 0 {
		t.Fatal("the shortcut never applied")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"cpus:4;mem:4096;ports:[31000-32000]", "cpus(eng):1", "s:{a,b}", "[]", ";;", "x:[1-2,3]", ";[:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(in, "*")
		if err != nil {
			return
		}
		again, err := Parse(Format(r), "*")
		if err != nil {
			if strings.HasPrefix(strings.TrimSpace(in), "[") {
				return // JSON can say more than the text form
			}
			t.Fatalf("Parse(Format(%q)) = %v (formatted %q)", in, err, Format(r))
		}
		if Format(again) != Format(r) {
			t.Fatalf("Format is not stable: %q then %q", Format(r), Format(again))
		}
	})
}

func agentBag(b *testing.B) Resources {
	r, err := Parse("cpus:32;mem:65536;disk:100000;cpus(eng):4;mem(eng):1024;ports:[31000-31010,31020-31030,31040-31050,31060-31070,31080-31090,31100-31110,31120-31130,31140-31150,31160-31170,31180-31190]", "*")
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkAdd(b *testing.B) {
	a, t := agentBag(b), mustParse(b, "cpus:0.5;mem:128;ports:[31005-31005]")
	for b.Loop() {
		_ = a.Add(t)
	}
}

func BenchmarkSubtract(b *testing.B) {
	a, t := agentBag(b), mustParse(b, "cpus:0.5;mem:128;ports:[31005-31005]")
	for b.Loop() {
		_ = a.Subtract(t)
	}
}

func BenchmarkContains(b *testing.B) {
	a, t := agentBag(b), mustParse(b, "cpus:0.5;mem:128;ports:[31005-31005]")
	for b.Loop() {
		_ = a.Contains(t)
	}
}

package pets

import (
	"reflect"
	"testing"
	"time"
)

// pets builds a set's pets from phases: "" none, "p" placed only,
// "r" running not ready, "R" ready, "k" stopping, "u" in doubt; a digit
// after the letter is the revision (default 1).
func petsFor(phases ...string) []*Pet {
	out := make([]*Pet, len(phases))
	for k, ph := range phases {
		if ph == "" {
			continue
		}
		p := &Pet{Set: "db", Ordinal: k, Name: petName("db", k), Placement: &Placement{ID: "pl"}, Revision: 1, Incarnation: 1}
		if len(ph) > 1 {
			p.Revision = int(ph[1] - '0')
		}
		switch ph[0] {
		case 'p':
			p.Incarnation = 0
		case 'r':
			p.TaskID, p.State = "t", "TASK_RUNNING"
		case 'R':
			p.TaskID, p.State, p.Ready = "t", "TASK_RUNNING", true
		case 'k':
			p.TaskID, p.State, p.Killing = "t", "TASK_RUNNING", "x"
		case 'u':
			p.TaskID, p.State, p.InDoubt = "t", "TASK_UNREACHABLE", "x"
		}
		out[k] = p
	}
	return out
}

func setSpec(n int, policy string, strategy *UpdateStrategy) *PetSet {
	s := &PetSet{ID: "db", Instances: n, Cmd: "x", CPUs: 1, PodManagementPolicy: policy, UpdateStrategy: strategy}
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &UpdateStrategy{Type: RollingUpdate}
	}
	return s
}

func TestPlan(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name     string
		spec     *PetSet
		rev      int
		deleting bool
		pets     []*Pet
		place    []int
		launch   []int
		stop     map[int]string
	}{
		{name: "new set places every pet at once, launches none before all are placed",
			spec: setSpec(3, OrderedReady, nil), rev: 1, pets: nil, place: []int{0, 1, 2}},
		{name: "ordered: only pet 0 first",
			spec: setSpec(3, OrderedReady, nil), rev: 1, pets: petsFor("p", "p", "p"), launch: []int{0}},
		{name: "ordered: pet 1 waits while pet 0 is not ready",
			spec: setSpec(3, OrderedReady, nil), rev: 1, pets: petsFor("r", "p", "p")},
		{name: "ordered: pet 1 once pet 0 is ready",
			spec: setSpec(3, OrderedReady, nil), rev: 1, pets: petsFor("R", "p", "p"), launch: []int{1}},
		{name: "parallel: all at once",
			spec: setSpec(3, Parallel, nil), rev: 1, pets: petsFor("p", "p", "p"), launch: []int{0, 1, 2}},
		{name: "first launch waits for every peer's placement",
			spec: setSpec(3, Parallel, nil), rev: 1, pets: petsFor("p", "p", ""), place: []int{2}},
		{name: "ordered scale down: highest first, one at a time",
			spec: setSpec(1, OrderedReady, nil), rev: 1, pets: petsFor("R", "R", "R"), stop: map[int]string{2: stopScaleDown}},
		{name: "ordered scale down waits for the stopping successor",
			spec: setSpec(1, OrderedReady, nil), rev: 1, pets: petsFor("R", "R", "k"), stop: map[int]string{}},
		{name: "parallel scale down: all at once",
			spec: setSpec(1, Parallel, nil), rev: 1, pets: petsFor("R", "R", "R"), stop: map[int]string{1: stopScaleDown, 2: stopScaleDown}},
		{name: "delete stops the highest first",
			spec: setSpec(3, OrderedReady, nil), rev: 1, deleting: true, pets: petsFor("R", "R", "R"), stop: map[int]string{2: stopDelete}},
		{name: "rolling update starts at the highest ordinal",
			spec: setSpec(3, OrderedReady, nil), rev: 2, pets: petsFor("R", "R", "R"), stop: map[int]string{2: stopUpdate}},
		{name: "rolling update goes down once the updated pet is ready",
			spec: setSpec(3, OrderedReady, nil), rev: 2, pets: petsFor("R", "R", "R2"), stop: map[int]string{1: stopUpdate}},
		{name: "rolling update waits while a pet is not ready",
			spec: setSpec(3, OrderedReady, nil), rev: 2, pets: petsFor("R", "R", "r2"), stop: map[int]string{}},
		{name: "rolling update stops at the partition",
			spec: setSpec(3, OrderedReady, &UpdateStrategy{Type: RollingUpdate, Partition: 1}), rev: 2, pets: petsFor("R", "R2", "R2"), stop: map[int]string{}},
		{name: "OnDelete never updates by itself",
			spec: setSpec(3, OrderedReady, &UpdateStrategy{Type: OnDelete}), rev: 2, pets: petsFor("R", "R", "R"), stop: map[int]string{}},
		{name: "a pet in doubt is neither relaunched nor stopped, and blocks the next",
			spec: setSpec(3, OrderedReady, nil), rev: 1, pets: petsFor("u", "p", "p"), stop: map[int]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := makePlan(planInput{Spec: tc.spec, Revision: tc.rev, Deleting: tc.deleting, Pets: tc.pets, Now: now})
			if tc.stop == nil {
				tc.stop = map[int]string{}
			}
			if !reflect.DeepEqual(got.Place, tc.place) || !reflect.DeepEqual(got.Launch, tc.launch) || !reflect.DeepEqual(got.Stop, tc.stop) {
				t.Errorf("place %v launch %v stop %v, want %v %v %v (waiting %v)", got.Place, got.Launch, got.Stop, tc.place, tc.launch, tc.stop, got.Waiting)
			}
		})
	}
}

func TestPlanSaysWhyPetsWait(t *testing.T) {
	got := makePlan(planInput{Spec: setSpec(3, OrderedReady, nil), Revision: 1, Pets: petsFor("r", "p", ""), Now: time.Unix(0, 0)})
	if got.Waiting[1] != "waiting for db-0 to be running and ready" {
		t.Errorf("db-1 waits with %q", got.Waiting[1])
	}
	p := petsFor("p")
	p[0].NotBefore, p[0].Failures = time.Unix(10, 0), 2
	got = makePlan(planInput{Spec: setSpec(1, OrderedReady, nil), Revision: 1, Pets: p, Now: time.Unix(5, 0)})
	if len(got.Launch) != 0 || got.Waiting[0] == "" {
		t.Errorf("a pet backing off: launch %v waiting %q", got.Launch, got.Waiting[0])
	}
}

func TestTargetRevision(t *testing.T) {
	in := planInput{Spec: setSpec(3, OrderedReady, &UpdateStrategy{Type: RollingUpdate, Partition: 2}), Revision: 3, Pets: petsFor("p1", "p2", "p1")}
	if got := []int{in.targetRevision(0), in.targetRevision(1), in.targetRevision(2), in.targetRevision(5)}; !reflect.DeepEqual(got, []int{1, 2, 3, 3}) {
		t.Errorf("rolling update partition 2: revisions %v, want below the partition kept, at or above it current", got)
	}
	in.Spec.UpdateStrategy = &UpdateStrategy{Type: OnDelete}
	in.Pets[1].Restart = true
	if got := []int{in.targetRevision(0), in.targetRevision(1)}; !reflect.DeepEqual(got, []int{1, 3}) {
		t.Errorf("OnDelete: revisions %v, want kept unless restarted", got)
	}
}

func TestParseTaskID(t *testing.T) {
	for id, want := range map[string]struct {
		set string
		k   int
		ok  bool
	}{
		"db-1.3": {"db", 1, true}, "my-db-12.1": {"my-db", 12, true}, "db.1": {"", 0, false},
		"db-01.1": {"", 0, false}, "db-1.x": {"", 0, false}, "db-1": {"", 0, false},
	} {
		set, k, ok := parseTaskID(id)
		if set != want.set || k != want.k || ok != want.ok {
			t.Errorf("parseTaskID(%q) = %q %d %v, want %+v", id, set, k, ok, want)
		}
	}
}

package history

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// script builds a history by hand, one millisecond per event unless an
// event says when it happened.
type script struct {
	t0     time.Time
	events []Event
}

func newScript() *script { return &script{t0: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (s *script) at(ms int) time.Time { return s.t0.Add(time.Duration(ms) * time.Millisecond) }

func (s *script) add(e Event) Event {
	e.Seq = len(s.events) + 1
	if e.Time.IsZero() {
		e.Time = s.at(e.Seq)
	}
	s.events = append(s.events, e)
	return e
}

func (s *script) update(task, state string) Event {
	return s.add(Event{Kind: Update, Task: task, State: state})
}
func (s *script) ack(task, state string) Event {
	return s.add(Event{Kind: Ack, Task: task, State: state})
}

// only checks one invariant's anomalies.
func only(r Report, invariant string) []Anomaly {
	var out []Anomaly
	for _, a := range r.Anomalies {
		if a.Invariant == invariant {
			out = append(out, a)
		}
	}
	return out
}

func wantAnomalies(t *testing.T, s *script, invariant string, n int) []Anomaly {
	t.Helper()
	r := Check(s.events)
	got := only(r, invariant)
	if len(got) != n {
		t.Fatalf("%s: %d anomalies, want %d:\n%s", invariant, len(got), n, r)
	}
	if other := len(r.Anomalies) - len(got); other != 0 {
		t.Fatalf("%d anomalies of other invariants:\n%s", other, r)
	}
	return got
}

func TestAckedUpdatesAllowsTheLifeOfAPartitionedTask(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-0"})
	for _, st := range []string{"TASK_STARTING", "TASK_RUNNING", "TASK_UNREACHABLE", "TASK_RUNNING", "TASK_RUNNING"} {
		s.update("t1", st)
		s.ack("t1", st)
	}
	s.add(Event{Kind: Kill, Task: "t1"})
	s.update("t1", "TASK_KILLED")
	s.ack("t1", "TASK_KILLED")
	s.update("t1", "TASK_KILLED")                                                                          // re-sent
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_GONE", Source: "MASTER", Detail: "RECONCILIATION"}) // forgotten once it ended
	wantAnomalies(t, s, AckedUpdates, 0)
}

func TestAckedUpdatesCatchesARegression(t *testing.T) {
	s := newScript()
	s.update("t1", "TASK_RUNNING")
	ack := s.ack("t1", "TASK_RUNNING")
	back := s.update("t1", "TASK_STAGING")
	a := wantAnomalies(t, s, AckedUpdates, 1)[0]
	if len(a.Witness) != 2 || a.Witness[0].Seq != ack.Seq || a.Witness[1].Seq != back.Seq {
		t.Fatalf("witness %v, want the acknowledgement and the update that went back", a.Witness)
	}
}

func TestAckedUpdatesCatchesAnEndTakenBack(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Kill, Task: "t1"})
	s.update("t1", "TASK_FAILED")
	s.ack("t1", "TASK_FAILED")
	s.update("t1", "TASK_RUNNING") // e.g. a new leader that forgot the end
	a := wantAnomalies(t, s, AckedUpdates, 1)[0]
	if !strings.Contains(a.What, "TASK_RUNNING after its acknowledged TASK_FAILED") {
		t.Fatalf("what: %s", a.What)
	}
}

func TestAckedUpdatesCatchesAnEndFollowedByAnother(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Kill, Task: "t1"})
	s.update("t1", "TASK_KILLED")
	s.ack("t1", "TASK_KILLED")
	s.update("t1", "TASK_FAILED")
	wantAnomalies(t, s, AckedUpdates, 1)
}

func TestAckedUpdatesCatchesARunningTaskForgotten(t *testing.T) {
	s := newScript()
	s.update("t1", "TASK_RUNNING")
	s.ack("t1", "TASK_RUNNING")
	s.update("t1", "TASK_UNKNOWN")
	wantAnomalies(t, s, AckedUpdates, 1)
}

func proc(kind Kind, identity, node string, pid int, cmd string) Event {
	return Event{Kind: kind, Task: identity, Node: node, PID: pid, Detail: cmd}
}

func TestAtMostOneAllowsAReplacementAfterTheOldOneEnded(t *testing.T) {
	s := newScript()
	s.add(proc(ProcStart, "db-0", "agent-0", 10, "sleep"))
	s.add(Event{Kind: Crash, Node: "agent-0"})
	s.add(proc(ProcEnd, "db-0", "agent-0", 10, ""))
	s.add(proc(ProcStart, "db-0", "agent-1", 20, "sleep"))
	wantAnomalies(t, s, AtMostOne, 0)
}

func TestAtMostOneCatchesTwoLiveInstances(t *testing.T) {
	s := newScript()
	first := s.add(proc(ProcStart, "db-0", "agent-0", 10, "sleep"))
	s.add(proc(ProcStart, "db-1", "agent-1", 11, "sleep")) // another pet: fine
	second := s.add(proc(ProcStart, "db-0", "agent-1", 20, "sleep"))
	s.add(Event{Kind: Expect, Task: "db-0", Detail: "replace"})
	s.add(proc(ProcEnd, "db-0", "agent-0", 10, ""))
	a := wantAnomalies(t, s, AtMostOne, 1)[0]
	if a.Witness[0].Seq != first.Seq || a.Witness[1].Seq != second.Seq {
		t.Fatalf("witness %v", a.Witness)
	}
	for _, e := range a.Slice {
		if e.Task == "db-1" {
			t.Fatalf("the slice holds an unrelated pet: %v", a.Slice)
		}
	}
}

// One sample may find the old process gone and its replacement there:
// what was last seen of the old one, not when its end was noticed, says
// whether they overlapped.
func TestAtMostOneTrustsOnlyWhatTheSamplesSaw(t *testing.T) {
	for _, c := range []struct {
		name     string
		lastSeen int // ms: the new one was first seen at 30
		want     int
	}{
		{"last seen before its replacement", 20, 0},
		{"seen alive after its replacement", 35, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScript()
			s.add(Event{Kind: ProcStart, Task: "db-0", Node: "agent-0", PID: 10, Time: s.at(10)})
			s.add(Event{Kind: Expect, Task: "db-", Detail: "rolling update", Time: s.at(15)})
			s.add(Event{Kind: ProcStart, Task: "db-0", Node: "agent-0", PID: 20, Time: s.at(30)})
			s.add(Event{Kind: ProcEnd, Task: "db-0", Node: "agent-0", PID: 10, Time: s.at(40), LastSeen: s.at(c.lastSeen)})
			wantAnomalies(t, s, AtMostOne, c.want)
		})
	}
}

func TestExplainedEndsAcceptsKillsCrashesAndOperators(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-0"})
	s.add(proc(ProcStart, "t1", "agent-0", 10, "sleep 3600"))
	s.add(proc(ProcStart, "t2", "agent-1", 11, "sleep 3600"))
	s.add(proc(ProcStart, "web.1", "agent-1", 12, "sleep 100001"))
	s.add(Event{Kind: Kill, Task: "t1"})
	s.add(proc(ProcEnd, "t1", "agent-0", 10, ""))
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_KILLED", Node: "agent-0"})
	s.add(Event{Kind: Crash, Node: "agent-1"})
	s.add(proc(ProcEnd, "t2", "agent-1", 11, ""))
	s.add(Event{Kind: Expect, Task: "web.", Source: "100001", Detail: "upgrade"})
	s.add(proc(ProcEnd, "web.1", "agent-1", 12, ""))
	wantAnomalies(t, s, ExplainedEnds, 0)
}

func TestExplainedEndsCatchesAProcessKilledByNobody(t *testing.T) {
	s := newScript()
	s.add(proc(ProcStart, "t1", "agent-0", 10, "sleep 3600"))
	s.add(Event{Kind: Fault, Node: "master-0", Detail: "kill -9"})
	end := s.add(proc(ProcEnd, "t1", "agent-0", 10, ""))
	a := wantAnomalies(t, s, ExplainedEnds, 1)[0]
	if a.Witness[len(a.Witness)-1].Seq != end.Seq || len(a.Slice) != 3 {
		t.Fatalf("witness %v, slice %v: want the process's start, the fault and its end", a.Witness, a.Slice)
	}
}

func TestExplainedEndsCatchesAnEndAfterTheCrashItSurvived(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Crash, Node: "agent-0"})
	s.add(proc(ProcStart, "t1", "agent-0", 10, "sleep 3600")) // the machine came back
	s.add(proc(ProcEnd, "t1", "agent-0", 10, ""))
	wantAnomalies(t, s, ExplainedEnds, 1)
}

func TestExplainedEndsCatchesANewVersionEndingInAnUpgrade(t *testing.T) {
	s := newScript()
	s.add(proc(ProcStart, "web.2", "agent-1", 12, "sleep 100002"))
	s.add(Event{Kind: Expect, Task: "web.", Source: "100001", Detail: "upgrade to v2"})
	s.add(proc(ProcEnd, "web.2", "agent-1", 12, ""))
	wantAnomalies(t, s, ExplainedEnds, 1)
}

func TestExplainedEndsAcceptsALaunchThatNeverRan(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-0"})
	s.add(Event{Kind: Fault, Detail: "ZooKeeper quorum lost"})
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_DROPPED", Source: "MASTER"})
	s.add(Event{Kind: Launch, Task: "t2", Node: "agent-0"})
	s.add(Event{Kind: Update, Task: "t2", State: "TASK_GONE", Source: "MASTER", Detail: "RECONCILIATION"})
	s.add(Event{Kind: Final, Task: "t2", State: "TASK_GONE"})
	s.add(Event{Kind: Launch, Task: "t3", Node: "agent-0"})
	s.add(Event{Kind: Update, Task: "t3", State: "TASK_UNKNOWN", Source: "MASTER", Detail: "RECONCILIATION"})
	s.add(Event{Kind: Final, Task: "t3", State: "TASK_UNKNOWN"})
	wantAnomalies(t, s, ExplainedEnds, 0)
}

func TestExplainedEndsAcceptsALaunchLostWithItsAgent(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-1"})
	s.add(Event{Kind: Fault, Detail: "partition {master-0} from {agent-1}"})
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_UNREACHABLE", Source: "MASTER", Detail: "AGENT_REMOVED"})
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_GONE", Source: "MASTER", Detail: "AGENT_REREGISTERED"})
	wantAnomalies(t, s, ExplainedEnds, 0)
}

func TestExplainedEndsCatchesARunningTaskTheMasterForgot(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-0"})
	s.update("t1", "TASK_RUNNING")
	s.add(Event{Kind: Fault, Detail: "kill -9 master-0"})
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_GONE", Source: "MASTER", Detail: "RECONCILIATION"})
	wantAnomalies(t, s, ExplainedEnds, 1)
}

func TestExplainedEndsCatchesAnUpdateNobodyAskedFor(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Launch, Task: "t1", Node: "agent-0"})
	s.update("t1", "TASK_RUNNING")
	s.update("t1", "TASK_UNREACHABLE") // not an end
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_KILLED", Detail: "REASON_FRAMEWORK_REMOVED"})
	s.add(Event{Kind: Update, Task: "t1", State: "TASK_KILLED", Detail: "re-sent"})
	wantAnomalies(t, s, ExplainedEnds, 1)
}

// withdraw removes a contender znode.
func (s *script) withdraw(c Event, zxid int64) Event {
	return s.add(Event{Kind: Withdrawn, Node: c.Node, Path: c.Path, Zxid: zxid})
}

func (s *script) answer(master string, sent, received int) Event {
	return s.add(Event{Kind: Answer, Node: master, Status: 200, Sent: s.at(sent), Time: s.at(received)})
}

func TestSingleLeaderAllowsAFailoverAndAReelection(t *testing.T) {
	s := newScript()
	m1 := s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1, Time: s.at(0)})
	m2 := s.add(Event{Kind: Contender, Node: "m2", Path: "/c/json.info_0000000002", Zxid: 2, Time: s.at(1)})
	s.answer("m1", 10, 11)
	s.add(Event{Kind: Answer, Node: "m2", Status: 307, Sent: s.at(10), Time: s.at(12)})
	s.add(Event{Kind: Withdrawn, Node: "m1", Path: m1.Path, Zxid: 3, Time: s.at(20)})
	s.answer("m2", 30, 31)
	s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000003", Zxid: 4, Time: s.at(35)})
	s.add(Event{Kind: Withdrawn, Node: "m2", Path: m2.Path, Zxid: 5, Time: s.at(40)})
	s.answer("m1", 50, 51) // re-elected
	wantAnomalies(t, s, SingleLeader, 0)
}

func TestSingleLeaderCatchesAnOldLeaderStillAnswering(t *testing.T) {
	s := newScript()
	m1 := s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1, Time: s.at(0)})
	s.add(Event{Kind: Contender, Node: "m2", Path: "/c/json.info_0000000002", Zxid: 2, Time: s.at(1)})
	s.answer("m1", 10, 11)
	s.add(Event{Kind: Withdrawn, Node: "m1", Path: m1.Path, Zxid: 3, Time: s.at(20)})
	newer := s.answer("m2", 30, 31)
	older := s.answer("m1", 32, 33) // cut off from ZooKeeper, not yet stopped
	a := wantAnomalies(t, s, SingleLeader, 1)[0]
	if a.Witness[0].Seq != newer.Seq || a.Witness[1].Seq != older.Seq {
		t.Fatalf("witness %v", a.Witness)
	}
}

func TestSingleLeaderCatchesAnAnswerFromAMasterNeverElected(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1, Time: s.at(0)})
	s.answer("m2", 10, 11)
	wantAnomalies(t, s, SingleLeader, 1)
}

func fence(s *script, master string, version, zxid int64) Event {
	return s.add(Event{Kind: Fence, Node: master, Path: "/corral/registry/epoch", Version: version, Zxid: zxid})
}

func write(s *script, key string, version, zxid int64, op string) Event {
	return s.add(Event{Kind: Write, Path: "/corral/registry/" + key, Version: version, Zxid: zxid, Detail: op})
}

func TestFencingAllowsWritesOfEachLeaderInTurn(t *testing.T) {
	s := newScript()
	m1 := s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1})
	fence(s, "m1", 0, 2)
	write(s, "weights", -1, 3, Mkdir)
	write(s, "weights/web", 0, 4, "create")
	s.add(Event{Kind: Contender, Node: "m2", Path: "/c/json.info_0000000002", Zxid: 5})
	s.withdraw(m1, 6)
	fence(s, "m2", 1, 7)
	write(s, "weights/web", 1, 8, "set")
	wantAnomalies(t, s, Fencing, 0)
}

func TestFencingCatchesAnUnguardedWrite(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1})
	fence(s, "m1", 0, 2)
	write(s, "weights/web", -1, 3, "set")
	wantAnomalies(t, s, Fencing, 1)
}

func TestFencingCatchesAWriteByADeposedMaster(t *testing.T) {
	s := newScript()
	m1 := s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1})
	fence(s, "m1", 0, 2)
	s.add(Event{Kind: Contender, Node: "m2", Path: "/c/json.info_0000000002", Zxid: 3})
	s.withdraw(m1, 4)
	late := write(s, "frameworks/f1", 0, 5, "set") // m1, paused, wrote before m2 took the fence
	a := wantAnomalies(t, s, Fencing, 1)[0]
	if !strings.Contains(a.What, "m1, which had lost leadership (m2 led)") || a.Witness[len(a.Witness)-1].Seq != late.Seq {
		t.Fatalf("anomaly %+v", a)
	}
}

func TestFencingCatchesAStaleGuardAndAFenceTakenByAStandby(t *testing.T) {
	s := newScript()
	s.add(Event{Kind: Contender, Node: "m1", Path: "/c/json.info_0000000001", Zxid: 1})
	s.add(Event{Kind: Contender, Node: "m2", Path: "/c/json.info_0000000002", Zxid: 2})
	fence(s, "m1", 0, 3)
	fence(s, "m2", 1, 4)                 // m2 does not lead
	write(s, "weights/web", 0, 5, "set") // guard at the old version
	wantAnomalies(t, s, Fencing, 2)
}

func TestConvergedCatchesEachDisagreement(t *testing.T) {
	for _, c := range []struct {
		name          string
		fw, master    string
		procs, expect int
	}{
		{"running everywhere", "TASK_RUNNING", "TASK_RUNNING", 1, 0},
		{"ended and forgotten", "TASK_KILLED", "", 0, 0},
		{"never launched", "TASK_UNKNOWN", "", 0, 0},
		{"unknown but alive", "TASK_UNKNOWN", "", 1, 1},
		{"still unreachable", "TASK_UNREACHABLE", "TASK_UNREACHABLE", 1, 1},
		{"master disagrees", "TASK_RUNNING", "TASK_KILLED", 1, 1},
		{"forgotten by reconciliation, completed to the master", "TASK_GONE", "TASK_DROPPED", 0, 0},
		{"two different ends", "TASK_KILLED", "TASK_FAILED", 0, 1},
		{"forgotten but alive", "TASK_GONE", "TASK_DROPPED", 1, 1},
		{"master forgot a running task", "TASK_RUNNING", "", 1, 1},
		{"running without a process", "TASK_RUNNING", "TASK_RUNNING", 0, 1},
		{"running twice", "TASK_RUNNING", "TASK_RUNNING", 2, 1},
		{"ended but alive", "TASK_KILLED", "TASK_KILLED", 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScript()
			s.add(Event{Kind: Kill, Task: "t1"})
			s.update("t1", c.fw)
			s.add(Event{Kind: Final, Task: "t1", State: c.fw, Source: c.master, PID: c.procs})
			wantAnomalies(t, s, Converged, c.expect)
		})
	}
}

func TestReportPrintsTheSliceWithItsWitnesses(t *testing.T) {
	s := newScript()
	s.add(proc(ProcStart, "db-0", "agent-0", 10, "sleep"))
	s.add(Event{Kind: Fault, Node: "agent-0", Detail: "one-way partition"})
	s.add(proc(ProcStart, "db-0", "agent-1", 20, "sleep"))
	out := Check(s.events).String()
	for _, want := range []string{"1 anomalies", "[at-most-one]", " > #1 ", "   #2 ", " > #3 ", "one-way partition"} {
		if !strings.Contains(out, want) {
			t.Fatalf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestHistoriesRoundTripThroughJSON(t *testing.T) {
	r := NewRecorder(nil)
	r.Record(Event{Kind: Answer, Node: "m1", Status: 200, Sent: time.Now()})
	r.Record(Event{Kind: Write, Path: "/corral/registry/x", Version: -1, Zxid: 7})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r.Events()); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[1].Version != -1 || back[1].Zxid != 7 || !back[0].Sent.Equal(r.Events()[0].Sent) {
		t.Fatalf("read back %+v", back)
	}
}

package election_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/proto/mesospb"
)

const electionPath = "/corral/election"

// mesosName is what Mesos' and mesos-go's detectors accept as a contender.
var mesosName = regexp.MustCompile(`^json\.info_[0-9]{10}$`)

// znodes lists the election's children with their owners, in sequence
// order, failing the test on any name Mesos would not read.
func znodes(t *testing.T, conn *zk.Conn) (names []string, owners []int64) {
	t.Helper()
	children, _, err := conn.Children(electionPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil // nobody contends yet
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(children)
	for _, name := range children {
		if !mesosName.MatchString(name) {
			t.Fatalf("znode %q under the election path is not named json.info_<10 digits>", name)
		}
		_, stat, err := conn.Get(electionPath + "/" + name)
		if errors.Is(err, zk.ErrNoNode) {
			continue // gone since the listing
		}
		if err != nil {
			t.Fatal(err)
		}
		names, owners = append(names, name), append(owners, stat.EphemeralOwner)
	}
	return names, owners
}

// owned counts the election znodes owned by session.
func owned(t *testing.T, conn *zk.Conn, session int64) int {
	t.Helper()
	_, owners := znodes(t, conn)
	n := 0
	for _, o := range owners {
		if o == session {
			n++
		}
	}
	return n
}

func watcher(t *testing.T, addr string) *election.Session {
	t.Helper()
	w, err := election.Dial([]string{addr}, 2*time.Second, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// The znodes are exactly Mesos' json.info_<seq> holding MasterInfo JSON;
// the lowest sequence leads, and the next lowest once it goes.
func TestZnodesInMesosLayoutAndLowestLeads(t *testing.T) {
	server := zktest.Start(t)
	w := watcher(t, server.Addr)
	var cs []*contender
	for i := range 3 {
		cs = append(cs, start(t, server.Addr, fmt.Sprintf("m%d", i)))
		// One at a time, so that the sequence follows the start order.
		waitFor(t, "a znode per contender", func() bool { names, _ := znodes(t, w.Conn); return len(names) == len(cs) })
	}
	d := election.NewDetector(w, electionPath)
	for round := 0; len(cs) > 0; round++ {
		var leader *contender
		waitFor(t, "one leader", func() bool {
			l := leaders(cs)
			if len(l) == 1 {
				leader = l[0]
			}
			return len(l) == 1
		})
		names, owners := znodes(t, w.Conn)
		if len(names) != len(cs) {
			t.Fatalf("round %d: %d znodes (%v), want %d", round, len(names), names, len(cs))
		}
		if owners[0] != leader.session.Conn.SessionID() {
			t.Fatalf("round %d: %s leads, but the lowest znode %s is another session's", round, leader.name, names[0])
		}
		for _, name := range names {
			data, _, err := w.Conn.Get(electionPath + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			info := &mesospb.MasterInfo{}
			if err := codec.JSON.Unmarshal(data, info); err != nil || info.GetId() == "" || election.Address(info) == ":0" {
				t.Fatalf("%s holds %q, not a MasterInfo (%v)", name, data, err)
			}
		}
		data, _, _ := w.Conn.Get(electionPath + "/" + names[0])
		info := &mesospb.MasterInfo{}
		_ = codec.JSON.Unmarshal(data, info)
		if got := election.Address(info); got != leader.name+":5050" {
			t.Fatalf("round %d: the lowest znode names %s, the leader is %s", round, got, leader.name)
		}
		if cur, _, err := d.Current(); err != nil || cur.GetId() != leader.name {
			t.Fatalf("round %d: the detector names %v (%v), want %s", round, cur.GetId(), err, leader.name)
		}
		// The leader's process ends: its session closes and the next
		// lowest leads.
		leader.session.Close()
		waitFor(t, "the old leader to step down", func() bool { return !leader.isLeading() })
		cs = slices.DeleteFunc(cs, func(c *contender) bool { return c == leader })
		if len(cs) == 0 {
			break
		}
		waitFor(t, "the next lowest to lead", func() bool {
			names, owners := znodes(t, w.Conn)
			l := leaders(cs)
			return len(names) == len(cs) && len(l) == 1 && l[0].session.Conn.SessionID() == owners[0]
		})
	}
}

// A create whose reply is lost may still have made the znode: the
// contender adopts it instead of making a second one behind it.
func TestLostCreateReplyIsAdopted(t *testing.T) {
	server := zktest.Start(t)
	w := watcher(t, server.Addr)
	c := startWith(t, server.Addr, "lost", func(s *election.Session) { election.LoseCreateReplies(s, 1) })
	waitFor(t, "the contender whose create reply was lost to lead", c.isLeading)
	if n := owned(t, w.Conn, c.session.Conn.SessionID()); n != 1 {
		t.Fatalf("%d znodes of the contender's session, want 1", n)
	}
	other := start(t, server.Addr, "other")
	waitFor(t, "the second contender's znode", func() bool { names, _ := znodes(t, w.Conn); return len(names) == 2 })
	if other.isLeading() || !c.isLeading() {
		t.Fatalf("leading: lost=%v other=%v; want only the lowest", c.isLeading(), other.isLeading())
	}
}

// Znodes of our own session that an earlier create left behind (its reply
// lost, or applied after we gave up) are adopted or deleted: one znode is
// ours, and we never wait behind ourselves.
func TestOwnExtraZnodesAreAdoptedOrDeleted(t *testing.T) {
	server := zktest.Start(t)
	w := watcher(t, server.Addr)
	if _, err := w.Conn.Create("/corral", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Conn.Create(electionPath, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	leftovers := func(s *election.Session, n int) {
		for range n {
			if _, err := s.Conn.Create(electionPath+"/"+election.Prefix, []byte(`{"id":"leftover"}`), zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Adopting picks the lowest and deletes the rest.
	s := watcher(t, server.Addr)
	leftovers(s, 3)
	names, _ := znodes(t, w.Conn)
	kept, err := election.Adopt(s, electionPath)
	if err != nil || kept != electionPath+"/"+names[0] {
		t.Fatalf("Adopt = %q, %v; want the lowest, %s", kept, err, names[0])
	}
	if n := owned(t, w.Conn, s.Conn.SessionID()); n != 1 {
		t.Fatalf("%d znodes of the session after adopting, want 1", n)
	}
	s.Close()
	waitFor(t, "the closed session's znodes to go", func() bool { names, _ := znodes(t, w.Conn); return len(names) == 0 })

	// A leftover below a successful create is deleted rather than waited
	// for.
	c := startWith(t, server.Addr, "behind-itself", func(s *election.Session) { leftovers(s, 1) })
	waitFor(t, "leadership despite a leftover of its own", c.isLeading)
	if n := owned(t, w.Conn, c.session.Conn.SessionID()); n != 1 {
		t.Fatalf("%d znodes of the leader's session, want 1", n)
	}

	// And one below a lost create's znode is deleted when adopting.
	d := startWith(t, server.Addr, "lost-and-leftover", func(s *election.Session) {
		leftovers(s, 2)
		election.LoseCreateReplies(s, 1)
	})
	waitFor(t, "its znode behind the leader", func() bool {
		return owned(t, w.Conn, d.session.Conn.SessionID()) == 1 && len(leaders([]*contender{c, d})) == 1
	})
	c.session.Close()
	waitFor(t, "the second to lead", d.isLeading)
	if n := owned(t, w.Conn, d.session.Conn.SessionID()); n != 1 {
		t.Fatalf("%d znodes of the leader's session, want 1", n)
	}
}

package election_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A leader's lease holds while ZooKeeper keeps confirming its znode
// (longer than one lease: it is renewed), and runs out once ZooKeeper goes
// silent, whether or not anything else has told the leader yet.
func TestLeaseIsRenewedAndRunsOutWhenZooKeeperIsSilent(t *testing.T) {
	if election.LeaseOf(context.Background()) != nil || !(*election.Lease)(nil).Valid() {
		t.Fatal("outside an election, there is no lease to run out")
	}
	zk := zktest.Start(t)
	s, err := election.Dial([]string{zk.Addr}, 2*time.Second, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leases := make(chan *election.Lease, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		info := &mesospb.MasterInfo{Id: proto.String("m"), Ip: proto.Uint32(0), Port: proto.Uint32(5050), Hostname: proto.String("m")}
		_ = election.Contend(ctx, s, "/corral/lease", info, func(lctx context.Context) {
			leases <- election.LeaseOf(lctx)
			<-lctx.Done()
		})
	}()
	t.Cleanup(func() { cancel(); s.Close(); <-done })
	var lease *election.Lease
	select {
	case lease = <-leases:
	case <-time.After(30 * time.Second):
		t.Fatal("never elected")
	}
	// One lease lasts half the 2 s session timeout; watch past a few.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) { // watching a window
		if !lease.Valid() {
			t.Fatal("the lease ran out while ZooKeeper answered")
		}
	}
	zk.Stop()
	waitFor(t, "the lease to run out", func() bool { return !lease.Valid() })
}

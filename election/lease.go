package election

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/corral-sched/corral/internal/periodic"
	"github.com/go-zookeeper/zk"
)

// Lease is how long a leader may go on acting without hearing from
// ZooKeeper's quorum again: until the last time the quorum confirmed its
// znode (counted from when it asked), plus half the session timeout.
// ZooKeeper's leader expires a session only once a session timeout has
// passed since the session was last seen, and a confirmation that went
// through it (a sync, then a read) shows the session was seen when it was
// asked for, give or take a tick, which is at most half a timeout. So a
// leader that checks its lease before it answers never answers after a
// successor could have been elected. That holds for a leader that was
// paused (SIGSTOP, a long GC, a frozen VM), whose lease has run out before
// any of its timers or its ZooKeeper client could tell it so, and for one
// whose ZooKeeper server is cut off from the quorum but still answers
// reads for a while.
type Lease struct {
	mu    sync.Mutex
	until time.Time // guarded by mu
}

// Valid reports whether the lease still runs. A nil Lease (a leader not
// elected through ZooKeeper) always does.
func (l *Lease) Valid() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.until)
}

func (l *Lease) extend(to time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if to.After(l.until) {
		l.until = to
	}
}

type (
	leaseKey struct{}
	znodeKey struct{}
)

// ZnodeOf returns the path of the election znode that won the leadership
// ctx belongs to, or "" for any other context. It exists as long as the
// leadership does.
func ZnodeOf(ctx context.Context) string {
	p, _ := ctx.Value(znodeKey{}).(string)
	return p
}

// LeaseOf returns the lease of the leadership ctx belongs to: the
// context Contend gives lead. Nil for any other context.
func LeaseOf(ctx context.Context) *Lease {
	l, _ := ctx.Value(leaseKey{}).(*Lease)
	return l
}

// renewLease confirms, every sixth of the session timeout, that our znode
// is still there and still ours, extending the lease each time; it
// cancels the leadership once the znode is gone or belongs to a session
// that is not ours any more (the client replaced an expired one). A
// failed check extends nothing and leaves the verdict to the session
// watch: the lease simply runs out meanwhile.
func renewLease(ctx context.Context, s *Session, me string, l *Lease, cancel context.CancelFunc) {
	periodic.Every(ctx, s.timeout/6, func() bool {
		if gone := confirm(s, me, l); gone {
			cancel()
			return false
		}
		return true
	})
}

// confirm checks our znode once, extending the lease if it is ours; gone
// says it is not, for certain. The sync goes through ZooKeeper's leader:
// a server cut off from the quorum answers reads from what it has, but
// cannot sync.
func confirm(s *Session, me string, l *Lease) (gone bool) {
	asked := time.Now()
	if _, err := s.Conn.Sync(me); err != nil {
		return errors.Is(err, zk.ErrNoNode)
	}
	exists, stat, err := s.Conn.Exists(me)
	switch {
	case err != nil:
		return false
	case !exists || !ours(s, stat):
		return true
	}
	l.extend(asked.Add(s.timeout / 2))
	return false
}

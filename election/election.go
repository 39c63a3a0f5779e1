// Package election elects one leading master through ZooKeeper and tells
// everyone else which master leads.
//
// Each contender creates an ephemeral sequential znode "json.info_<seq>"
// (exactly that: Mesos' and mesos-go's detectors ignore any other name)
// under the election path, holding its MasterInfo as JSON in Mesos' layout,
// so Mesos tooling finds the leader too. The lowest sequence leads. A
// contender watches only its predecessor, so a leader's death wakes one
// contender, not all. A create whose reply was lost with the connection
// may still have made a znode: the contender finds it by its owner (its
// own session) and adopts it, and it never waits behind a znode of its own
// session. A leader whose session expires, or stays disconnected longer
// than the session timeout, stops leading at once: its leadership context
// is cancelled before anyone else could be elected. A leader that could
// not notice in time (paused past its session) is held back by its Lease,
// which it checks before it answers as leader.
package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Prefix of the contenders' znodes, as Mesos names them.
const Prefix = "json.info_"

// contenderName is the whole name of a contender's znode: the prefix and
// ZooKeeper's ten-digit sequence. Other children of the election path (the
// registry shares it) are not contenders.
var contenderName = regexp.MustCompile(`^json\.info_[0-9]{10}$`)

// Session is one ZooKeeper session and what happens to it.
type Session struct {
	Conn    *zk.Conn
	timeout time.Duration
	log     *slog.Logger
	acl     []zk.ACL // of the znodes it creates
	// create makes a znode; tests replace it to lose replies.
	create func(path string, data []byte, flags int32, acl []zk.ACL) (string, error)

	mu   sync.Mutex
	lost chan struct{} // guarded by mu; closed when the current session is lost
}

// Dial opens a session to servers.
func Dial(servers []string, timeout time.Duration, log *slog.Logger) (*Session, error) {
	return DialAuth(servers, timeout, "", log)
}

// DialAuth opens a session authenticated with digest credentials
// ("user:password"; "" for none). The znodes it then creates are writable
// only with the same credentials but readable by anyone, so that agents,
// frameworks and the CLI find the leader without them, as in Mesos.
func DialAuth(servers []string, timeout time.Duration, credentials string, log *slog.Logger) (*Session, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, events, err := zk.Connect(servers, timeout, zk.WithLogger(zkLogger{log}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("election: connecting to ZooKeeper %v: %w", servers, err)
	}
	s := &Session{Conn: conn, timeout: timeout, log: log, acl: zk.WorldACL(zk.PermAll), create: conn.Create, lost: make(chan struct{})}
	if credentials != "" {
		if err := conn.AddAuth("digest", []byte(credentials)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("election: ZooKeeper authentication: %w", err)
		}
		user, pass, _ := strings.Cut(credentials, ":")
		s.acl = append(zk.DigestACL(zk.PermAll, user, pass), zk.WorldACL(zk.PermRead)...)
	}
	go s.watch(events)
	return s, nil
}

// watch turns connection events into "session lost" signals: expiry, or a
// disconnection that may have outlived the session (the server expires it
// without our hearing). The client notices a silent server only after its
// read timeout, two thirds of the session timeout; leaving a third more
// means the leader stops before the server could expire its session and
// let someone else lead.
func (s *Session) watch(events <-chan zk.Event) {
	var timer *time.Timer
	for ev := range events {
		if ev.Type != zk.EventSession {
			continue
		}
		switch ev.State {
		case zk.StateDisconnected:
			if timer == nil {
				timer = time.AfterFunc(s.timeout/3, func() { s.loseSession("disconnected too long to still hold the session") })
			}
		case zk.StateExpired:
			s.loseSession("session expired")
		case zk.StateHasSession:
			if timer != nil {
				timer.Stop()
				timer = nil
			}
		}
	}
	s.loseSession("connection closed")
}

func (s *Session) loseSession(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.lost:
		return
	default:
	}
	s.log.Warn("ZooKeeper session lost", "reason", why)
	close(s.lost)
}

// lostChan returns the channel closed when the current session is lost,
// starting a new generation if the last one was lost and the connection
// has a session again.
func (s *Session) lostChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.lost:
		if s.Conn.State() == zk.StateHasSession {
			s.lost = make(chan struct{})
		}
	default:
	}
	return s.lost
}

// Close ends the session; ephemeral znodes go at once.
func (s *Session) Close() { s.Conn.Close() }

// Contend runs for leadership under path until ctx ends. Each time this
// contender is elected, lead runs with a context that is cancelled when
// leadership is lost; lead should return promptly then. Contend then
// contends again. One session contends at most once per path: any other
// contender's znode of the same session is taken for a leftover of its own.
func Contend(ctx context.Context, s *Session, path string, info *mesospb.MasterInfo, lead func(ctx context.Context)) error {
	data, err := codec.JSON.Marshal(info)
	if err != nil {
		return fmt.Errorf("election: encoding MasterInfo: %w", err)
	}
	var stale []string // znodes of earlier attempts that may outlive them
	for ctx.Err() == nil {
		lost := s.lostChan()
		// A znode from an attempt that failed while disconnected survives
		// if the session did: remove it, or we would wait behind ourselves.
		stale = slices.DeleteFunc(stale, func(p string) bool {
			err := s.Conn.Delete(p, -1)
			return err == nil || errors.Is(err, zk.ErrNoNode)
		})
		me, err := contendOnce(ctx, s, path, data, lost, lead)
		if me != "" {
			stale = append(stale, me)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Info("contending again", "reason", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// contendOnce makes one znode and waits for or holds leadership with it. It
// returns the znode's path so that the caller can make sure it is gone.
func contendOnce(ctx context.Context, s *Session, path string, data []byte, lost <-chan struct{}, lead func(context.Context)) (string, error) {
	if err := ensurePath(s.Conn, path, s.acl); err != nil {
		return "", err
	}
	me, err := s.create(path+"/"+Prefix, data, zk.FlagEphemeral|zk.FlagSequence, s.acl)
	if err != nil {
		// The server may have made the znode and the reply been lost with
		// the connection: look for it before making another.
		adopted, adoptErr := adopt(s, path)
		if adoptErr != nil || adopted == "" {
			return "", errors.Join(fmt.Errorf("election: creating %s: %w", path+"/"+Prefix, err), adoptErr)
		}
		s.log.Info("adopted our znode after a create's reply was lost", "znode", adopted, "err", err)
		me = adopted
	}
	defer func() { _ = s.Conn.Delete(me, -1) }()
	mine := me[strings.LastIndexByte(me, '/')+1:]
	for {
		children, _, err := s.Conn.Children(path)
		if err != nil {
			return me, fmt.Errorf("election: listing contenders: %w", err)
		}
		order := contenders(children)
		i := slices.Index(order, mine)
		switch {
		case i < 0:
			return me, errors.New("election: our znode is gone")
		case i == 0:
			return me, leadUntilLost(ctx, s, me, lost, lead)
		}
		predecessor := path + "/" + order[i-1]
		exists, stat, watch, err := s.Conn.ExistsW(predecessor)
		if err != nil {
			return me, fmt.Errorf("election: watching the predecessor: %w", err)
		}
		if !exists {
			continue
		}
		if ours(s, stat) {
			// Left by a create whose reply was lost but which the server
			// applied: waiting behind it would be waiting for ourselves.
			if err := s.Conn.Delete(predecessor, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return me, fmt.Errorf("election: deleting our extra znode %s: %w", predecessor, err)
			}
			s.log.Info("deleted an extra znode of this session", "znode", predecessor)
			continue
		}
		select {
		case <-watch:
		case <-lost:
			return me, errors.New("election: session lost while contending")
		case <-ctx.Done():
			return me, nil
		}
	}
}

// ours reports whether a znode is an ephemeral of the current session.
func ours(s *Session, stat *zk.Stat) bool {
	id := s.Conn.SessionID()
	return id != 0 && stat != nil && stat.EphemeralOwner == id
}

// adopt finds the contenders' znodes this session owns: the lowest becomes
// ours (its path is returned) and any others are deleted. It returns ""
// if the session owns none, i.e. a failed create made nothing.
func adopt(s *Session, path string) (string, error) {
	if s.Conn.SessionID() == 0 {
		return "", errors.New("election: no session to look for our znode with")
	}
	children, _, err := s.Conn.Children(path)
	if err != nil {
		return "", fmt.Errorf("election: listing contenders to find ours: %w", err)
	}
	var mine []string
	for _, name := range contenders(children) {
		exists, stat, err := s.Conn.Exists(path + "/" + name)
		if err != nil {
			return "", fmt.Errorf("election: reading %s: %w", name, err)
		}
		if exists && ours(s, stat) {
			mine = append(mine, path+"/"+name)
		}
	}
	if len(mine) == 0 {
		return "", nil
	}
	for _, extra := range mine[1:] {
		if err := s.Conn.Delete(extra, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return "", fmt.Errorf("election: deleting our extra znode %s: %w", extra, err)
		}
	}
	return mine[0], nil
}

func leadUntilLost(ctx context.Context, s *Session, me string, lost <-chan struct{}, lead func(context.Context)) error {
	lease := &Lease{}
	if confirm(s, me, lease) || !lease.Valid() {
		return errors.New("election: our znode could not be confirmed")
	}
	lctx, cancel := context.WithCancel(context.WithValue(context.WithValue(ctx, leaseKey{}, lease), znodeKey{}, me))
	defer cancel()
	go renewLease(lctx, s, me, lease, cancel)
	go func() {
		for {
			exists, _, watch, err := s.Conn.ExistsW(me)
			if err != nil || !exists {
				cancel()
				return
			}
			select {
			case <-watch:
			case <-lost:
				cancel()
				return
			case <-lctx.Done():
				return
			}
		}
	}()
	s.log.Info("elected leader", "znode", me)
	lead(lctx)
	return errors.New("election: leadership ended")
}

func ensurePath(conn *zk.Conn, path string, acl []zk.ACL) error {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	p := ""
	for _, part := range parts {
		p += "/" + part
		if _, err := conn.Create(p, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("election: creating %s: %w", p, err)
		}
	}
	return nil
}

// contenders returns the election znodes in order of their sequence.
// Sequences are zero-padded to ten digits, so names sort as numbers do.
func contenders(children []string) []string {
	var out []string
	for _, ch := range children {
		if contenderName.MatchString(ch) {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "zookeeper")
}

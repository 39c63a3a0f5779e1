package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZooKeeper is a Store in ZooKeeper: key "a/b" is the znode <root>/a/b and
// the entry's version is the znode's data version plus one. ZooKeeper acks
// a write once a quorum has it on disk, which is Put's durability promise.
type ZooKeeper struct {
	conn *zk.Conn
	root string
	acl  []zk.ACL
	log  *slog.Logger
}

var _ Store = (*ZooKeeper)(nil)

// ParseZKURL splits "zk://host1:port1,host2:port2/path" into its servers
// and path.
func ParseZKURL(raw string) (servers []string, root string, err error) {
	u, err := ParseZKURLAuth(raw)
	return u.Servers, u.Root, err
}

// ZKURL is a parsed zk:// URL.
type ZKURL struct {
	Servers []string
	Root    string
	// Credentials are "user:password" from the URL's user information
	// (zk://user:password@host:port/path), as Mesos takes them: with them
	// corral authenticates to ZooKeeper with the digest scheme and
	// protects what it creates.
	Credentials string
}

// ParseZKURLAuth parses a zk:// URL that may carry credentials.
func ParseZKURLAuth(raw string) (ZKURL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "zk" || u.Host == "" {
		return ZKURL{}, fmt.Errorf("store: %q is not a zk://[user:password@]host:port[,host:port...]/path URL", RedactZKURL(raw))
	}
	out := ZKURL{Servers: strings.Split(u.Host, ","), Root: path.Clean("/" + u.Path)}
	if out.Root == "/" {
		return ZKURL{}, fmt.Errorf("store: %q needs a path, as in zk://host:port/corral", RedactZKURL(raw))
	}
	if u.User != nil {
		pass, ok := u.User.Password()
		if u.User.Username() == "" || !ok || pass == "" {
			return ZKURL{}, fmt.Errorf("store: %q: credentials must be user:password", RedactZKURL(raw))
		}
		out.Credentials = u.User.Username() + ":" + pass
	}
	return out, nil
}

// RedactZKURL hides the password of a zk:// URL, for logs and GET_FLAGS.
func RedactZKURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok || strings.Contains(userinfo, "/") {
		return raw
	}
	user, _, _ := strings.Cut(userinfo, ":")
	return scheme + "://" + user + ":xxxxx@" + host
}

// DialZooKeeper connects to servers and keeps keys under root (such as
// "/corral"). With credentials ("user:password") the znodes it creates are
// readable and writable only with them (digest ACL).
func DialZooKeeper(servers []string, root, credentials string, sessionTimeout time.Duration, log *slog.Logger) (*ZooKeeper, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, _, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(zkLogger{log}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("store: connecting to ZooKeeper %v: %w", servers, err)
	}
	z := &ZooKeeper{conn: conn, root: path.Clean(root), acl: zk.WorldACL(zk.PermAll), log: log}
	if credentials != "" {
		if err := conn.AddAuth("digest", []byte(credentials)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("store: ZooKeeper authentication: %w", err)
		}
		user, pass, _ := strings.Cut(credentials, ":")
		z.acl = zk.DigestACL(zk.PermAll, user, pass)
	}
	return z, nil
}

// Conn returns the underlying connection, for leader election on the same
// session.
func (z *ZooKeeper) Conn() *zk.Conn { return z.conn }

func (z *ZooKeeper) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return z.root + "/" + key, nil
}

// Get implements Store.
func (z *ZooKeeper) Get(_ context.Context, key string) (Entry, error) {
	p, err := z.path(key)
	if err != nil {
		return Entry{}, err
	}
	data, stat, err := z.conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("store: get %s: %w", key, err)
	}
	return Entry{Key: key, Value: data, Version: int64(stat.Version) + 1}, nil
}

// Put implements Store.
func (z *ZooKeeper) Put(_ context.Context, key string, value []byte, expected int64) (Entry, error) {
	p, err := z.path(key)
	if err != nil {
		return Entry{}, err
	}
	if value == nil {
		value = []byte{}
	}
	for {
		switch {
		case expected == Absent:
			if err := z.createParents(p); err != nil {
				return Entry{}, err
			}
			_, err := z.conn.Create(p, value, 0, z.acl)
			if errors.Is(err, zk.ErrNodeExists) {
				return Entry{}, fmt.Errorf("%w: %s already exists", ErrConflict, key)
			}
			if err != nil {
				return Entry{}, fmt.Errorf("store: create %s: %w", key, err)
			}
			return Entry{Key: key, Value: slices.Clone(value), Version: 1}, nil
		case expected == AnyVersion:
			stat, err := z.conn.Set(p, value, -1)
			if errors.Is(err, zk.ErrNoNode) {
				if _, err := z.Put(context.Background(), key, value, Absent); !errors.Is(err, ErrConflict) {
					return Entry{Key: key, Value: slices.Clone(value), Version: 1}, err
				}
				continue // created by someone else meanwhile: overwrite it
			}
			if err != nil {
				return Entry{}, fmt.Errorf("store: set %s: %w", key, err)
			}
			return Entry{Key: key, Value: slices.Clone(value), Version: int64(stat.Version) + 1}, nil
		default:
			stat, err := z.conn.Set(p, value, int32(expected-1))
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
				return Entry{}, fmt.Errorf("%w: %s is not at version %d", ErrConflict, key, expected)
			}
			if err != nil {
				return Entry{}, fmt.Errorf("store: set %s: %w", key, err)
			}
			return Entry{Key: key, Value: slices.Clone(value), Version: int64(stat.Version) + 1}, nil
		}
	}
}

func (z *ZooKeeper) createParents(p string) error {
	dir := path.Dir(p)
	var missing []string
	for ; dir != "/" && dir != "."; dir = path.Dir(dir) {
		ok, _, err := z.conn.Exists(dir)
		if err != nil {
			return fmt.Errorf("store: exists %s: %w", dir, err)
		}
		if ok {
			break
		}
		missing = append(missing, dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if _, err := z.conn.Create(missing[i], nil, 0, z.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("store: create %s: %w", missing[i], err)
		}
	}
	return nil
}

// Delete implements Store.
func (z *ZooKeeper) Delete(_ context.Context, key string, expected int64) error {
	p, err := z.path(key)
	if err != nil {
		return err
	}
	v := int32(-1)
	if expected != AnyVersion {
		v = int32(expected - 1)
	}
	return deleteError(key, expected, z.conn.Delete(p, v))
}

// deleteError is what a ZooKeeper delete of key at expected answered, in
// the Store's errors.
func deleteError(key string, expected int64, err error) error {
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case errors.Is(err, zk.ErrBadVersion):
		return fmt.Errorf("%w: %s is not at version %d", ErrConflict, key, expected)
	case err != nil:
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	return nil
}

// List implements Store.
func (z *ZooKeeper) List(ctx context.Context, prefix string) ([]Entry, error) {
	p, err := z.path(prefix)
	if err != nil {
		return nil, err
	}
	children, _, err := z.conn.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", prefix, err)
	}
	slices.Sort(children)
	// One round trip per child, made concurrently: the client pipelines
	// them on its one connection, so a registry of ten thousand agents is
	// read in a fraction of the time one after another takes (a new
	// leader reads it before it serves).
	entries := make([]Entry, len(children))
	found := make([]bool, len(children))
	errs := make([]error, len(children))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(listReaders, len(children)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e, err := z.Get(ctx, prefix+"/"+children[i])
				switch {
				case errors.Is(err, ErrNotFound): // deleted since Children
				case err != nil:
					errs[i] = err
				default:
					entries[i], found[i] = e, true
				}
			}
		}()
	}
	for i := range children {
		next <- i
	}
	close(next)
	wg.Wait()
	out := make([]Entry, 0, len(children))
	for i := range children {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if found[i] {
			out = append(out, entries[i])
		}
	}
	return out, nil
}

// listReaders is how many reads List keeps in flight.
const listReaders = 64

// Watch implements Store.
func (z *ZooKeeper) Watch(ctx context.Context, key string) (<-chan Entry, error) {
	p, err := z.path(key)
	if err != nil {
		return nil, err
	}
	out := make(chan Entry)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			e := Entry{Key: key}
			data, stat, ch, err := z.conn.GetW(p)
			if errors.Is(err, zk.ErrNoNode) {
				var exists bool
				exists, _, ch, err = z.conn.ExistsW(p)
				if err == nil && exists {
					continue // created in between: read it
				}
			} else if err == nil {
				e.Value, e.Version = data, int64(stat.Version)+1
			}
			if err != nil {
				if errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrConnectionClosed) {
					return
				}
				z.log.Debug("store: watch failed; retrying", "key", key, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Close ends the ZooKeeper session.
func (z *ZooKeeper) Close() error {
	z.conn.Close()
	return nil
}

// zkLogger sends go-zookeeper's logs to slog at debug level.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "zookeeper")
}

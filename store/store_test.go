package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/store"
)

// conformance runs the Store contract against one implementation.
func conformance(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("versions and compare-and-set", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "a/b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v", err)
		}
		e, err := s.Put(ctx, "a/b", []byte("one"), store.Absent)
		if err != nil || e.Version != 1 {
			t.Fatalf("create: %+v, %v", e, err)
		}
		if _, err := s.Put(ctx, "a/b", []byte("again"), store.Absent); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("creating an existing key: %v", err)
		}
		if _, err := s.Put(ctx, "a/b", []byte("stale"), 5); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("writing with a wrong version: %v", err)
		}
		e, err = s.Put(ctx, "a/b", []byte("two"), 1)
		if err != nil || e.Version != 2 {
			t.Fatalf("compare-and-set: %+v, %v", e, err)
		}
		e, err = s.Put(ctx, "a/b", []byte("three"), store.AnyVersion)
		if err != nil || e.Version != 3 {
			t.Fatalf("unconditional write: %+v, %v", e, err)
		}
		got, err := s.Get(ctx, "a/b")
		if err != nil || string(got.Value) != "three" || got.Version != 3 || got.Key != "a/b" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if err := s.Delete(ctx, "a/b", 2); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("delete with a wrong version: %v", err)
		}
		if err := s.Delete(ctx, "a/b", 3); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a/b", store.AnyVersion); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting a missing key: %v", err)
		}
		if _, err := s.Put(ctx, "a/b", nil, store.AnyVersion); err != nil {
			t.Fatalf("unconditional create: %v", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"agents/b", "agents/a", "frameworks/f"} {
			if _, err := s.Put(ctx, k, []byte(k), store.Absent); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.List(ctx, "agents")
		if err != nil || len(got) != 2 || got[0].Key != "agents/a" || string(got[1].Value) != "agents/b" {
			t.Fatalf("List = %+v, %v", got, err)
		}
		if got, err := s.List(ctx, "nothing"); err != nil || len(got) != 0 {
			t.Fatalf("List of an empty prefix = %+v, %v", got, err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"", "/a", "a/", "a//b", "../x", "a/./b"} {
			if _, err := s.Put(ctx, k, nil, store.AnyVersion); err == nil {
				t.Errorf("Put(%q) accepted", k)
			}
		}
	})
	t.Run("concurrent compare-and-set loses no update", func(t *testing.T) {
		s := open(t)
		if _, err := s.Put(ctx, "counter", []byte("0"), store.Absent); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 10 {
					for {
						e, err := s.Get(ctx, "counter")
						if err != nil {
							t.Error(err)
							return
						}
						var n int
						fmt.Sscan(string(e.Value), &n)
						_, err = s.Put(ctx, "counter", fmt.Append(nil, n+1), e.Version)
						if err == nil {
							break
						}
						if !errors.Is(err, store.ErrConflict) {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if e, _ := s.Get(ctx, "counter"); string(e.Value) != "40" || e.Version != 41 {
			t.Fatalf("counter = %s at version %d, want 40 at 41", e.Value, e.Version)
		}
	})
	t.Run("watch", func(t *testing.T) {
		s := open(t)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := s.Watch(wctx, "leader")
		if err != nil {
			t.Fatal(err)
		}
		next := func(want string, version int64) {
			t.Helper()
			deadline := time.After(20 * time.Second)
			for {
				select {
				case e := <-ch:
					if string(e.Value) == want && e.Version == version {
						return
					}
				case <-deadline:
					t.Fatalf("watch never saw %q at version %d", want, version)
				}
			}
		}
		next("", 0)
		if _, err := s.Put(ctx, "leader", []byte("m1"), store.Absent); err != nil {
			t.Fatal(err)
		}
		next("m1", 1)
		if _, err := s.Put(ctx, "leader", []byte("m2"), 1); err != nil {
			t.Fatal(err)
		}
		next("m2", 2)
		if err := s.Delete(ctx, "leader", store.AnyVersion); err != nil {
			t.Fatal(err)
		}
		next("", 0)
		cancel()
		for range ch {
		}
	})
	t.Run("fenced writes", func(t *testing.T) { fencing(t, open(t)) })
	t.Run("writes need the writer's election key", func(t *testing.T) { aliveGuard(t, open(t)) })
}

// fencing checks guarded writes: a writer whose fence was taken by another
// can no longer change anything, through any kind of write.
func fencing(t *testing.T, s store.Store) {
	ctx := context.Background()
	gs, ok := s.(store.Guarded)
	if !ok {
		t.Fatalf("%T cannot guard writes", s)
	}
	first, err := store.TakeFence(ctx, s, "registry/epoch", []byte("first"))
	if err != nil || first.Version != 1 {
		t.Fatalf("taking a new fence: %+v, %v", first, err)
	}
	old := store.Fenced(gs, first)
	if e, err := old.Put(ctx, "registry/agents/a1", []byte("one"), store.Absent); err != nil || e.Version != 1 {
		t.Fatalf("create while holding the fence: %+v, %v", e, err)
	}
	if _, err := old.Put(ctx, "registry/agents/a1", []byte("two"), store.AnyVersion); err != nil {
		t.Fatalf("overwrite while holding the fence: %v", err)
	}
	if _, err := old.Put(ctx, "registry/agents/a1", []byte("x"), 7); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a version mismatch while holding the fence is a conflict, got %v", err)
	}
	if _, err := old.Put(ctx, "registry/agents/a2", []byte("two"), store.AnyVersion); err != nil {
		t.Fatalf("unconditional create while holding the fence: %v", err)
	}
	if err := old.Delete(ctx, "registry/agents/a2", store.AnyVersion); err != nil {
		t.Fatalf("delete while holding the fence: %v", err)
	}
	if err := old.Delete(ctx, "registry/agents/a2", store.AnyVersion); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing key while holding the fence: %v", err)
	}

	// A successor takes the fence: the old holder can write nothing more,
	// while reading still works.
	second, err := store.TakeFence(ctx, s, "registry/epoch", []byte("second"))
	if err != nil || second.Version != 2 {
		t.Fatalf("taking the fence again: %+v, %v", second, err)
	}
	for name, write := range map[string]func() error{
		"put": func() error {
			_, err := old.Put(ctx, "registry/agents/a1", []byte("stale"), store.AnyVersion)
			return err
		},
		"put at ver": func() error { _, err := old.Put(ctx, "registry/agents/a1", []byte("stale"), 2); return err },
		"create":     func() error { _, err := old.Put(ctx, "registry/agents/a3", []byte("stale"), store.Absent); return err },
		"delete":     func() error { return old.Delete(ctx, "registry/agents/a1", store.AnyVersion) },
	} {
		if err := write(); !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s by a fenced writer: %v, want ErrFenced", name, err)
		}
	}
	if b, ok := old.(store.Batcher); ok {
		err := b.Apply(ctx, []store.Op{{Key: "registry/agents/a1", Value: []byte("stale")}, {Key: "registry/agents/a4", Delete: true}})
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("a batch by a fenced writer: %v, want ErrFenced", err)
		}
	}
	if e, err := old.Get(ctx, "registry/agents/a1"); err != nil || string(e.Value) != "two" || e.Version != 2 {
		t.Fatalf("after fenced writes a1 = %+v, %v; want two at version 2", e, err)
	}
	if _, err := s.Get(ctx, "registry/agents/a3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a fenced create happened: %v", err)
	}
	current := store.Fenced(gs, second)
	if _, err := current.Put(ctx, "registry/agents/a1", []byte("three"), 2); err != nil {
		t.Fatalf("the fence's holder writes: %v", err)
	}
	if b, ok := current.(store.Batcher); ok {
		if err := b.Apply(ctx, []store.Op{{Key: "registry/agents/a4", Value: []byte("four")}}); err != nil {
			t.Fatalf("a batch by the fence's holder: %v", err)
		}
	}
	if e, err := s.Get(ctx, "registry/epoch"); err != nil || string(e.Value) != "second" {
		t.Fatalf("the fence key holds %+v, %v; want the last holder", e, err)
	}

	// A fence whose key is gone guards nothing, and a guard must name a
	// real version.
	if err := s.Delete(ctx, "registry/epoch", store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := current.Put(ctx, "registry/agents/a1", []byte("x"), store.AnyVersion); !errors.Is(err, store.ErrFenced) {
		t.Errorf("a write guarded by a deleted key: %v, want ErrFenced", err)
	}
	if _, err := gs.PutGuarded(ctx, store.Guard{Key: "registry/epoch"}, "registry/agents/a1", nil, store.AnyVersion); err == nil || errors.Is(err, store.ErrFenced) {
		t.Errorf("a guard without a version: %v, want an error naming it", err)
	}
	if err := gs.DeleteGuarded(ctx, store.Guard{Key: "/bad", Version: 1}, "registry/agents/a1", store.AnyVersion); err == nil {
		t.Error("a guard with an invalid key was accepted")
	}

	// Taking the fence and writing under the old one race: once
	// TakeFence has returned, no write of the old holder lands.
	third, err := store.TakeFence(ctx, s, "registry/epoch", []byte("third"))
	if err != nil {
		t.Fatal(err)
	}
	racer := store.Fenced(gs, third)
	stop := make(chan struct{})
	landed := make(chan int, 1)
	go func() {
		last := 0
		defer func() { landed <- last }()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := racer.Put(ctx, "registry/race", fmt.Append(nil, i), store.AnyVersion); err != nil {
				if !errors.Is(err, store.ErrFenced) {
					t.Errorf("racing write: %v", err)
				}
				return
			}
			last = i
		}
	}()
	if _, err := store.TakeFence(ctx, s, "registry/epoch", []byte("fourth")); err != nil {
		t.Fatal(err)
	}
	after, err := s.Get(ctx, "registry/race")
	close(stop)
	last := <-landed
	if err == nil && string(after.Value) != fmt.Sprint(last) {
		t.Fatalf("the fenced writer's last write landed as %q, but it saw %d succeed", after.Value, last)
	}
	if got, _ := s.Get(ctx, "registry/race"); string(got.Value) != string(after.Value) {
		t.Fatalf("a write landed after the fence was taken: %q, then %q", after.Value, got.Value)
	}
}

func TestLocal(t *testing.T) {
	conformance(t, func(t *testing.T) store.Store {
		s, err := store.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestLocalSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	s, err := store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "registry/weights", []byte(`{"web":2}`), store.Absent); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(context.Background(), "registry/weights")
	if err != nil || string(e.Value) != `{"web":2}` || e.Version != 1 {
		t.Fatalf("after reopening: %+v, %v", e, err)
	}
}

func TestLocalRefusesACorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/store.json", "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenLocal(dir); err == nil {
		t.Fatal("a corrupt store opened")
	}
}

func TestZooKeeper(t *testing.T) {
	zk := zktest.Start(t)
	n := 0
	conformance(t, func(t *testing.T) store.Store {
		n++
		s, err := store.DialZooKeeper([]string{zk.Addr}, fmt.Sprintf("/corral-test-%d", n), "", 4*time.Second, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestZooKeeperDigestACL(t *testing.T) {
	zk := zktest.Start(t)
	ctx := context.Background()
	owner, err := store.DialZooKeeper([]string{zk.Addr}, "/secured", "corral:secret", 4*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.Put(ctx, "registry/quota", []byte("q"), store.Absent); err != nil {
		t.Fatal(err)
	}
	stranger, err := store.DialZooKeeper([]string{zk.Addr}, "/secured", "", 4*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.Get(ctx, "registry/quota"); err == nil {
		t.Fatal("a client without credentials read a protected znode")
	}
	if e, err := owner.Get(ctx, "registry/quota"); err != nil || string(e.Value) != "q" {
		t.Fatalf("owner read %+v, %v", e, err)
	}
}

func TestParseZKURL(t *testing.T) {
	servers, root, err := store.ParseZKURL("zk://a:2181,b:2182/corral/prod")
	if err != nil || len(servers) != 2 || servers[1] != "b:2182" || root != "/corral/prod" {
		t.Fatalf("got %v %q %v", servers, root, err)
	}
	for _, bad := range []string{"http://a:1/x", "zk://a:1", "zk:///x", "::", "zk://user@a:1/x", "zk://:pw@a:1/x"} {
		if _, _, err := store.ParseZKURL(bad); err == nil {
			t.Errorf("ParseZKURL(%q) accepted", bad)
		}
	}
	u, err := store.ParseZKURLAuth("zk://corral:s3cret@a:2181,b:2182/corral")
	if err != nil || u.Credentials != "corral:s3cret" || len(u.Servers) != 2 || u.Root != "/corral" {
		t.Fatalf("ParseZKURLAuth: %+v, %v", u, err)
	}
	if got := store.RedactZKURL("zk://corral:s3cret@a:2181/corral"); got != "zk://corral:xxxxx@a:2181/corral" {
		t.Errorf("RedactZKURL = %q", got)
	}
	if _, err := store.ParseZKURLAuth("zk://corral:s3cret@a:2181"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("an error must not show the password: %v", err)
	}
}

func TestLocalAppliesABatchDurably(t *testing.T) {
	dir := t.TempDir()
	s, err := store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "a/old", []byte("1"), store.Absent); err != nil {
		t.Fatal(err)
	}
	watch, err := s.Watch(ctx, "a/x")
	if err != nil {
		t.Fatal(err)
	}
	<-watch // the current (absent) entry
	err = s.Apply(ctx, []store.Op{{Key: "a/x", Value: []byte("x")}, {Key: "a/y", Value: []byte("y")},
		{Key: "a/old", Delete: true}, {Key: "a/never", Delete: true}, {Key: "a/x", Value: []byte("x2")}})
	if err != nil {
		t.Fatal(err)
	}
	if e := <-watch; string(e.Value) != "x2" {
		t.Fatalf("watch saw %q, want the batch's last value", e.Value)
	}
	if err := s.Apply(ctx, []store.Op{{Key: "a/z", Value: []byte("z")}, {Key: "/bad"}}); err == nil {
		t.Fatal("a batch with an invalid key was applied")
	}
	s.Close()
	s, err = store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.List(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Key+"="+string(e.Value))
	}
	if strings.Join(got, ",") != "a/x=x2,a/y=y" {
		t.Fatalf("after reopening: %v", got)
	}
}

func TestLocalDropsATornLastWriteAndRefusesCorruption(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, "a/1", []byte("one"), store.AnyVersion)
	s.Put(ctx, "a/2", []byte("two"), store.AnyVersion)
	s.Close()
	// A crash in the middle of the next write leaves half a line.
	f, _ := os.OpenFile(filepath.Join(dir, "store.log"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"ops":[{"k":"a/3","v":"dGhy`)
	f.Close()
	s, err = store.OpenLocal(dir)
	if err != nil {
		t.Fatalf("a torn last write: %v", err)
	}
	entries, _ := s.List(ctx, "a")
	if len(entries) != 2 || string(entries[1].Value) != "two" {
		t.Fatalf("after the torn write: %+v", entries)
	}
	// The store goes on from there.
	if _, err := s.Put(ctx, "a/3", []byte("three"), store.Absent); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = store.OpenLocal(dir); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(ctx, "a/3"); err != nil || string(e.Value) != "three" {
		t.Fatalf("a/3 after reopening: %+v %v", e, err)
	}
	s.Close()
	// Garbage before the last line is corruption, not a torn write.
	b, _ := os.ReadFile(filepath.Join(dir, "store.log"))
	os.WriteFile(filepath.Join(dir, "store.log"), append([]byte("garbage\n"), b...), 0o644)
	if _, err := store.OpenLocal(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("a corrupt log opened: %v", err)
	}
}

func TestLocalFoldsItsLogIntoASnapshot(t *testing.T) {
	defer store.SetCompactAt(2048)()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := s.Put(ctx, fmt.Sprintf("k/%d", i%20), []byte(strings.Repeat("x", 100)+fmt.Sprint(i)), store.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	s.Delete(ctx, "k/0", store.AnyVersion)
	s.Close()
	logInfo, _ := os.Stat(filepath.Join(dir, "store.log"))
	snapInfo, err := os.Stat(filepath.Join(dir, "store.json"))
	if err != nil || logInfo.Size() > 2*snapInfo.Size()+512 {
		t.Fatalf("log %d bytes, snapshot %v: the log was never folded", logInfo.Size(), snapInfo)
	}
	s, err = store.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := s.List(ctx, "k")
	if len(entries) != 19 {
		t.Fatalf("%d entries after reopening, want 19", len(entries))
	}
	if e, _ := s.Get(ctx, "k/19"); e.Version != 10 || !strings.HasSuffix(string(e.Value), "199") {
		t.Fatalf("k/19 = %+v, want version 10 holding the last value", e)
	}
}

// A fold runs beside the writes; a process killed at any stage of it
// leaves a directory that opens to every write made so far, those made
// while the fold ran included. The directory is copied while the fold is
// held at a stage: what a crash at that moment would have left.
func TestLocalFoldSurvivesACrashAtEachStage(t *testing.T) {
	defer store.SetCompactAt(1024)()
	for _, stage := range []string{"moved", "written"} {
		t.Run(stage, func(t *testing.T) {
			reached, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			defer store.SetFoldHook(func(s string) {
				if s == stage {
					once.Do(func() { close(reached); <-release })
				}
			})()
			dir, ctx := t.TempDir(), context.Background()
			s, err := store.OpenLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			put := func(key string, i int) {
				t.Helper()
				if _, err := s.Put(ctx, key, []byte(strings.Repeat("x", 100)+fmt.Sprint(i)), store.AnyVersion); err != nil {
					t.Fatal(err)
				}
			}
			// Keys of their own until the fold starts: only the moved log
			// (and the snapshot, once written) holds them.
			for i := 0; ; i++ {
				put(fmt.Sprintf("k/%d", i), i)
				if i > 10000 {
					t.Fatal("no fold started")
				}
				select {
				case <-reached:
				default:
					continue
				}
				break
			}
			// Writes go on while the fold is held: they overwrite keys the
			// moved log holds, delete one and add others.
			for i := range 5 {
				put(fmt.Sprintf("k/%d", i), 1000+i)
				put(fmt.Sprintf("k/new-%d", i), 2000+i)
			}
			if err := s.Delete(ctx, "k/3", store.AnyVersion); err != nil {
				t.Fatal(err)
			}
			want, _ := s.List(ctx, "k")
			crashed := t.TempDir()
			copyDir(t, dir, crashed)
			close(release)
			s.Close()
			for _, d := range []string{crashed, dir} {
				r, err := store.OpenLocal(d)
				if err != nil {
					t.Fatalf("reopening %s: %v", d, err)
				}
				got, _ := r.List(ctx, "k")
				r.Close()
				if !slices.EqualFunc(got, want, func(a, b store.Entry) bool {
					return a.Key == b.Key && a.Version == b.Version && bytes.Equal(a.Value, b.Value)
				}) {
					t.Fatalf("%s reopened with %d entries, want the %d written (first difference among %v)", d, len(got), len(want), keysOf(got))
				}
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	files, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(from, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func keysOf(es []store.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s@%d", e.Key, e.Version))
	}
	return out
}

// BenchmarkZooKeeperList reads a registry-sized prefix: 2,000 entries.
func BenchmarkZooKeeperList(b *testing.B) {
	zk := zktest.Start(b)
	s, err := store.DialZooKeeper([]string{zk.Addr}, "/bench", "", 10*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 2000 {
		if _, err := s.Put(ctx, fmt.Sprintf("agents/a%05d", i), []byte("agent info of a realistic size, a few hundred bytes at most"), store.Absent); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		list, err := s.List(ctx, "agents")
		if err != nil || len(list) != 2000 {
			b.Fatalf("%d entries, %v", len(list), err)
		}
	}
}

package kit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/store"
)

// record is a framework's record as the tests keep it.
type record struct {
	Name string `json:"name"`
}

// journal is a store that cannot batch, records the order of its writes
// and deletes, and fails while failing is set.
type journal struct {
	store.Store
	mu      sync.Mutex
	ops     []string // "put k" / "delete k"
	failing bool
}

func (j *journal) Put(ctx context.Context, key string, value []byte, expected int64) (store.Entry, error) {
	if err := j.log("put " + key); err != nil {
		return store.Entry{}, err
	}
	return j.Store.Put(ctx, key, value, expected)
}

func (j *journal) Delete(ctx context.Context, key string, expected int64) error {
	if err := j.log("delete " + key); err != nil {
		return err
	}
	return j.Store.Delete(ctx, key, expected)
}

var errDown = errors.New("store down")

func (j *journal) fail(failing bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.failing = failing
}

func (j *journal) log(op string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failing {
		return errDown
	}
	j.ops = append(j.ops, op)
	return nil
}

func openLocal(t *testing.T) *store.Local {
	t.Helper()
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// keys lists what the store holds under prefix.
func keys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	entries, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Key+"="+string(e.Value))
	}
	return out
}

func TestFlushWritesMarkedRecordsAndDeletesRemovedOnes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		st   func(*testing.T) store.Store
		opts DurableOptions
	}{
		{"batched", func(t *testing.T) store.Store { return openLocal(t) }, DurableOptions{Name: "test"}},
		{"key by key", func(t *testing.T) store.Store { return &journal{Store: openLocal(t)} }, DurableOptions{Name: "test"}},
		{"in parallel", func(t *testing.T) store.Store { return &journal{Store: openLocal(t)} }, DurableOptions{Name: "test", Parallel: 4}},
		{"unbatched", func(t *testing.T) store.Store { return openLocal(t) }, DurableOptions{Name: "test", Unbatched: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st(t)
			var mu sync.Mutex
			recs := map[string]*record{"a": {"A"}, "b": {"B"}, "c": {"C"}}
			d := NewDurable(st, &mu, tc.opts)
			tab := d.Table("t", JSONIn(recs))
			mu.Lock()
			tab.Mark("a")
			tab.Mark("b")
			tab.Mark("c")
			d.Put("raw/x", []byte("1"))
			mu.Unlock()
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := keys(t, st, "t"), []string{`t/a={"name":"A"}`, `t/b={"name":"B"}`, `t/c={"name":"C"}`}; !slices.Equal(got, want) {
				t.Fatalf("after the first flush the store holds %q, want %q", got, want)
			}

			mu.Lock()
			recs["a"].Name = "A2"
			tab.Mark("a")
			tab.Mark("b")
			tab.Remove("b") // removed after it changed: deleted, not written
			delete(recs, "c")
			tab.Mark("c") // gone from the records: nothing to write
			d.Put("raw/y", []byte("2"))
			d.Delete("raw/y") // deleted before it was written
			d.Delete("raw/x")
			mu.Unlock()
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := keys(t, st, "t"), []string{`t/a={"name":"A2"}`, `t/c={"name":"C"}`}; !slices.Equal(got, want) {
				t.Errorf("the store holds %q, want %q", got, want)
			}
			if got := keys(t, st, "raw"); len(got) != 0 {
				t.Errorf("raw keys %q are left, want none", got)
			}
		})
	}
}

func TestNamedTableKeys(t *testing.T) {
	var mu sync.Mutex
	d := NewDurable(openLocal(t), &mu, DurableOptions{Name: "test"})
	tab := d.Table("apps", JSONIn(map[string]*record{})).Named(func(id string) string { return "n-" + id })
	if got := tab.Key("web"); got != "apps/n-web" {
		t.Errorf("Key = %q, want apps/n-web", got)
	}
}

func TestAFailedFlushKeepsEverythingForTheNext(t *testing.T) {
	ctx := context.Background()
	j := &journal{Store: openLocal(t)}
	var mu sync.Mutex
	recs := map[string]*record{"a": {"A"}, "gone": {"G"}}
	d := NewDurable(j, &mu, DurableOptions{Name: "test"})
	tab := d.Table("t", JSONIn(recs))
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	tab.Mark("gone")
	mu.Unlock()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	tab.Mark("a")
	d.Put("raw/old", []byte("old"))
	delete(recs, "gone")
	tab.Remove("gone")
	mu.Unlock()
	j.fail(true)
	err := d.Flush(ctx)
	if !errors.Is(err, errDown) {
		t.Fatalf("Flush = %v, want the store's error", err)
	}
	// A value Put while the failed flush was out is newer and is kept.
	mu.Lock()
	d.Put("raw/old", []byte("new"))
	mu.Unlock()
	j.fail(false)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, j, "t"), []string{`t/a={"name":"A"}`}; !slices.Equal(got, want) {
		t.Errorf("after the retry the store holds %q, want %q", got, want)
	}
	if got, want := keys(t, j, "raw"), []string{"raw/old=new"}; !slices.Equal(got, want) {
		t.Errorf("after the retry the raw keys are %q, want %q", got, want)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFlushWritesBeforeItDeletes(t *testing.T) {
	for _, parallel := range []int{0, 3} {
		j := &journal{Store: openLocal(t)}
		var mu sync.Mutex
		recs := map[string]*record{}
		d := NewDurable(j, &mu, DurableOptions{Name: "test", Parallel: parallel})
		tab := d.Table("t", JSONIn(recs))
		mu.Lock()
		for _, id := range []string{"1", "2", "3", "4", "5"} {
			recs[id] = &record{id}
			tab.Mark(id)
			tab.Remove("old" + id)
		}
		mu.Unlock()
		if err := d.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		last := slices.IndexFunc(j.ops, func(op string) bool { return op[0] == 'd' })
		if last < 0 || len(j.ops) != 10 {
			t.Fatalf("parallel %d: ops %q, want 5 writes and 5 deletes", parallel, j.ops)
		}
		for _, op := range j.ops[last:] {
			if op[0] != 'd' {
				t.Errorf("parallel %d: %q came after a delete: %q", parallel, op, j.ops)
			}
		}
	}
}

func TestEncodingErrorsKeepTheRecordPending(t *testing.T) {
	var mu sync.Mutex
	st := openLocal(t)
	d := NewDurable(st, &mu, DurableOptions{Name: "test"})
	broken := true
	tab := d.Table("t", func(id string) ([]byte, bool, error) {
		if broken {
			return nil, false, errors.New("cannot encode")
		}
		return []byte(id), true, nil
	})
	mu.Lock()
	tab.Mark("a")
	mu.Unlock()
	if err := d.Flush(context.Background()); err == nil {
		t.Fatal("Flush of a record that cannot be encoded succeeded")
	}
	broken = false
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, st, "t"), []string{"t/a=a"}; !slices.Equal(got, want) {
		t.Errorf("the store holds %q, want %q", got, want)
	}
}

func TestLoadJSONNamesTheKeyItCannotDecode(t *testing.T) {
	ctx := context.Background()
	st := openLocal(t)
	for k, v := range map[string]string{"t/a": `{"name":"A"}`, "t/b": `{"name":"B"}`} {
		if _, err := st.Put(ctx, k, []byte(v), store.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := LoadJSON(ctx, st, "t", func(r *record) { got = append(got, r.Name) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("loaded %q, want [A B] in key order", got)
	}
	if _, err := st.Put(ctx, "t/c", []byte("{"), store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	err := LoadJSON(ctx, st, "t", func(*record) {})
	if err == nil || !strings.Contains(err.Error(), "t/c") {
		t.Errorf("LoadJSON of a broken record = %v, want an error naming t/c", err)
	}
}

// A record removed and made again under its ID before the flush (an app
// deleted and created anew) ends written: the delete, which a flush runs
// after its writes, is dropped. Likewise across a failed flush.
func TestARecordMadeAgainAfterItsRemovalIsKept(t *testing.T) {
	ctx := context.Background()
	st := &journal{Store: openLocal(t)}
	var mu sync.Mutex
	recs := map[string]*record{"a": {"A"}}
	d := NewDurable(st, &mu, DurableOptions{Name: "test"})
	tab := d.Table("t", JSONIn(recs))
	mu.Lock()
	tab.Mark("a")
	mu.Unlock()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	tab.Remove("a")
	recs["a"] = &record{"A, again"}
	tab.Mark("a")
	d.Delete("raw/x")
	d.Put("raw/x", []byte("again"))
	mu.Unlock()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, st, "t"), []string{`t/a={"name":"A, again"}`}; !slices.Equal(got, want) {
		t.Fatalf("after remove and remake the store holds %q, want %q", got, want)
	}
	if got, want := keys(t, st, "raw"), []string{"raw/x=again"}; !slices.Equal(got, want) {
		t.Fatalf("after delete and put the store holds %q, want %q", got, want)
	}

	// The removal's flush fails; the record is made again before the next.
	mu.Lock()
	tab.Remove("a")
	delete(recs, "a")
	mu.Unlock()
	st.fail(true)
	if err := d.Flush(ctx); err == nil {
		t.Fatal("a flush to a failing store succeeded")
	}
	st.fail(false)
	mu.Lock()
	recs["a"] = &record{"A, third"}
	tab.Mark("a")
	mu.Unlock()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, st, "t"), []string{`t/a={"name":"A, third"}`}; !slices.Equal(got, want) {
		t.Fatalf("after a failed removal and a remake the store holds %q, want %q", got, want)
	}
}

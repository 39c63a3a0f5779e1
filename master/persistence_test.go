package master

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// refusingStore is a local store whose writes under a prefix fail while
// refuse is set, whichever way they are made.
type refusingStore struct {
	*store.Local
	prefix string
	refuse atomic.Bool
}

var errRefused = errors.New("injected registry failure")

func (r *refusingStore) refused(key string) bool {
	return r.refuse.Load() && strings.HasPrefix(key, r.prefix)
}

func (r *refusingStore) Put(ctx context.Context, key string, value []byte, expected int64) (store.Entry, error) {
	if r.refused(key) {
		return store.Entry{}, errRefused
	}
	return r.Local.Put(ctx, key, value, expected)
}

func (r *refusingStore) PutGuarded(ctx context.Context, g store.Guard, key string, value []byte, expected int64) (store.Entry, error) {
	if r.refused(key) {
		return store.Entry{}, errRefused
	}
	return r.Local.PutGuarded(ctx, g, key, value, expected)
}

func (r *refusingStore) Apply(ctx context.Context, ops []store.Op) error {
	for _, op := range ops {
		if r.refused(op.Key) {
			return errRefused
		}
	}
	return r.Local.Apply(ctx, ops)
}

func (r *refusingStore) ApplyGuarded(ctx context.Context, g store.Guard, ops []store.Op) error {
	for _, op := range ops {
		if r.refused(op.Key) {
			return errRefused
		}
	}
	return r.Local.ApplyGuarded(ctx, g, ops)
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

func updateFrameworkCall(info *mesospb.FrameworkInfo) *schedulerpb.Call {
	return &schedulerpb.Call{Type: schedulerpb.Call_UPDATE_FRAMEWORK.Enum(),
		UpdateFramework: &schedulerpb.Call_UpdateFramework{FrameworkInfo: info}}
}

// frameworkOf finds a framework in GET_FRAMEWORKS.
func frameworkOf(t *testing.T, base, id string) *mesospb.FrameworkInfo {
	t.Helper()
	for _, f := range operator(t, base, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).
		GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetId().GetValue() == id {
			return f.GetFrameworkInfo()
		}
	}
	t.Fatalf("GET_FRAMEWORKS does not list %s", id)
	return nil
}

func TestUpdateFrameworkSurvivesFailover(t *testing.T) {
	st := openLocal(t)
	first, stop := startWithStore(t, st, nil)
	info := fwInfo(func(i *mesospb.FrameworkInfo) {
		multiRole(i)
		i.Roles, i.FailoverTimeout = []string{"web"}, proto.Float64(60)
	})
	fw := subscribe(t, first.URL, codec.Protobuf, info)
	updated := proto.CloneOf(info)
	updated.Id = &mesospb.FrameworkID{Value: proto.String(fw.id)}
	updated.Roles, updated.FailoverTimeout = []string{"web", "batch"}, proto.Float64(7200)
	fw.call(updateFrameworkCall(updated), http.StatusOK)
	stop()

	second, _ := startWithStore(t, st, nil)
	got := frameworkOf(t, second.URL, fw.id)
	if !slices.Equal(got.GetRoles(), []string{"web", "batch"}) || got.GetFailoverTimeout() != 7200 {
		t.Fatalf("the next leader restored roles %v and failover_timeout %v, want [web batch] and 7200",
			got.GetRoles(), got.GetFailoverTimeout())
	}
}

func TestUpdateFrameworkNotRecordedIsRefused(t *testing.T) {
	st := &refusingStore{Local: openLocal(t), prefix: registryFrameworks + "/"}
	srv, _ := startWithStore(t, st, nil)
	info := fwInfo(func(i *mesospb.FrameworkInfo) { multiRole(i); i.Roles = []string{"web"} })
	fw := subscribe(t, srv.URL, codec.Protobuf, info)
	updated := proto.CloneOf(info)
	updated.Id = &mesospb.FrameworkID{Value: proto.String(fw.id)}
	updated.Roles = []string{"batch"}

	st.refuse.Store(true)
	if msg := fw.call(updateFrameworkCall(updated), http.StatusServiceUnavailable); !strings.Contains(msg, "record") {
		t.Errorf("503 says %q, want why", msg)
	}
	if got := frameworkOf(t, srv.URL, fw.id).GetRoles(); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("after a failed UPDATE_FRAMEWORK the master has roles %v, want [web] unchanged", got)
	}
	st.refuse.Store(false)
	fw.call(updateFrameworkCall(updated), http.StatusOK)
	if got := frameworkOf(t, srv.URL, fw.id).GetRoles(); !slices.Equal(got, []string{"batch"}) {
		t.Fatalf("after the retry the master has roles %v, want [batch]", got)
	}
}

// subscribeRefused subscribes with a framework ID and returns the ERROR
// the master answers with.
func subscribeRefused(t *testing.T, base, id string) string {
	t.Helper()
	info := fwInfo(func(i *mesospb.FrameworkInfo) { i.Id = &mesospb.FrameworkID{Value: proto.String(id)} })
	body, _ := proto.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: info.Id,
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}})
	s := openStream(t, base+"/api/v1/scheduler", codec.Protobuf.MediaType(), body, codec.Protobuf.MediaType())
	defer s.close()
	rec, ok := s.next()
	ev := &schedulerpb.Event{}
	if !ok || proto.Unmarshal(rec, ev) != nil || ev.GetType() != schedulerpb.Event_ERROR {
		t.Fatalf("framework %s re-subscribing got %v, want ERROR", id, ev)
	}
	return ev.GetError().GetMessage()
}

func removedInStore(t *testing.T, st store.Store) []string {
	t.Helper()
	entries, err := st.List(context.Background(), registryRemoved)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, lastComponent(e.Key))
	}
	return ids
}

func TestRemovedFrameworksAreBounded(t *testing.T) {
	const removals, bound = 200, 50
	st := openLocal(t)
	first, stop := startWithStore(t, st, func(c *Config) { c.MaxCompletedFrameworks = bound })
	var ids []string
	for range removals {
		fw := subscribe(t, first.URL, codec.Protobuf, fwInfo(nil))
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}, http.StatusAccepted)
		fw.stream.close()
		ids = append(ids, fw.id)
	}
	kept := removedInStore(t, st)
	slices.Sort(kept)
	newest := slices.Clone(ids[removals-bound:])
	slices.Sort(newest)
	if !slices.Equal(kept, newest) {
		t.Fatalf("after %d removals the registry keeps %d removed frameworks, want the newest %d", removals, len(kept), bound)
	}
	if msg := subscribeRefused(t, first.URL, ids[removals-1]); !strings.Contains(msg, "removed") {
		t.Errorf("a kept removed framework was refused with %q", msg)
	}
	if msg := subscribeRefused(t, first.URL, ids[0]); !strings.Contains(msg, "removed") {
		t.Errorf("a pruned removed framework was refused with %q, want it to say it may have been removed", msg)
	}
	stop()

	// A registry filled before there was a bound, with older removals
	// (one in the older seconds-only format), is pruned on recovery to
	// the newest ones of the new, smaller bound.
	ctx := context.Background()
	for i := range 100 {
		at := time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339Nano)
		if i == 0 {
			at = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
		}
		if _, err := st.Put(ctx, fmt.Sprintf("%s/old-%03d", registryRemoved, i), []byte(at), store.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	second, _ := startWithStore(t, st, func(c *Config) { c.MaxCompletedFrameworks = 20 })
	kept = removedInStore(t, st)
	slices.Sort(kept)
	newest = slices.Clone(ids[removals-20:])
	slices.Sort(newest)
	if !slices.Equal(kept, newest) {
		t.Fatalf("recovery left %d removed frameworks in the registry (%v...), want the newest 20", len(kept), kept[:min(3, len(kept))])
	}
	for _, id := range []string{ids[0], ids[removals-21], "old-000", ids[removals-1]} {
		if msg := subscribeRefused(t, second.URL, id); !strings.Contains(msg, "removed") {
			t.Errorf("removed framework %s re-subscribing to the next leader was refused with %q", id, msg)
		}
	}
}

// Without a registry the master knows nothing of earlier frameworks: like
// Mesos, it takes a framework back under the ID it brings.
func TestWithoutRegistryAnUnknownIDMaySubscribe(t *testing.T) {
	srv := startMaster(t, nil)
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) {
		i.Id = &mesospb.FrameworkID{Value: proto.String("from-an-earlier-master")}
	}))
	if fw.id != "from-an-earlier-master" {
		t.Fatalf("framework subscribed as %s", fw.id)
	}
}

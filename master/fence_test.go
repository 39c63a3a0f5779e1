package master

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
	"google.golang.org/protobuf/proto"
)

// runFenced runs a master on st until the test ends; its Run's result
// arrives on the channel.
func runFenced(t *testing.T, id string, st store.Store) (*Master, <-chan error) {
	t.Helper()
	m, err := New(Config{Addr: "127.0.0.1:5050", ID: id, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-m.stopped
	})
	deadline := time.Now().Add(30 * time.Second)
	for !m.recovered.Load() {
		select {
		case err := <-done:
			t.Fatalf("master %s stopped while starting: %v", id, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("master %s did not recover its registry", id)
		}
		time.Sleep(5 * time.Millisecond) // polling for readiness
	}
	return m, done
}

// A leader whose fence a newer leader took cannot write the registry by
// any path, and stops at its first attempt; the newer one writes on.
func TestDeposedMasterStopsAtItsFirstFencedWrite(t *testing.T) {
	for name, open := range zktest.RegistryPairs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			olderStore, newerStore := open(t)
			older, olderDone := runFenced(t, "older", olderStore)
			if rep := setWeight(t, older, 1); rep.Failed() {
				t.Fatalf("the only leader writes: %v %s", rep.Code, rep.Msg)
			}
			const web = "registry/weights/web"
			before, err := olderStore.Get(ctx, web)
			if err != nil {
				t.Fatalf("the weight was not recorded: %v", err)
			}

			// A newer leader starts: it takes the fence.
			newer, _ := runFenced(t, "newer", newerStore)

			if rep := setWeight(t, older, 9); rep.Code != core.Unavailable {
				t.Fatalf("the deposed master's write answered %v %s, want unavailable", rep.Code, rep.Msg)
			}
			select {
			case err := <-olderDone:
				if !errors.Is(err, store.ErrFenced) {
					t.Fatalf("the deposed master's Run returned %v, want ErrFenced", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the deposed master still runs")
			}
			if err := older.do(ctx, func(*core.Core) {}); !errors.Is(err, errStopped) {
				t.Fatalf("the deposed master still takes work: %v", err)
			}
			if e, err := newerStore.Get(ctx, web); err != nil || string(e.Value) != string(before.Value) {
				t.Fatalf("registry %s = %q, %v; want the value written before the newer leader came", web, e.Value, err)
			}
			if rep := setWeight(t, newer, 2); rep.Failed() {
				t.Fatalf("the newer leader writes: %v %s", rep.Code, rep.Msg)
			}
			e, err := newerStore.Get(ctx, FenceKey)
			var holder struct{ ID string }
			if err != nil || json.Unmarshal(e.Value, &holder) != nil || holder.ID != "newer" || e.Version != 2 {
				t.Fatalf("fence %s = %s at version %d (%v), want the newer master's, taken second", FenceKey, e.Value, e.Version, err)
			}
		})
	}
}

// setWeight sets role web's weight through the operator API's state
// machine, a call that writes the registry.
func setWeight(t *testing.T, m *Master, w float64) core.Result {
	t.Helper()
	call := &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{
		WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("web"), Weight: proto.Float64(w)}}}}
	var rep core.Result
	if err := m.do(context.Background(), func(c *core.Core) { _, rep = c.OperatorCall(call, "") }); err != nil {
		return core.Result{Code: core.Unavailable, Msg: err.Error()}
	}
	return rep
}

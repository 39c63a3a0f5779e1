package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/agentpb"
)

// A fleet registering at once is admitted maxAdmitting at a time: with the
// loop held, that many registrations wait in its inbox and the rest wait
// for a slot, parked; once the loop runs, every one is admitted. An agent
// that gives up while waiting leaves the queue.
func TestAgentRegistrationsAreAdmittedABoundedNumberAtATime(t *testing.T) {
	m, srv, _ := startMasterServer(t, nil)
	release := holdLoop(t, m)
	const beyond = 20
	n := maxAdmitting + beyond
	type registered struct {
		a    *fakeAgent
		code int
		body string
	}
	results := make(chan registered, n)
	for i := range n {
		go func() {
			a, code, body := tryRegister(t, srv.URL, agentSub("", fmt.Sprintf("host-%d", i), 5051, fmt.Sprintf("boot-%d", i)))
			results <- registered{a, code, body}
		}()
	}
	waitFor := func(inbox, waiting int64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); int64(len(m.inbox)) != inbox || m.admissionsWaiting.Load() != waiting; {
			if time.Now().After(deadline) {
				t.Fatalf("with the loop held: %d registrations in its inbox and %d waiting for a slot, want %d and %d",
					len(m.inbox), m.admissionsWaiting.Load(), inbox, waiting)
			}
			time.Sleep(10 * time.Millisecond) // polling the queues
		}
	}
	waitFor(maxAdmitting, beyond)
	// One more comes, waits for a slot, and gives up.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- registerWithin(ctx, srv.URL, agentSub("", "host-impatient", 5051, "boot-impatient")) }()
	waitFor(maxAdmitting, beyond+1)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Error("a registration whose client gave up was answered")
	}
	waitFor(maxAdmitting, beyond)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for range n {
		r := <-results
		if r.a == nil {
			t.Fatalf("a registration of the fleet: %d %q", r.code, r.body)
		}
		r.a.next(agentpb.Event_SUBSCRIBED)
	}
	if w := m.admissionsWaiting.Load(); w != 0 {
		t.Fatalf("%d registrations still counted waiting", w)
	}
}

// registerWithin sends a SUBSCRIBE that ctx can abandon; it returns nil
// only if the master answered.
func registerWithin(ctx context.Context, base string, sub *agentpb.Call_Subscribe) error {
	resp, err := subscribeAgent(ctx, base, sub)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

package containerizer

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func TestSimRunsSleepsAndDiesWhenKilled(t *testing.T) {
	sim := newContainerizer(t, "sim")
	p, err := sim.Launch(context.Background(), Spec{Shell: true, Value: "sleep 0.05"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		if e := p.Exit(); e.Code != 0 || e.Signal != 0 {
			t.Fatalf("exit %+v, want 0", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a 50 ms sleep did not end")
	}
	forever, _ := sim.Launch(context.Background(), Spec{Shell: true, Value: "serve --forever"})
	select {
	case <-forever.Done():
		t.Fatal("a task that is not a sleep ended on its own")
	case <-time.After(50 * time.Millisecond):
	}
	if err := forever.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-forever.Done():
		if forever.Exit().Signal != syscall.SIGKILL {
			t.Fatalf("exit %+v, want killed", forever.Exit())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("killing a simulated task did not end it")
	}
	if got := sim.Recover(context.Background(), []Recovered{{Spec: Spec{ID: "c1"}, Pid: 1}}); len(got) != 0 {
		t.Fatalf("Recover found %v: simulated processes die with their agent", got)
	}
}

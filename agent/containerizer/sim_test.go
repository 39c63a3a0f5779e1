package containerizer

import (
	"syscall"
	"testing"
	"time"
)

func TestSimRunsSleepsAndDiesWhenKilled(t *testing.T) {
	p, err := Sim{}.Launch(Spec{Shell: true, Value: "sleep 0.05"})
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
	forever, _ := Sim{}.Launch(Spec{Shell: true, Value: "serve --forever"})
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
	if _, err := (Sim{}).Recover(Spec{}, 1, 0); err != ErrGone {
		t.Fatalf("Recover: %v", err)
	}
}

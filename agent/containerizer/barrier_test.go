package containerizer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/isolators"
)

// probeIsolator records, when Isolate runs, whether the container's
// command has run yet (it creates a file in the sandbox).
type probeIsolator struct {
	ran  chan bool
	fail error
}

func (*probeIsolator) Name() string { return "test/probe" }

func (*probeIsolator) Prepare(context.Context, *isolators.Container, *isolators.Launch) error {
	return nil
}

func (p *probeIsolator) Isolate(_ context.Context, c *isolators.Container) error {
	marker := filepath.Join(c.Sandbox, "ran")
	deadline := time.Now().Add(500 * time.Millisecond)
	ran := false
	for !ran && time.Now().Before(deadline) {
		_, err := os.Stat(marker)
		ran = err == nil
		time.Sleep(10 * time.Millisecond) // giving a command that should not run the chance to
	}
	p.ran <- ran
	return p.fail
}

// The linux launcher holds a container's command until the isolators'
// Isolate is done (Mesos' isolate before exec): a network attached then
// is there when the command starts. An Isolate error stops the launch
// with nothing left behind.
func TestCommandWaitsForIsolate(t *testing.T) {
	c := linuxLauncher(t)
	probe := &probeIsolator{ran: make(chan bool, 1)}
	c.isolators = append(c.isolators, probe)
	sb := sandbox(t)
	p, err := c.Launch(context.Background(), Spec{ID: "barrier", Sandbox: sb, Shell: true, Value: "touch ran"})
	if err != nil {
		t.Fatal(err)
	}
	if ran := <-probe.ran; ran {
		t.Error("the command ran before Isolate was done")
	}
	if exit := waitExit(t, p); exit.Code != 0 {
		t.Fatalf("exit %v", exit)
	}
	if _, err := os.Stat(filepath.Join(sb, "ran")); err != nil {
		t.Fatalf("the command did not run after Isolate: %v", err)
	}

	probe.fail = errors.New("no network for you")
	sb = sandbox(t)
	_, err = c.Launch(context.Background(), Spec{ID: "barrier-refused", Sandbox: sb, Shell: true, Value: "touch ran"})
	if err == nil || !strings.Contains(err.Error(), "test/probe: no network for you") {
		t.Fatalf("launch error %v, want the isolator's", err)
	}
	<-probe.ran
	if _, err := os.Stat(filepath.Join(sb, "ran")); err == nil {
		t.Error("the command ran although Isolate failed")
	}
	if found := c.launcher.Containers(""); len(found) != 0 {
		t.Errorf("containers left after a refused launch: %v", found)
	}
}

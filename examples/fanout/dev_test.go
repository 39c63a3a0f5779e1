package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The example against a real `corral dev`: corral built from this tree,
// run as a process on free loopback ports with a work dir of its own.
func TestAgainstCorralDev(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "corral")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/cmd/corral").CombinedOutput(); err != nil {
		t.Fatalf("building corral: %v\n%s", err, out)
	}
	master := freeAddr(t)
	dev := exec.Command(bin, "dev", "--master-listen", master, "--agents", "2", "--agent-base-port", "0",
		"--work-dir", t.TempDir(), "--service-listen", "127.0.0.1:0", "--pets-listen", "127.0.0.1:0",
		"--batch-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0")
	out, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	dev.Stderr = &logs
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if lines.Text() == "corral dev: ready" {
				close(ready)
			}
		}
		_ = dev.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = dev.Process.Kill()
			<-exited
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("corral dev exited before it was ready:\n%s", logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("corral dev not ready within a minute:\n%s", logs.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--master", master, "--listen", "127.0.0.1:0", "--shards", "3", "--cmd", `echo "$SHARD squared is $((SHARD * SHARD))"`}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("fanout: %v\n%s", err, stderr.String())
	}
	if want := "0 squared is 0\n1 squared is 1\n2 squared is 4\n"; stdout.String() != want {
		t.Fatalf("fanout printed %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "fanout: status at http://127.0.0.1:") {
		t.Errorf("fanout did not say where its status page is:\n%s", stderr.String())
	}
}

func TestBadArgumentsSayWhatIsWrong(t *testing.T) {
	for args, want := range map[string]string{
		"--shards 0 --cmd true":  "0 shards",
		"--shards 2":             "the command is empty",
		"--cmd true extra":       "unexpected arguments",
		"--cmd true --cpus -1":   "must not be negative",
		"--cmd true --listen :x": "status page",
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), strings.Fields(args), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error mentioning %q", args, err, want)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

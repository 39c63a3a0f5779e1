package containerizer

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func launch(t *testing.T, spec Spec) (*Process, string) {
	t.Helper()
	if spec.Sandbox == "" {
		spec.Sandbox = t.TempDir()
	}
	p, err := newContainerizer(t, "posix").Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Signal(syscall.SIGKILL) })
	return p, spec.Sandbox
}

func wait(t *testing.T, p *Process) Exit {
	t.Helper()
	select {
	case <-p.Done():
		return p.Exit()
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
		return Exit{}
	}
}

func TestExitCodesAndOutput(t *testing.T) {
	p, dir := launch(t, Spec{Shell: true, Value: "echo out; echo err >&2; echo $FOO; exit 3", Env: []string{"FOO=bar"}})
	if e := wait(t, p); e.Code != 3 || e.String() != "Command exited with status 3" {
		t.Fatalf("exit = %+v (%s)", e, e)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	errOut, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if string(out) != "out\nbar\n" || string(errOut) != "err\n" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
}

func TestArgvWithoutShell(t *testing.T) {
	p, dir := launch(t, Spec{Value: "/bin/echo", Args: []string{"echo", "a b", "$HOME"}})
	if e := wait(t, p); e.Code != 0 {
		t.Fatalf("exit %v", e)
	}
	if out, _ := os.ReadFile(filepath.Join(dir, "stdout")); string(out) != "a b $HOME\n" {
		t.Fatalf("stdout %q", out)
	}
}

func TestKillEscalatesToSIGKILL(t *testing.T) {
	// The shell ignores TERM, so only the KILL after the grace ends it; its
	// child in the same group goes too.
	p, dir := launch(t, Spec{Shell: true, Value: "trap '' TERM; touch trapped; sleep 600 & wait"})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(dir, "trapped")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell never set its trap")
		}
		time.Sleep(5 * time.Millisecond) // polling for the marker file
	}
	start := time.Now()
	if err := p.Kill(context.Background(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if e := p.Exit(); e.Signal != syscall.SIGKILL {
		t.Fatalf("exit = %v, want SIGKILL", e)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("SIGKILL came before the grace period ended")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signalling an exited process: %v", err)
	}
}

func TestTermEndsAPoliteProcess(t *testing.T) {
	p, _ := launch(t, Spec{Shell: true, Value: "exec sleep 600"})
	if err := p.Kill(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if e := p.Exit(); e.Signal != syscall.SIGTERM || !strings.Contains(e.String(), "signal") {
		t.Fatalf("exit = %v, want SIGTERM", e)
	}
}

func TestUsers(t *testing.T) {
	if _, err := newContainerizer(t, "posix").Launch(context.Background(), Spec{Shell: true, Value: "true", Sandbox: t.TempDir(), User: "no-such-user-here"}); err == nil {
		t.Fatal("an unknown user was accepted")
	}
	if os.Getuid() != 0 {
		t.Skip("switching users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := launch(t, Spec{Shell: true, Value: "id -u", Sandbox: dir, User: "nobody"})
	wait(t, p)
	if out, _ := os.ReadFile(filepath.Join(dir, "stdout")); strings.TrimSpace(string(out)) != nobody.Uid {
		t.Fatalf("ran as uid %q, want %s", out, nobody.Uid)
	}
}

func TestMissingProgram(t *testing.T) {
	if _, err := newContainerizer(t, "posix").Launch(context.Background(), Spec{Value: "/no/such/program", Sandbox: t.TempDir()}); err == nil {
		t.Fatal("launching a missing program succeeded")
	}
}

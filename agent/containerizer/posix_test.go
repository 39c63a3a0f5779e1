package containerizer

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
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

func TestPlainCommands(t *testing.T) {
	for cmd, want := range map[string][]string{
		"sleep 3600": {"sleep", "3600"},
		"  /usr/bin/python3  -m http.server 8080 ": {"/usr/bin/python3", "-m", "http.server", "8080"},
		"app --port=31000 --peers=a:1,b:2":         {"app", "--port=31000", "--peers=a:1,b:2"},
	} {
		if got, ok := plainCommand(cmd); !ok || !slices.Equal(got, want) {
			t.Errorf("plainCommand(%q) = %q, %v; want %q", cmd, got, ok, want)
		}
	}
	for _, cmd := range []string{
		"", "   ", "echo hi", "exit 3", "true", "cd /tmp", "kill -TERM 1", "if", "{", "!", ". ./env",
		"FOO=bar app", "app $HOME", "app \"a b\"", "app 'a'", "app > out", "app | cat", "a && b", "a; b",
		"app *", "app ~/x", "app #comment", "app\nrm -rf x", "app\targ", "app `id`", "app (x)", "app \\n",
	} {
		if got, ok := plainCommand(cmd); ok {
			t.Errorf("plainCommand(%q) = %q: the shell must run it", cmd, got)
		}
	}
}

// Under the exit-status wrapper a plain command runs as its words, with
// no second shell (the wrapper's argv ends with them), and behaves as
// `sh -c` would run it: the program found on the task's PATH, its status
// in the exit file, a missing program 127. Commands the shell must run
// still get one.
func TestPlainShellCommandsRunWithoutASecondShell(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "corral-test-prog"), []byte("#!/bin/sh\necho \"$# $1\"\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + ":/usr/bin:/bin"
	for _, c := range []struct {
		value, stdout string
		code          int
	}{
		{value: "corral-test-prog a-b", stdout: "1 a-b\n", code: 4},
		{value: "corral-test-missing", code: 127},
		{value: "echo $0; exit 3", stdout: "/bin/sh\n", code: 3},
	} {
		dir := t.TempDir()
		exitFile := filepath.Join(dir, ".exit")
		p, _ := launch(t, Spec{Sandbox: dir, Shell: true, Value: c.value, Env: []string{path}, ExitFile: exitFile})
		if got := wait(t, p); got.Code != c.code {
			t.Errorf("%q: exit %v, want %d", c.value, got, c.code)
		}
		if recorded, ok := exitFromFile(exitFile); !ok || recorded.Code != c.code {
			t.Errorf("%q: exit file says %v (found %v), want %d", c.value, recorded, ok, c.code)
		}
		if out, _ := os.ReadFile(filepath.Join(dir, "stdout")); c.stdout != "" && string(out) != c.stdout {
			t.Errorf("%q: stdout %q, want %q", c.value, out, c.stdout)
		}
	}
	for value, words := range map[string][]string{
		"sleep 30":         {"sleep", "30"},
		"sleep 30; exit 0": {"/bin/sh", "-c", "sleep 30; exit 0"},
	} {
		dir := t.TempDir()
		p, _ := launch(t, Spec{Sandbox: dir, Shell: true, Value: value, Env: []string{path}, ExitFile: filepath.Join(dir, ".exit")})
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if len(args) < len(words) || !slices.Equal(args[len(args)-len(words):], words) {
			t.Errorf("%q: the wrapper runs %q, want it to end with %q", value, args, words)
		}
		_ = p.Signal(syscall.SIGKILL)
		wait(t, p)
	}
}

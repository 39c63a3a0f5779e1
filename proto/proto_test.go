package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var protoFiles = []string{"mesospb/mesos.proto", "schedulerpb/scheduler.proto", "agentpb/agent.proto", "masterpb/master.proto", "masterpb/quota.proto", "masterpb/maintenance.proto", "agentapipb/agent_api.proto", "executorpb/executor.proto"}

// findTool looks for a binary in the repo's tool dir, then on PATH.
func findTool(t *testing.T, name string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(here), "..", "bin", "tools", name)
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	if p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name); fileExists(p) {
		return p
	}
	msg := name + " is not installed (`make tools` installs protoc-gen-go; apt-get install protobuf-compiler gives protoc)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestGeneratedCodeIsFresh regenerates the Go code and compares it with
// what is committed.
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc := findTool(t, "protoc")
	plugin := findTool(t, "protoc-gen-go")
	out := t.TempDir()
	args := append([]string{"-I", ".", "--plugin=protoc-gen-go=" + plugin, "--go_out=" + out,
		"--go_opt=module=github.com/corral-sched/corral/proto"}, protoFiles...)
	cmd := exec.Command(protoc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	for _, f := range protoFiles {
		gen := strings.TrimSuffix(f, ".proto") + ".pb.go"
		want, err := os.ReadFile(filepath.Join(out, gen))
		if err != nil {
			t.Fatalf("protoc did not write %s: %v", gen, err)
		}
		got, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("proto/%s is stale: run `make proto` and commit the result", gen)
		}
	}
}

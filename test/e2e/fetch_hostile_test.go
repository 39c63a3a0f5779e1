package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A task's URIs are fetched as the task's user, and no archive writes
// outside its sandbox, even when the task runs as root.
func TestHostileFetchesFailTheLaunch(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("fetching as another user needs the test to run as root")
		}
		t.Skip("fetching as another user needs the test to run as root")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Fatalf("no user nobody to run tasks as: %v", err)
	}
	// Everything here may be traversed by anyone (t.TempDir's parent is
	// 0700), so that only the files' own modes decide who reads them.
	host := publicDir(t)
	secret := filepath.Join(host, "root-only-file")
	public := filepath.Join(host, "public-file")
	evil := filepath.Join(host, "evil.tar")
	escape := publicDir(t)
	writeFile(t, secret, []byte("s3cret\n"), 0o600)
	writeFile(t, public, []byte("hello\n"), 0o644)
	writeFile(t, evil, selfLinkTar(t, 20, escape), 0o644)

	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: publicDir(t)})
	f := startHealthFramework(t, c.MasterAddr)
	launch := func(id, as, cmd string, uris ...*mesospb.CommandInfo_URI) *mesospb.TaskStatus {
		f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
			res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
			ti := sdk.CommandTask(id, id, o, cmd, res)
			ti.Command.Uris = uris
			if as != "" {
				ti.Command.User = proto.String(as)
			}
			return ti
		}
		return f.expect(t, id, "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	}
	launchFailed := func(st *mesospb.TaskStatus, parts ...string) {
		t.Helper()
		if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED {
			t.Fatalf("%s: %s; want TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED", st.GetTaskId().GetValue(), sdk.Describe(st))
		}
		for _, p := range parts {
			if !strings.Contains(st.GetMessage(), p) {
				t.Fatalf("%s: %q does not name %q", st.GetTaskId().GetValue(), st.GetMessage(), p)
			}
		}
	}

	st := launch("steal", "nobody", "cat root-only-file", &mesospb.CommandInfo_URI{Value: proto.String("file://" + secret)})
	launchFailed(st, "file://"+secret, "permission denied")

	// What nobody may read, it fetches, and the copy is its own.
	st = launch("own", "nobody", `test "$(cat public-file)" = hello && test -O public-file`,
		&mesospb.CommandInfo_URI{Value: proto.String("file://" + public)})
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("own: %s", sdk.Describe(st))
	}

	// The task runs as root: only the fetcher stands between the archive
	// and the host.
	st = launch("escape", "", "true", &mesospb.CommandInfo_URI{Value: proto.String("file://" + evil)})
	if _, err := os.Lstat(filepath.Join(escape, "MARK")); err == nil {
		t.Error("the archive wrote MARK outside the sandbox")
	}
	launchFailed(st, "file://"+evil, "outside the sandbox")
}

func publicDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// selfLinkTar makes a/b -> ., so that a/b/.../b (levels deep) is really
// a, then a link there whose ".." run stays inside on paper but climbs
// past "/" for real and down into dir, and a file MARK written through it.
func selfLinkTar(t *testing.T, levels int, dir string) []byte {
	t.Helper()
	deep := "a/" + strings.Repeat("b/", levels)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "a/b", Typeflag: tar.TypeSymlink, Linkname: "."},
		{Name: deep + "l", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("../", levels+1) + strings.TrimPrefix(dir, "/")},
		{Name: deep + "l/MARK", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write([]byte("MARK\n")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

//go:build linux

package fetcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// asRoot returns nobody's uid, or stops the test when it cannot switch
// users (failing under CI, where it must run).
func asRoot(t *testing.T) int {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "fetching as another user needs the test to run as root"
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		why = "fetching as another user needs a user nobody: " + err.Error()
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	return uid
}

// hostDir is a directory anyone may traverse (t.TempDir's parent is
// 0700), so that what decides a fetch is the file's own mode.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func ownerOf(t *testing.T, path string) int {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Sys().(*syscall.Stat_t).Uid)
}

func TestNobodyCannotFetchARootOnlyFile(t *testing.T) {
	asRoot(t)
	secret := filepath.Join(hostDir(t), "root-only-file")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := uri("file://"+secret, nil)
	sandbox := t.TempDir()
	err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, "nobody")
	wantErr(t, err, "fetching file://"+secret+": open "+secret+": permission denied")
	if _, err := os.Stat(filepath.Join(sandbox, "root-only-file")); err == nil {
		t.Fatal("the root-only file reached nobody's sandbox")
	}
	for _, as := range []string{"", "root"} {
		sandbox := t.TempDir()
		if err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, as); err != nil {
			t.Fatalf("fetching as %q: %v", as, err)
		}
		if b, err := os.ReadFile(filepath.Join(sandbox, "root-only-file")); err != nil || string(b) != "s3cret" {
			t.Fatalf("fetched as %q: %q (%v)", as, b, err)
		}
	}
}

func TestFetchedFilesBelongToTheUser(t *testing.T) {
	nobody := asRoot(t)
	host := hostDir(t)
	plain := filepath.Join(host, "plain.txt")
	archive := filepath.Join(host, "a.tar")
	if err := os.WriteFile(plain, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, tarOf(t, directory("d/"), regular("d/f", "x"), symlinkTo("ln", "d/f")), 0o644); err != nil {
		t.Fatal(err)
	}
	uris := []*mesospb.CommandInfo_URI{uri("file://"+plain, nil), uri(archive, nil)}
	for as, want := range map[string]int{"nobody": nobody, "": os.Geteuid()} {
		sandbox := t.TempDir()
		if err := (&Fetcher{}).Fetch(context.Background(), uris, sandbox, as); err != nil {
			t.Fatalf("fetching as %q: %v", as, err)
		}
		for _, name := range []string{".", "plain.txt", "a.tar", "d", "d/f", "ln"} {
			if got := ownerOf(t, filepath.Join(sandbox, name)); got != want {
				t.Errorf("fetched as %q, %s belongs to uid %d, want %d", as, name, got, want)
			}
		}
	}
}

func TestExtractingAsNobodyCannotWriteIntoRootsDirectories(t *testing.T) {
	asRoot(t)
	archive := filepath.Join(hostDir(t), "a.tar")
	if err := os.WriteFile(archive, tarOf(t, regular("locked/x", "x")), 0o644); err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	if err := os.Mkdir(filepath.Join(sandbox, "locked"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri(archive, nil)}, sandbox, "nobody")
	wantErr(t, err, `entry "locked/x"`, "permission denied")
	if _, err := os.Lstat(filepath.Join(sandbox, "locked", "x")); err == nil {
		t.Fatal("nobody wrote into root's directory")
	}
}

func TestTheCacheIsPerUser(t *testing.T) {
	nobody := asRoot(t)
	secret := filepath.Join(hostDir(t), "root-only-file")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, CacheSize: 1 << 20}
	cached := uri("file://"+secret, func(u *mesospb.CommandInfo_URI) { u.Cache = proto.Bool(true) })
	if err := f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{cached}, t.TempDir(), ""); err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	err := f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{cached}, sandbox, "nobody")
	wantErr(t, err, "permission denied")
	if _, err := os.Stat(filepath.Join(sandbox, "root-only-file")); err == nil {
		t.Fatal("root's cached copy was served to nobody")
	}
	sum := sha256.Sum256([]byte(cached.GetValue()))
	if _, err := os.Stat(filepath.Join(cache, strconv.Itoa(os.Geteuid()), hex.EncodeToString(sum[:]))); err != nil {
		t.Fatalf("root's entry is not in its own cache directory: %v", err)
	}
	mine := filepath.Join(cache, strconv.Itoa(nobody))
	info, err := os.Stat(mine)
	if err != nil || info.Mode().Perm() != 0o700 || ownerOf(t, mine) != nobody {
		t.Fatalf("nobody's cache directory: %v (%v), want 0700 and owned by nobody", info, err)
	}
}

func TestEvictionSpansUsers(t *testing.T) {
	nobody := asRoot(t)
	host := hostDir(t)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, CacheSize: 1500}
	entryOf := func(u *mesospb.CommandInfo_URI) string {
		sum := sha256.Sum256([]byte(u.GetValue()))
		return hex.EncodeToString(sum[:])
	}
	var uris []*mesospb.CommandInfo_URI
	for _, name := range []string{"first", "second"} {
		p := filepath.Join(host, name)
		if err := os.WriteFile(p, make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		uris = append(uris, uri(p, func(u *mesospb.CommandInfo_URI) { u.Cache = proto.Bool(true) }))
	}
	if err := f.Fetch(context.Background(), uris[:1], t.TempDir(), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.Fetch(context.Background(), uris[1:], t.TempDir(), "nobody"); err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = filepath.Walk(cache, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			rel, _ := filepath.Rel(cache, p)
			left = append(left, rel)
		}
		return nil
	})
	want := filepath.Join(strconv.Itoa(nobody), entryOf(uris[1]))
	if len(left) != 1 || left[0] != want {
		t.Fatalf("the cache holds %v; want only nobody's newer entry %s, root's older one evicted", left, want)
	}
}

func TestNobodyCannotReadTheAgentThroughProc(t *testing.T) {
	asRoot(t)
	// /proc/self/maps is 0444 but guarded by a same-process check, which
	// the agent's own process passes whatever the thread's fsuid.
	sandbox := t.TempDir()
	err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri("file:///proc/self/maps", nil)}, sandbox, "nobody")
	wantErr(t, err, "fetching file:///proc/self/maps", "/proc")
	if _, err := os.Stat(filepath.Join(sandbox, "maps")); err == nil {
		t.Fatal("the agent's memory map reached nobody's sandbox")
	}
}

func TestSourcesMustBeRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri("file://"+fifo, nil)}, t.TempDir(), "")
	}()
	select {
	case err := <-done:
		wantErr(t, err, "fetching file://"+fifo, "not a regular file")
	case <-time.After(30 * time.Second):
		t.Fatal("fetching a FIFO with no writer never returned")
	}
}

func TestARootAgentRefusesUnknownUsers(t *testing.T) {
	asRoot(t)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri(src, nil)}, t.TempDir(), "no-such-user-here")
	wantErr(t, err, `unknown user "no-such-user-here"`)
}

package fetcher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func uri(value string, mutate func(*mesospb.CommandInfo_URI)) *mesospb.CommandInfo_URI {
	u := &mesospb.CommandInfo_URI{Value: proto.String(value)}
	if mutate != nil {
		mutate(u)
	}
	return u
}

func TestArchivesOfEveryKindAreExtracted(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.ServeFile(w, r, filepath.Join("testdata", filepath.Base(r.URL.Path)))
	}))
	defer srv.Close()
	for _, name := range []string{"tdata.tar", "tdata.tar.gz", "tdata.tgz", "tdata.tar.bz2", "tdata.tar.xz", "tdata.zip"} {
		t.Run(name, func(t *testing.T) {
			sandbox := t.TempDir()
			if err := (&Fetcher{}).Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri(srv.URL+"/"+name, nil)}, sandbox, ""); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(sandbox, "hello", "world.txt")); err != nil || string(b) != "hi\n" {
				t.Fatalf("extracted hello/world.txt = %q (%v)", b, err)
			}
		})
	}
}

func TestCacheFileURIsExecutableAndErrors(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/tool" {
			_, _ = w.Write([]byte("#!/bin/sh\necho tool\n"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	f := &Fetcher{CacheDir: t.TempDir(), CacheSize: 1 << 20}
	cached := uri(srv.URL+"/tool", func(u *mesospb.CommandInfo_URI) { u.Cache = proto.Bool(true); u.Executable = proto.Bool(true) })
	for range 3 {
		sandbox := t.TempDir()
		if err := f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{cached}, sandbox, ""); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(sandbox, "tool"))
		if err != nil || info.Mode().Perm()&0o111 == 0 {
			t.Fatalf("tool: %v, mode %v; want an executable", err, info)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("a cached URI was downloaded %d times, want once", n)
	}

	// file:// URIs, plain paths and output_file.
	src := filepath.Join(t.TempDir(), "local.txt")
	_ = os.WriteFile(src, []byte("local"), 0o644)
	sandbox := t.TempDir()
	err := f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{
		uri("file://"+src, nil),
		uri(src, func(u *mesospb.CommandInfo_URI) { u.OutputFile = proto.String("conf/renamed.txt") }),
		uri("file://"+testdataPath(t, "tdata.zip"), func(u *mesospb.CommandInfo_URI) { u.Extract = proto.Bool(false) }),
	}, sandbox, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"local.txt", "conf/renamed.txt", "tdata.zip"} {
		if _, err := os.Stat(filepath.Join(sandbox, name)); err != nil {
			t.Errorf("%s not fetched: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(sandbox, "hello")); err == nil {
		t.Error("an archive with extract false was extracted")
	}

	for name, c := range map[string]struct {
		u    *mesospb.CommandInfo_URI
		want string
	}{
		"404":             {uri(srv.URL+"/missing.tar.gz", nil), "404"},
		"relative path":   {uri("some/file", nil), "absolute path"},
		"escaping output": {uri(src, func(u *mesospb.CommandInfo_URI) { u.OutputFile = proto.String("../out") }), "inside the sandbox"},
		"zip slip":        {uri("file://"+testdataPath(t, "evil.tar"), nil), "entry"},
	} {
		dir := t.TempDir()
		sandbox := filepath.Join(dir, "sandbox")
		_ = os.MkdirAll(sandbox, 0o755)
		err := f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{c.u}, sandbox, "")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.u.GetValue()) {
			t.Errorf("%s: %v, want an error naming the URI and %q", name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "escape.txt")); err == nil {
			t.Errorf("%s: a file escaped the sandbox", name)
		}
	}
}

func testdataPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

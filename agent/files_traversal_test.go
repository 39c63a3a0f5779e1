package agent

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
)

// Ways out of a sandbox that TestFilesEndpointsServeSandboxesOnly does not
// try: encoded dots, a directory linked outside, a sibling of the roots
// sharing their prefix, NUL bytes, link loops, virtual paths, and the same
// through the v1 API's LIST_FILES and READ_FILE.
func TestFilesRefuseEveryWayOut(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: work,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id := "S1"
	a.id.Store(&id)
	sandbox := filepath.Join(work, "agents", "S1", "frameworks", "F", "executors", "t", "runs", "c1")
	for _, d := range []string{sandbox, filepath.Join(work, "agents-evil"), filepath.Join(work, "volumes2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const secret = "do-not-serve-me"
	for _, p := range []string{filepath.Join(work, "meta", "agent_id"), filepath.Join(work, "agents-evil", "secret"),
		filepath.Join(work, "volumes2", "secret"), filepath.Join(dir, "outside")} {
		_ = os.WriteFile(p, []byte(secret), 0o644)
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("fine\n"), 0o644)
	_ = os.Symlink(filepath.Join(work, "meta"), filepath.Join(sandbox, "metadir"))
	_ = os.Symlink(dir, filepath.Join(sandbox, "up"))
	_ = os.Symlink("loop", filepath.Join(sandbox, "loop"))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	get := func(endpoint, rawQuery string) (int, string) {
		resp, err := http.Get(srv.URL + endpoint + "?" + rawQuery)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	q := func(p string) string { return "path=" + url.QueryEscape(p) + "&offset=0" }
	encodedDots := "path=" + strings.ReplaceAll(url.QueryEscape(sandbox), "%2F", "%2f") + "%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fmeta%2fagent_id"
	for name, c := range map[string]struct {
		endpoint, query string
		status          int
	}{
		"relative dot-dot":                   {"/files/read", q("../../etc/passwd"), http.StatusBadRequest},
		"relative, encoded dots":             {"/files/read", "path=%2e%2e%2f%2e%2e%2fetc%2fpasswd", http.StatusBadRequest},
		"absolute, encoded dots":             {"/files/read", encodedDots + "&offset=0", http.StatusForbidden},
		"absolute outside, read":             {"/files/read", q("/etc/passwd"), http.StatusForbidden},
		"absolute outside, download":         {"/files/download", q("/etc/passwd"), http.StatusForbidden},
		"absolute outside, browse":           {"/files/browse", q(dir), http.StatusForbidden},
		"directory linked outside, browse":   {"/files/browse", q(filepath.Join(sandbox, "metadir")), http.StatusForbidden},
		"file under a linked directory":      {"/files/download", q(filepath.Join(sandbox, "metadir", "agent_id")), http.StatusForbidden},
		"link to an ancestor":                {"/files/read", q(filepath.Join(sandbox, "up", "outside")), http.StatusForbidden},
		"sibling sharing the agents prefix":  {"/files/read", q(filepath.Join(work, "agents-evil", "secret")), http.StatusForbidden},
		"sibling sharing the volumes prefix": {"/files/download", q(filepath.Join(work, "volumes2", "secret")), http.StatusForbidden},
		"the work dir itself":                {"/files/browse", q(work), http.StatusForbidden},
		"link loop":                          {"/files/read", q(filepath.Join(sandbox, "loop")), http.StatusBadRequest},
		"virtual path through a link":        {"/files/read", q("/frameworks/F/executors/t/runs/c1/metadir/agent_id"), http.StatusForbidden},
		"virtual path climbing out":          {"/files/download", q("/frameworks/F/executors/t/runs/c1/../../../../../../../meta/agent_id"), http.StatusForbidden},
	} {
		status, body := get(c.endpoint, c.query)
		if status != c.status || strings.Contains(body, secret) {
			t.Errorf("%s: %s?%s: %d %q, want %d", name, c.endpoint, c.query, status, body, c.status)
		}
	}
	// A NUL byte is no way around the checks, whatever the answer.
	if status, body := get("/files/read", "path="+url.QueryEscape(sandbox)+"%2fstdout%00%2f..%2f..%2fmetadir%2fagent_id&offset=0"); status/100 != 4 || strings.Contains(body, secret) {
		t.Errorf("NUL byte: %d %q", status, body)
	}

	api := func(call *agentapipb.Call) (int, string) {
		b, _ := codec.JSON.Marshal(call)
		resp, err := http.Post(srv.URL+"/api/v1", codec.JSONMediaType, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	list := func(p string) *agentapipb.Call {
		return &agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(), ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(p)}}
	}
	read := func(p string) *agentapipb.Call {
		return &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(), ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(p), Offset: proto.Uint64(0)}}
	}
	for name, c := range map[string]struct {
		call   *agentapipb.Call
		status int
	}{
		"LIST_FILES of a directory linked outside": {list(filepath.Join(sandbox, "metadir")), http.StatusForbidden},
		"LIST_FILES climbing out":                  {list(sandbox + "/../../../../../../../../.."), http.StatusForbidden},
		"LIST_FILES relative":                      {list("../.."), http.StatusBadRequest},
		"READ_FILE under a linked directory":       {read(filepath.Join(sandbox, "metadir", "agent_id")), http.StatusForbidden},
		"READ_FILE through a link to an ancestor":  {read(filepath.Join(sandbox, "up", "outside")), http.StatusForbidden},
		"READ_FILE of a prefix sibling":            {read(filepath.Join(work, "agents-evil", "secret")), http.StatusForbidden},
		"READ_FILE climbing out":                   {read(sandbox + "/../../../../../../../../meta/agent_id"), http.StatusForbidden},
	} {
		status, body := api(c.call)
		if status != c.status || strings.Contains(body, secret) {
			t.Errorf("%s: %d %q, want %d", name, status, body, c.status)
		}
	}
	// The sandbox itself is still served.
	if status, body := get("/files/read", q(filepath.Join(sandbox, "stdout"))); status != http.StatusOK || !strings.Contains(body, "fine") {
		t.Fatalf("reading the sandbox: %d %q", status, body)
	}
}

// A task owns its sandbox: between the agent's check of a path and its
// open, the task can replace a checked directory with a link to anywhere.
// The open itself must not land outside.
func TestOpenLandingOutsideAfterTheCheckIsRefused(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: work,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := filepath.Join(work, "agents", "S1", "frameworks", "F", "executors", "t", "runs", "c1")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(sandbox, "logs"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(sandbox, "logs", "out"), []byte("fine"), 0o644)
	_ = os.WriteFile(filepath.Join(outside, "out"), []byte("secret"), 0o644)
	checked := filepath.Join(sandbox, "logs", "out") // what resolve returned
	f, err := a.openServable(checked)
	if err != nil {
		t.Fatalf("opening a file in the sandbox: %v", err)
	}
	f.Close()

	// The swap.
	if err := os.RemoveAll(filepath.Join(sandbox, "logs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(sandbox, "logs")); err != nil {
		t.Fatal(err)
	}
	if f, err := a.openServable(checked); !errors.Is(err, errNotServable) {
		if f != nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Fatalf("opened %q outside the sandbox after the check", b)
		}
		t.Fatalf("open after the swap: %v, want errNotServable", err)
	}
	if _, err := a.readDir(filepath.Join(sandbox, "logs")); !errors.Is(err, errNotServable) {
		t.Fatalf("listing after the swap: %v, want errNotServable", err)
	}
}

// A listing shows what links point to, but not for links out of the
// sandboxes: those would tell a task the size, times and owner of any file
// on the host.
func TestListingsDoNotDescribeFilesOutside(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: work,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := filepath.Join(work, "agents", "S1", "frameworks", "F", "executors", "t", "runs", "c1")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	const outsideSize, insideSize = 12345, 321
	_ = os.WriteFile(filepath.Join(dir, "outside"), bytes.Repeat([]byte{'x'}, outsideSize), 0o600)
	_ = os.WriteFile(filepath.Join(sandbox, "inside"), bytes.Repeat([]byte{'y'}, insideSize), 0o644)
	_ = os.Symlink(filepath.Join(dir, "outside"), filepath.Join(sandbox, "out-link"))
	_ = os.Symlink(filepath.Join(sandbox, "inside"), filepath.Join(sandbox, "in-link"))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/files/browse?path=" + url.QueryEscape(sandbox))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"size":12345`) || !strings.Contains(string(b), `"size":321`) {
		t.Fatalf("browse: %d %s", resp.StatusCode, b)
	}
	call, _ := codec.JSON.Marshal(&agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(), ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(sandbox)}})
	resp, err = http.Post(srv.URL+"/api/v1", codec.JSONMediaType, bytes.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	out := &agentapipb.Response{}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		t.Fatalf("LIST_FILES: %d %s", resp.StatusCode, b)
	}
	sizes := map[string]uint64{}
	for _, fi := range out.GetListFiles().GetFileInfos() {
		sizes[filepath.Base(fi.GetPath())] = fi.GetSize()
	}
	if sizes["out-link"] == outsideSize || sizes["in-link"] != insideSize || sizes["inside"] != insideSize {
		t.Fatalf("LIST_FILES sizes %v", sizes)
	}
}

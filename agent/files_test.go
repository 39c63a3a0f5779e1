package agent

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesEndpointsServeSandboxesOnly(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: dir,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := filepath.Join(dir, "agents", "S1", "frameworks", "F", "executors", "t", "runs", "c1")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("hello, sandbox\n"), 0o644)
	_ = os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "meta", "agent_id"), []byte("secret"), 0o644)
	_ = os.Symlink(filepath.Join(dir, "meta", "agent_id"), filepath.Join(sandbox, "sneaky"))
	_ = os.Symlink("/etc/passwd", filepath.Join(sandbox, "passwd"))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(endpoint, path, extra string) (int, string) {
		resp, err := http.Get(srv.URL + endpoint + "?path=" + url.QueryEscape(path) + extra)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	stdout := filepath.Join(sandbox, "stdout")

	status, body := get("/files/read", stdout, "&offset=0")
	var read struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal([]byte(body), &read); status != 200 || err != nil || read.Data != "hello, sandbox\n" {
		t.Fatalf("read: %d %s", status, body)
	}
	if _, body = get("/files/read", stdout, "&offset=7&length=7"); !strings.Contains(body, `"data":"sandbox"`) || !strings.Contains(body, `"offset":7`) {
		t.Fatalf("read a window: %s", body)
	}
	if _, body = get("/files/read", stdout, "&offset=-1"); !strings.Contains(body, `"offset":15`) {
		t.Fatalf("offset -1 gives the size: %s", body)
	}
	if status, body = get("/files/browse", sandbox, ""); status != 200 || !strings.Contains(body, `"path":"`+stdout+`"`) || !strings.Contains(body, `"size":15`) {
		t.Fatalf("browse: %d %s", status, body)
	}
	if status, body = get("/files/download", stdout, ""); status != 200 || body != "hello, sandbox\n" {
		t.Fatalf("download: %d %q", status, body)
	}
	for name, c := range map[string]struct {
		endpoint, path, extra string
		status                int
	}{
		"link to the agent's checkpoint": {"/files/read", filepath.Join(sandbox, "sneaky"), "&offset=0", http.StatusForbidden},
		"link to /etc":                   {"/files/download", filepath.Join(sandbox, "passwd"), "", http.StatusForbidden},
		"dot-dot":                        {"/files/read", sandbox + "/../../../../../../../../meta/agent_id", "&offset=0", http.StatusForbidden},
		"outside entirely":               {"/files/browse", "/etc", "", http.StatusForbidden},
		"relative path":                  {"/files/read", "stdout", "", http.StatusBadRequest},
		"missing":                        {"/files/read", filepath.Join(sandbox, "nope"), "", http.StatusNotFound},
		"bad offset":                     {"/files/read", stdout, "&offset=x", http.StatusBadRequest},
		"read a directory":               {"/files/read", sandbox, "&offset=0", http.StatusBadRequest},
		"browse a file":                  {"/files/browse", stdout, "", http.StatusBadRequest},
	} {
		if status, body := get(c.endpoint, c.path, c.extra); status != c.status || strings.Contains(body, "secret") {
			t.Errorf("%s: %d %q, want %d", name, status, body, c.status)
		}
	}
}

// The master's web UI reads sandboxes from another origin, by Mesos'
// virtual path: it knows the task's framework, executor and container but
// not the agent's work dir.
func TestFilesEndpointsAnswerAnyOriginAndVirtualPaths(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: dir,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id := "S1"
	a.id.Store(&id)
	sandbox := filepath.Join(dir, "agents", "S1", "frameworks", "F", "executors", "t", "runs", "c1")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("hello, virtual\n"), 0o644)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, c := range []struct {
		endpoint, path string
		status         int
		body           string
	}{
		{"/files/read", "/frameworks/F/executors/t/runs/c1/stdout", 200, `"data":"hello, virtual\n"`},
		{"/files/browse", "/frameworks/F/executors/t/runs/c1", 200, `"path":"/frameworks/F/executors/t/runs/c1/stdout"`},
		{"/files/download", "/frameworks/F/executors/t/runs/c1/stdout", 200, "hello, virtual"},
		{"/files/read", "/frameworks/F/executors/t/runs/c2/stdout", 404, ""},
		{"/files/read", "/frameworks/../../../etc/passwd", 403, ""},
		{"/files/browse", "/frameworks/F/../../../../meta", 403, ""},
	} {
		resp, err := http.Get(srv.URL + c.endpoint + "?path=" + url.QueryEscape(c.path) + "&offset=0")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", c.endpoint, c.path, resp.StatusCode, b, c.status, c.body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q, want *", c.endpoint, c.path, got)
		}
	}
}

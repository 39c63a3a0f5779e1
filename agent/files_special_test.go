package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
)

// A task can plant a FIFO in its sandbox: an open of it for reading blocks
// an OS thread until a writer comes, and enough downloads of it used to
// exhaust the agent's threads (Go stops the process at 10,000). Every file
// endpoint refuses anything but regular files and directories, at once.
func TestFileEndpointsRefuseFIFOsAndDevicesWithoutBlocking(t *testing.T) {
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
	fifo := filepath.Join(sandbox, "fifo")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	special := map[string]string{"fifo": fifo}
	if os.Geteuid() == 0 { // a copy of /dev/null's node; only root may make one
		null := filepath.Join(sandbox, "null")
		if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		special["device"] = null
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("fine\n"), 0o644)
	// Not httptest: its Close waits for every handler, and the handlers
	// this test catches block for good.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: a.Handler()}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	srv := struct{ URL string }{"http://" + ln.Addr().String()}
	client := &http.Client{Timeout: 5 * time.Second}

	do := func(req *http.Request) (int, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (a request that hangs is the bug)", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(endpoint, p string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+endpoint+"?offset=0&path="+url.QueryEscape(p), nil)
		return do(req)
	}
	api := func(call *agentapipb.Call) (int, string) {
		b, _ := codec.JSON.Marshal(call)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1", bytes.NewReader(b))
		req.Header.Set("Content-Type", codec.JSONMediaType)
		return do(req)
	}
	for kind, p := range special {
		for _, endpoint := range []string{"/files/download", "/files/read", "/files/browse"} {
			if status, body := get(endpoint, p); status != http.StatusForbidden || !strings.Contains(body, "regular files") {
				t.Errorf("%s of a %s: %d %q, want 403 naming what is served", endpoint, kind, status, body)
			}
		}
		read := &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(), ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(p), Offset: proto.Uint64(0)}}
		if status, body := api(read); status != http.StatusForbidden || !strings.Contains(body, "regular files") {
			t.Errorf("READ_FILE of a %s: %d %q, want 403", kind, status, body)
		}
		list := &agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(), ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(p)}}
		if status, body := api(list); status != http.StatusForbidden {
			t.Errorf("LIST_FILES of a %s: %d %q, want 403", kind, status, body)
		}
	}
	// The open itself refuses one planted after the check.
	if _, err := a.openServable(fifo); err != errNotRegular {
		t.Errorf("opening the FIFO: %v, want errNotRegular", err)
	}
	// The directory that holds them is still listed, and files still read.
	if status, body := get("/files/browse", sandbox); status != http.StatusOK || !strings.Contains(body, "fifo") {
		t.Errorf("browse of the sandbox: %d %q", status, body)
	}
	if status, body := get("/files/download", filepath.Join(sandbox, "stdout")); status != http.StatusOK || body != "fine\n" {
		t.Errorf("download of stdout: %d %q", status, body)
	}

	// The reproduction, scaled down: many downloads that give up after a
	// short timeout. A blocked open keeps its thread after the client has
	// gone, so the process's thread count is the evidence.
	before := threadCount(t)
	const requests, parallel = 120, 8
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for range requests {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/files/download?path="+url.QueryEscape(fifo), nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if after := threadCount(t); after > before+40 {
		t.Fatalf("threads: %d before %d FIFO downloads, %d after: opens are holding threads", before, requests, after)
	}
}

// threadCount is this process's number of OS threads.
func threadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

package agent

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOversizedBodiesAre413(t *testing.T) {
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: t.TempDir(),
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, c := range []struct {
		path  string
		limit int
	}{{"/api/v1", maxAPICallBytes}, {"/api/v1/executor", maxExecutorCallBytes}} {
		for _, size := range []int{c.limit + 1, c.limit} {
			resp, err := http.Post(srv.URL+c.path, "application/x-protobuf", bytes.NewReader(bytes.Repeat([]byte{0xff}, size)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tooBig := size > c.limit
			if got := resp.StatusCode == http.StatusRequestEntityTooLarge; got != tooBig {
				t.Errorf("%s with %d bytes (limit %d): %d %s", c.path, size, c.limit, resp.StatusCode, b)
			}
			if tooBig && !strings.Contains(string(b), "exceeds") {
				t.Errorf("%s: 413 without saying why: %q", c.path, b)
			}
		}
	}
}

package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
		// A length announced beyond the limit is refused before the body
		// is read: this one never sends it.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1099511627776\r\n\r\n", c.path)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a 1 TiB Content-Length and no body: %v %v", c.path, resp, err)
		}
		conn.Close()
	}
}

package ha

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/zktest"
)

type instance struct {
	srv    *Server
	api    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startInstance(t *testing.T, zkAddr, name string) *instance {
	t.Helper()
	session, err := election.Dial([]string{zkAddr}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{done: make(chan struct{})}
	in.api = httptest.NewUnstartedServer(nil)
	in.srv = New(session, "/corral/frameworks/test/leader", in.api.Listener.Addr().String(), slog.New(slog.DiscardHandler),
		func(ctx context.Context) (Term, error) {
			return Term{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.RequestURI()) }),
				Run:     func(ctx context.Context) error { <-ctx.Done(); return nil },
			}, nil
		})
	in.api.Config.Handler = in.srv.Handler()
	in.api.Start()
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { defer close(in.done); _ = in.srv.Run(ctx) }()
	t.Cleanup(func() { in.stop(); session.Close(); in.api.Close() })
	return in
}

func (in *instance) stop() { in.cancel(); <-in.done }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
}

func TestOneInstanceLeadsAndStandbysRedirect(t *testing.T) {
	zk := zktest.Start(t)
	a := startInstance(t, zk.Addr, "a")
	waitFor(t, "a to lead", a.srv.Leading)
	b := startInstance(t, zk.Addr, "b")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(b.api.URL + "/v2/apps?label=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.api.URL+"/v2/apps?label=x" {
		t.Fatalf("standby answered %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), a.api.URL)
	}
	// Clients that follow redirects reach the leader through a standby.
	resp, err = http.Get(b.api.URL + "/v2/apps")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "a /v2/apps" {
		t.Fatalf("through the standby: %q", body)
	}
	if b.srv.Leading() {
		t.Fatal("two leaders")
	}
	a.stop()
	waitFor(t, "b to take over", b.srv.Leading)
	resp, err = http.Get(b.api.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "b ") || b.srv.Terms() != 1 {
		t.Fatalf("after failover: %q, terms %d", body, b.srv.Terms())
	}
}

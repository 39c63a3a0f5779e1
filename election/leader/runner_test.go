package leader_test

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
	"github.com/corral-sched/corral/election/leader"
	"github.com/corral-sched/corral/internal/testkit/zktest"
)

const path = "/corral/frameworks/test-leader"

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type instance struct {
	r      *leader.Runner
	api    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// startInstance runs a contender whose every term answers "<name>
// <request URI>", until the test ends.
func startInstance(t *testing.T, zkAddr, name string, redirect leader.Redirect) *instance {
	t.Helper()
	session, err := election.Dial([]string{zkAddr}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{done: make(chan struct{})}
	in.api = httptest.NewUnstartedServer(nil)
	in.r = leader.New(leader.Config{Session: session, Path: path, Addr: in.api.Listener.Addr().String(),
		Redirect: redirect, Log: slog.New(slog.DiscardHandler),
		Local: map[string]http.Handler{"/metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "standby "+name)
		})},
		Start: func(ctx context.Context) (leader.Term, error) {
			return leader.Term{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.RequestURI()) }),
				Run:     func(ctx context.Context) error { <-ctx.Done(); return nil },
			}, nil
		}})
	in.api.Config.Handler = in.r.Handler()
	in.api.Start()
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { defer close(in.done); _ = in.r.Run(ctx) }()
	t.Cleanup(func() { in.stop(); session.Close(); in.api.Close() })
	return in
}

func (in *instance) stop() { in.cancel(); <-in.done }

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestOneInstanceLeadsAndStandbysRedirect(t *testing.T) {
	zk := zktest.Start(t)
	a := startInstance(t, zk.Addr, "a", leader.ToURL)
	waitFor(t, "a to lead", a.r.Leading)
	b := startInstance(t, zk.Addr, "b", leader.ToURL)

	resp, _ := get(t, noFollow, b.api.URL+"/v2/apps?label=x")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != a.api.URL+"/v2/apps?label=x" {
		t.Fatalf("standby answered %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), a.api.URL)
	}
	// Clients that follow redirects reach the leader through a standby.
	if _, body := get(t, http.DefaultClient, b.api.URL+"/v2/apps"); body != "a /v2/apps" {
		t.Fatalf("through the standby: %q", body)
	}
	// What a standby answers itself.
	if resp, body := get(t, noFollow, b.api.URL+"/health"); resp.StatusCode != http.StatusOK ||
		body != `{"healthy":true,"leader":false,"id":"`+b.r.ID()+`"}`+"\n" {
		t.Fatalf("standby /health: %d %q", resp.StatusCode, body)
	}
	if _, body := get(t, noFollow, b.api.URL+"/metrics"); body != "standby b" {
		t.Fatalf("standby /metrics: %q", body)
	}
	if _, body := get(t, noFollow, a.api.URL+"/metrics"); body != "a /metrics" {
		t.Fatalf("leader /metrics: %q, want the term's", body)
	}
	if b.r.Leading() {
		t.Fatal("two leaders")
	}
	a.stop()
	waitFor(t, "b to take over", b.r.Leading)
	if _, body := get(t, http.DefaultClient, b.api.URL+"/x"); !strings.HasPrefix(body, "b ") || b.r.Terms() != 1 {
		t.Fatalf("after failover: %q, terms %d", body, b.r.Terms())
	}
}

// Masters' standbys redirect as Mesos' do (`//host:port/path`, no query),
// and answer 503 while nobody leads.
func TestHostPathRedirectAndNoLeader(t *testing.T) {
	zk := zktest.Start(t)
	a := startInstance(t, zk.Addr, "a", leader.ToHostPath)
	waitFor(t, "a to lead", a.r.Leading)
	b := startInstance(t, zk.Addr, "b", leader.ToHostPath)
	resp, _ := get(t, noFollow, b.api.URL+"/api/v1/scheduler?x=1")
	if want := "//" + a.api.Listener.Addr().String() + "/api/v1/scheduler"; resp.StatusCode != http.StatusTemporaryRedirect ||
		resp.Header.Get("Location") != want {
		t.Fatalf("standby answered %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	b.stop() // b stands by with nobody to point at once a goes
	a.stop()
	resp, _ = get(t, noFollow, b.api.URL+"/api/v1/scheduler")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with no leader a standby answered %d (Retry-After %q), want 503", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Abdicate ends the term: the other instance leads, the one that stepped
// down stands by, contends again and may lead again later.
func TestAbdicateHandsLeadershipOver(t *testing.T) {
	zk := zktest.Start(t)
	a := startInstance(t, zk.Addr, "a", leader.ToURL)
	waitFor(t, "a to lead", a.r.Leading)
	b := startInstance(t, zk.Addr, "b", leader.ToURL)
	if b.r.Abdicate() {
		t.Fatal("a standby abdicated")
	}
	watcher, err := election.Dial([]string{zk.Addr}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	waitFor(t, "b to contend", func() bool {
		children, _, err := watcher.Conn.Children(path)
		return err == nil && len(children) == 2
	})
	if !a.r.Abdicate() {
		t.Fatal("the leader had no term to end")
	}
	waitFor(t, "b to lead and a to stand by", func() bool { return b.r.Leading() && !a.r.Leading() })
	if _, body := get(t, http.DefaultClient, a.api.URL+"/x"); body != "b /x" {
		t.Fatalf("through the abdicated instance: %q", body)
	}
	b.stop()
	waitFor(t, "a to lead again", a.r.Leading)
	if a.r.Terms() != 2 {
		t.Fatalf("a led %d terms, want 2", a.r.Terms())
	}
}

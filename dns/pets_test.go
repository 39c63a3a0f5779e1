package dns_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/corral-sched/corral/dns"
	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/store"
)

// A pet set whose framework knows the DNS domain: its members are told
// their peers' stable names, and those names resolve while they run and
// stop resolving when the set is gone.
func TestPetsFindEachOtherByStableName(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	work := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 2, WorkDir: work})

	s, err := dns.New(dns.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := dns.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, pc, ln) }()
	go func() { _ = s.Follow(ctx, dns.FollowConfig{Master: c.MasterAddr, MinBackoff: 20 * time.Millisecond}) }()

	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := pets.New(ctx, pets.Config{Master: c.MasterAddr, Store: st, Logger: quiet, DNSDomain: "corral"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	fctx, stopPets := context.WithCancel(ctx)
	go func() { _ = f.Run(fctx); close(done) }()
	defer func() { stopPets(); <-done }()
	api := httptest.NewServer(f.Handler(nil))
	defer api.Close()

	call := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
	}
	call("POST", "/v1/petsets", `{"id": "db", "instances": 2, "cpus": 0.05, "mem": 16, "ports": ["client"],
		"cmd": "echo \"$CORRAL_PET_DNS_NAME $CORRAL_PETSET_PEERS\" > peers; exec sleep 600"}`, http.StatusCreated)

	addr := pc.LocalAddr().String()
	for _, name := range []string{"db-0.db.pets.corral.", "db-1.db.pets.corral."} {
		m := waitAnswer(t, addr, name, func(m *mdns.Msg) bool { return len(m.Answer) > 0 })
		if a, ok := m.Answer[0].(*mdns.A); !ok || a.A.String() != "127.0.0.1" {
			t.Errorf("%s = %v, want the agent's 127.0.0.1", name, m.Answer)
		}
	}
	want := regexp.MustCompile(`^db-[01]\.db\.pets\.corral db-0=db-0\.db\.pets\.corral:\d+,db-1=db-1\.db\.pets\.corral:\d+$`)
	// RUNNING comes as the process starts: its file may be a moment late.
	var seen []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		seen = seen[:0]
		_ = filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "peers" {
				if b, _ := os.ReadFile(path); len(b) > 0 {
					seen = append(seen, strings.TrimSpace(string(b)))
				}
			}
			return nil
		})
		if len(seen) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("found %d peers files: %q", len(seen), seen)
		}
	}
	for _, p := range seen {
		if !want.MatchString(p) {
			t.Errorf("a pet was told %q, want its own name and both peers by stable name", p)
		}
	}

	call("DELETE", "/v1/petsets/db", "", http.StatusAccepted)
	waitAnswer(t, addr, "db-0.db.pets.corral.", func(m *mdns.Msg) bool { return m.Rcode == mdns.RcodeNameError })
}

func waitAnswer(t *testing.T, addr, name string, ok func(*mdns.Msg) bool) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m, _, err := c.Exchange(new(mdns.Msg).SetQuestion(name, mdns.TypeA), addr)
		if err == nil && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered as wanted: last %v, %v", name, m, err)
		}
	}
}

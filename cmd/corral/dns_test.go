package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

// runLines runs the root command with args and returns its output lines
// as they come, and a stop function that ends it and returns its error.
func runLines(t *testing.T, args ...string) (<-chan string, func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	root := newRootCommand()
	root.SetOut(pw)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			go func() {
				for range lines {
				}
			}()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return lines, stop
}

// waitLine returns the first line that starts with prefix.
func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the command ended before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line %q within 60s", prefix)
		}
	}
}

func resolveA(t *testing.T, server, name string) string {
	t.Helper()
	c := &mdns.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		m, _, err := c.Exchange(new(mdns.Msg).SetQuestion(name, mdns.TypeA), server)
		if err == nil && len(m.Answer) > 0 {
			return m.Answer[0].(*mdns.A).A.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not resolve at %s: %v, %v", name, server, m, err)
		}
	}
}

func TestDNSCommandFollowsTheMaster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	lines, stop := runLines(t, "dns", "--master", c.MasterAddr, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-level", "error")
	// "corral dns serving corral. on 127.0.0.1:N (udp, tcp); metrics on http://127.0.0.1:M"
	f := strings.Fields(waitLine(t, lines, "corral dns serving"))
	if len(f) != 11 {
		t.Fatalf("unexpected line %q", f)
	}
	server, metrics := f[5], f[10]
	if ip := resolveA(t, server, "leader.corral."); ip != "127.0.0.1" {
		t.Errorf("leader.corral = %s, want the master's 127.0.0.1", ip)
	}
	resp, err := http.Get(metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `corral_dns_queries_total{rcode="NOERROR",type="A"}`) || !strings.Contains(string(b), "corral_dns_master_connected 1") {
		t.Errorf("metrics lack the query count or the connection:\n%s", b)
	}
	if err := stop(); err != nil {
		t.Errorf("corral dns exited with %v", err)
	}

	for _, bad := range [][]string{{"--resolvers", "10.0.0.1"}, {"--domain", "not_a domain"}} {
		_, stop := runLines(t, append([]string{"dns", "--master", c.MasterAddr, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, bad...)...)
		if err := stop(); err == nil || !strings.Contains(err.Error(), bad[1]) {
			t.Errorf("corral dns %v: err = %v, want it named", bad, err)
		}
	}
}

// `corral dev` runs the DNS server and tells the pets framework its
// domain: a pet's stable name resolves.
func TestDevServesThePetsStableNames(t *testing.T) {
	lines, stop := runLines(t, "dev", "--agents", "1", "--master-listen", "127.0.0.1:0", "--agent-base-port", "0",
		"--batch-listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0", "--pets-listen", "127.0.0.1:0",
		"--dns-listen", "127.0.0.1:0", "--work-dir", t.TempDir(), "--log-level", "error")
	dnsAddr := strings.Fields(waitLine(t, lines, "dns "))[1]
	petsURL := strings.Fields(waitLine(t, lines, "pets "))[1]
	waitLine(t, lines, "corral dev: ready")
	resp, err := http.Post(petsURL+"/v1/petsets", "application/json",
		strings.NewReader(`{"id": "db", "instances": 1, "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating the pet set: %s", resp.Status)
	}
	if ip := resolveA(t, dnsAddr, "db-0.db.pets.corral."); ip != "127.0.0.1" {
		t.Errorf("db-0.db.pets.corral = %s, want the agent's 127.0.0.1", ip)
	}
	if err := stop(); err != nil {
		t.Errorf("corral dev exited with %v", err)
	}
}

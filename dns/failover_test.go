package dns_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/corral-sched/corral/dns"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/master/ha"
	"github.com/corral-sched/corral/store"
)

// haMaster is a master contending for leadership under ZooKeeper.
type haMaster struct {
	srv  *ha.Server
	port int
	stop func()
}

func startHAMaster(t *testing.T, zkAddr, id string, quiet *slog.Logger) *haMaster {
	t.Helper()
	session, err := election.Dial([]string{zkAddr}, 4*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.DialZooKeeper([]string{zkAddr}, "/corral", "", 4*time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.NotFoundHandler()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	m := &haMaster{srv: ha.New(master.Config{Addr: web.Listener.Addr().String(), ID: id, Store: st, Logger: quiet}, session, "/corral")}
	m.port, _ = strconv.Atoi(web.URL[len("http://127.0.0.1:"):])
	h = m.srv.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.srv.Run(ctx) }()
	stopped := false
	m.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			web.CloseClientConnections()
			web.Close()
			session.Close()
			st.Close()
		}
	}
	t.Cleanup(m.stop)
	return m
}

// The DNS server follows whoever leads: it reaches the leader through a
// standby's redirect, and after the leader goes it follows the next one.
func TestFollowsTheNewLeaderAfterAFailover(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	zk := zktest.Start(t)
	first := startHAMaster(t, zk.Addr, "m1", quiet)
	waitFor(t, "m1 to lead", first.srv.Leading)
	second := startHAMaster(t, zk.Addr, "m2", quiet)

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
	// Pointed at the standby: it redirects to the leader.
	standby := "127.0.0.1:" + strconv.Itoa(second.port)
	go func() {
		_ = s.Follow(ctx, dns.FollowConfig{Master: standby, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	}()
	leaderPort := func(m *mdns.Msg) bool { return len(m.Answer) == 1 && int(m.Answer[0].(*mdns.SRV).Port) == first.port }
	waitSRV(t, pc.LocalAddr().String(), "_leader._tcp.corral.", leaderPort)

	first.stop()
	waitFor(t, "m2 to lead", second.srv.Leading)
	leaderPort = func(m *mdns.Msg) bool { return len(m.Answer) == 1 && int(m.Answer[0].(*mdns.SRV).Port) == second.port }
	waitSRV(t, pc.LocalAddr().String(), "_leader._tcp.corral.", leaderPort)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitSRV(t *testing.T, addr, name string, ok func(*mdns.Msg) bool) {
	t.Helper()
	c := &mdns.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m, _, err := c.Exchange(new(mdns.Msg).SetQuestion(name, mdns.TypeSRV), addr)
		if err == nil && ok(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered as wanted: last %v, %v", name, m, err)
		}
	}
}

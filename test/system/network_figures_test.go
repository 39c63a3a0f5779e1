package system

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/proto/mesospb"
)

// TestCNIFigures measures what docs/PERFORMANCE.md reports for container
// networks, on real processes in a namespace of the test's own: launch
// latency on a CNI bridge network against host networking in the same
// run, 50 CNI tasks at once, corral dns answers per second and the time
// from TASK_RUNNING to a resolvable name. It runs only when asked:
//
//	CORRAL_CNI_FIGURES=1 go test ./test/system -run TestCNIFigures -v
func TestCNIFigures(t *testing.T) {
	if os.Getenv("CORRAL_CNI_FIGURES") == "" {
		t.Skip("set CORRAL_CNI_FIGURES=1 to measure (about a minute)")
	}
	e := newCNIEnv(t)
	const master = "127.0.0.1:5050"
	e.start("master", "master", "--listen", master, "--work-dir", filepath.Join(e.root, "master"), "--allocation-interval", "50ms")
	agent := e.start("agent", "agent", "--listen", "127.0.0.1:5051", "--master", master, "--hostname", "agent-0",
		"--work-dir", filepath.Join(e.root, "agent"), "--isolation", "linux", "--cgroups-root", "/"+e.cgroups,
		"--network-cni-config-dir", e.confDir, "--dns", cniGateway, "--resources", "cpus:16;mem:16384;disk:1000;ports:[31000-31999]",
		"--executor-shutdown-grace-period", "100ms")
	e.start("dns", "dns", "--listen", cniGateway+":53", "--master", master, "--http-listen", "127.0.0.1:8123")
	waitFor(t, 30*time.Second, "the agent", func() bool {
		return e.agentCount(master) == 1
	})
	f := startStepFramework(t, master, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("fig")},
		func(c *sdk.Config) { c.HTTPClient = &http.Client{Transport: e.client.Transport} })

	t.Logf("load average %.1f at the start, %d cores", benchkit.LoadAverage(), runtime.NumCPU())
	// One at a time, host and CNI alternating, so that both see the same
	// machine: ACCEPT to TASK_RUNNING as the framework sees it, and the CPU
	// the agent and its children (runc init, the CNI plugins) spent on
	// each launch and kill.
	const rounds = 40
	var host, cni []time.Duration
	var cpu [2][2]time.Duration // [host, cni][agent, its children]
	for i := range 2 * rounds {
		id := fmt.Sprintf("one-%d", i)
		var accepted time.Time
		self0, children0 := processCPU(t, agent.cmd.Process.Pid)
		f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
			res, ok := sdk.NewSpace(o).Take(0.01, 8, 0, 0)
			if !ok {
				return nil
			}
			ti := sdk.CommandTask(id, id, o, "exec sleep 600", res)
			if i%2 == 1 {
				onCNI(cniNet)(ti, nil)
			}
			accepted = time.Now()
			return []*mesospb.Offer_Operation{sdk.LaunchOperation(ti)}
		}
		st := f.waitFor(t, id, "TASK_RUNNING", isRunning)
		took := time.Since(accepted)
		if i%2 == 1 {
			statusIP(t, st)
			cni = append(cni, took)
		} else {
			host = append(host, took)
		}
		if err := f.s.Kill(context.Background(), id, st.GetAgentId().GetValue()); err != nil {
			t.Fatal(err)
		}
		f.final(t, id)
		self1, children1 := processCPU(t, agent.cmd.Process.Pid)
		cpu[i%2][0] += self1 - self0
		cpu[i%2][1] += children1 - children0
	}
	t.Logf("ACCEPT → TASK_RUNNING, one at a time, %d each: host p50 %v p99 %v; CNI p50 %v p99 %v",
		rounds, pct(host, 50), pct(host, 99), pct(cni, 50), pct(cni, 99))
	t.Logf("CPU per launch and kill: host: agent %v, its children %v; CNI: agent %v, its children %v",
		cpu[0][0]/rounds, cpu[0][1]/rounds, cpu[1][0]/rounds, cpu[1][1]/rounds)

	// 50 tasks in one ACCEPT, on the host's network then on the CNI
	// network; for the latter, TASK_RUNNING to a resolvable name.
	hostMany, _, killHost := launchMany(t, e, f, "hostmany", false)
	killHost()
	t.Logf("50 host-network tasks in one ACCEPT: all TASK_RUNNING %v after it (%.0f tasks/s)", hostMany.Round(time.Millisecond), 50/hostMany.Seconds())
	cniMany, resolvable, killCNI := launchMany(t, e, f, "many", true)
	defer killCNI()
	t.Logf("50 CNI tasks in one ACCEPT: all TASK_RUNNING %v after it (%.0f tasks/s)", cniMany.Round(time.Millisecond), 50/cniMany.Seconds())
	t.Logf("TASK_RUNNING → resolvable through corral dns, %d tasks: p50 %v p99 %v", len(resolvable), pct(resolvable, 50), pct(resolvable, 99))

	// Answers per second: 4 clients, each on one UDP socket of its own,
	// asking for one of the tasks' A record in turn for 3 s.
	var answers atomic.Int64
	stop := time.Now().Add(3 * time.Second)
	var cg sync.WaitGroup
	for range 4 {
		c, err := e.dial(context.Background(), "udp", net.JoinHostPort(cniGateway, "53"))
		if err != nil {
			t.Fatal(err)
		}
		cg.Add(1)
		go func() {
			defer cg.Done()
			defer c.Close()
			conn := &dns.Conn{Conn: c}
			q := new(dns.Msg).SetQuestion("many-7.fig.corral.", dns.TypeA)
			for time.Now().Before(stop) {
				_ = c.SetDeadline(time.Now().Add(time.Second))
				if conn.WriteMsg(q) != nil {
					continue
				}
				if r, err := conn.ReadMsg(); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
					answers.Add(1)
				}
			}
		}()
	}
	cg.Wait()
	t.Logf("corral dns: %.0f answers/s (4 clients, one UDP socket each, one query in flight each)", float64(answers.Load())/3)
}

// launchMany launches 50 `sleep` tasks in one ACCEPT (on the CNI network
// if cni) and returns how long until all were TASK_RUNNING; on the CNI
// network also how long each name took to resolve to its address after
// the framework heard TASK_RUNNING; and how to kill them all.
func launchMany(t *testing.T, e *cniEnv, f *stepFramework, prefix string, cni bool) (time.Duration, []time.Duration, func()) {
	t.Helper()
	const many = 50
	var accepted time.Time
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		space := sdk.NewSpace(o)
		var tis []*mesospb.TaskInfo
		for i := range many {
			res, ok := space.Take(0.01, 8, 0, 0)
			if !ok {
				return nil
			}
			id := fmt.Sprintf("%s-%d", prefix, i)
			ti := sdk.CommandTask(id, id, o, "exec sleep 600", res)
			if cni {
				onCNI(cniNet)(ti, nil)
			}
			tis = append(tis, ti)
		}
		accepted = time.Now()
		return []*mesospb.Offer_Operation{sdk.LaunchOperation(tis...)}
	}
	running := map[string]time.Time{}
	var resolvable []time.Duration
	var wg sync.WaitGroup
	var mu sync.Mutex
	var agentID string
	deadline := time.After(5 * time.Minute)
	for len(running) < many {
		select {
		case st := <-f.updates:
			id := st.GetTaskId().GetValue()
			if mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("%s", sdk.Describe(st))
			}
			if st.GetState() != mesospb.TaskState_TASK_RUNNING || !running[id].IsZero() {
				continue
			}
			at := time.Now()
			running[id], agentID = at, st.GetAgentId().GetValue()
			if !cni {
				continue
			}
			ip, name := statusIP(t, st), id+".fig.corral"
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(at) < 10*time.Second {
					if addrs, _ := e.resolve(name); len(addrs) == 1 && addrs[0] == ip {
						mu.Lock()
						resolvable = append(resolvable, time.Since(at))
						mu.Unlock()
						return
					}
					time.Sleep(time.Millisecond) // polling the name, as a client would
				}
			}()
		case <-deadline:
			t.Fatalf("%d of %d running after 5 minutes", len(running), many)
		}
	}
	wg.Wait()
	var last time.Time
	for _, at := range running {
		if at.After(last) {
			last = at
		}
	}
	kill := func() {
		for id := range running {
			if err := f.s.Kill(context.Background(), id, agentID); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.After(5 * time.Minute)
		for ended := 0; ended < many; {
			select {
			case st := <-f.updates:
				if mesospb.IsTerminal(st.GetState()) {
					ended++
				}
			case <-deadline:
				t.Fatalf("%d of %d killed after 5 minutes", ended, many)
			}
		}
	}
	return last.Sub(accepted), resolvable, kill
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(100 * time.Microsecond)
}

// processCPU is the CPU time process pid and its reaped children used,
// from /proc (utime+stime, cutime+cstime: fields 14-17, in clock ticks
// of 10 ms).
func processCPU(t *testing.T, pid int) (self, children time.Duration) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var ticks [4]int64
	for k := range ticks {
		if _, err := fmt.Sscan(fields[11+k], &ticks[k]); err != nil {
			t.Fatalf("/proc/%d/stat: %v", pid, err)
		}
	}
	return time.Duration(ticks[0]+ticks[1]) * 10 * time.Millisecond, time.Duration(ticks[2]+ticks[3]) * 10 * time.Millisecond
}

package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-sched/corral/test/cluster/history"
)

// samplePeriod is how often the agents' process tables are read. Two
// processes of one identity that overlap for less than this may be
// missed; any overlap seen did happen.
const samplePeriod = 100 * time.Millisecond

// procID names a process for its whole life: a PID is reused only after
// the process is gone, and then with another start time.
type procID struct {
	pid   int
	start string
}

type liveProc struct {
	node     *Node
	identity string
	task     string
	seen     time.Time // when it was last seen alive
}

// sampler reads the process table: which task processes run in which
// agent's sandboxes. It shares the machine's PID namespace with them, so
// it sees the truth whatever the agents or the frameworks believe.
type sampler struct {
	c    *Cluster
	quit chan struct{}
	done chan struct{}

	mu    sync.Mutex
	roots map[string]*Node    // guarded by mu; sandbox root → agent
	live  map[procID]liveProc // guarded by mu
}

func startSampler(c *Cluster) *sampler {
	s := &sampler{c: c, quit: make(chan struct{}), done: make(chan struct{}), roots: map[string]*Node{}, live: map[procID]liveProc{}}
	for _, a := range c.Agents {
		s.watch(a)
	}
	go s.loop()
	return s
}

func (s *sampler) watch(agent *Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roots[filepath.Join(agent.WorkDir, "work")+"/"] = agent
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(samplePeriod)
	defer t.Stop()
	for {
		s.scan()
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
	}
}

func (s *sampler) stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}

// scan reads /proc once and records what started and ended since the
// last scan.
func (s *sampler) scan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[procID]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil {
			continue
		}
		var agent *Node
		for root, a := range s.roots {
			if strings.HasPrefix(cwd, root) {
				agent = a
			}
		}
		if agent == nil {
			continue
		}
		comm, state, start, ok := procStat(pid)
		seenAt := time.Now()
		if !ok || comm != s.c.opts.TaskComm || state == "Z" {
			continue
		}
		task := executorOf(cwd)
		if task == "" {
			continue
		}
		id := procID{pid, start}
		seen[id] = true
		if p, ok := s.live[id]; ok {
			p.seen = seenAt
			s.live[id] = p
			continue
		}
		identity := s.c.opts.Identity(task)
		s.live[id] = liveProc{node: agent, identity: identity, task: task, seen: seenAt}
		s.c.rec.Record(history.Event{Kind: history.ProcStart, Time: seenAt, Node: agent.Name, Task: identity, PID: pid, Detail: cmdline(pid)})
	}
	for id, p := range s.live {
		if !seen[id] {
			delete(s.live, id)
			s.c.rec.Record(history.Event{Kind: history.ProcEnd, Node: p.node.Name, Task: p.identity, PID: id.pid, LastSeen: p.seen})
		}
	}
}

// count says how many processes of identity are live (as of the last
// scan, which it runs first).
func (s *sampler) count(identity string) int {
	s.scan()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.live {
		if p.identity == identity {
			n++
		}
	}
	return n
}

// tasksOn lists the task IDs with live processes on agent.
func (s *sampler) tasksOn(agent *Node) []string {
	s.scan()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.live {
		if p.node == agent {
			out = append(out, p.task)
		}
	}
	slices.Sort(out)
	return out
}

// executorOf finds the executor ID in a sandbox path
// (…/executors/<id>/runs/<container>); a command task's is its task ID.
func executorOf(cwd string) string {
	_, rest, ok := strings.Cut(cwd, "/executors/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// procStat reads a process's command name, state and start time (in
// clock ticks after boot) from /proc/<pid>/stat.
func procStat(pid int) (comm, state, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", "", false
	}
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return "", "", "", false
	}
	fields := strings.Fields(string(b[closing+1:]))
	if len(fields) < 20 {
		return "", "", "", false
	}
	// After the command come the state (field 3) ... starttime (field 22).
	return string(b[open+1 : closing]), fields[0], fields[19], true
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// killTasksUnder kills every process whose working directory is under
// root: the tasks of an agent that is gone (they outlive a killed agent,
// as they should).
func killTasksUnder(root string) int {
	root = strings.TrimSuffix(root, "/") + "/"
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && strings.HasPrefix(cwd, root) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	return n
}

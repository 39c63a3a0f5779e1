package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent/attachclient"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

// attachCluster is a one-agent posix cluster with a framework that
// launches what it is given.
type attachCluster struct {
	c   *testcluster.Cluster
	f   *healthFramework
	dir string
	cl  *attachclient.Client
}

func startAttachCluster(t *testing.T) *attachCluster {
	t.Helper()
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: dir})
	return &attachCluster{c: c, f: startHealthFramework(t, c.MasterAddr), dir: dir,
		cl: &attachclient.Client{Base: "http://" + c.Agents[0].Addr()}}
}

// launch starts task id running script (with a terminal if tty) and
// returns its container ID once it runs.
func (a *attachCluster) launch(t *testing.T, id, script string, tty bool) string {
	t.Helper()
	a.f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
		res, _ := sdk.NewSpace(o).Take(0.1, 32, 0, 0)
		ti := sdk.CommandTask(id, id, o, script, res)
		if tty {
			ti.Container = attachclient.TTY(24, 80)
		}
		return ti
	}
	st := a.f.expect(t, id, "TASK_RUNNING", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING })
	cid := st.GetContainerStatus().GetContainerId().GetValue()
	if cid == "" {
		t.Fatalf("TASK_RUNNING of %s names no container: %v", id, st)
	}
	return cid
}

func (a *attachCluster) sandboxFile(t *testing.T, id, name string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(a.dir, "agent-0", "agents", "*", "frameworks", "*", "executors", id, "runs", "latest", name))
	if err != nil || len(m) != 1 {
		t.Fatalf("the sandbox file %s of %s: %v %v", name, id, m, err)
	}
	return m[0]
}

// transcript collects an output stream as it arrives.
type transcript struct {
	mu      sync.Mutex
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	ended   chan struct{}
	readErr error
}

func follow(out *attachclient.Output) *transcript {
	tr := &transcript{ended: make(chan struct{})}
	go func() {
		defer close(tr.ended)
		for {
			m, err := out.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					tr.mu.Lock()
					tr.readErr = err
					tr.mu.Unlock()
				}
				return
			}
			tr.mu.Lock()
			if m.GetData().GetType() == agentapipb.ProcessIO_Data_STDERR {
				tr.stderr.Write(m.GetData().GetData())
			} else {
				tr.stdout.Write(m.GetData().GetData())
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

func (tr *transcript) text() (string, string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.stdout.String(), tr.stderr.String()
}

func (tr *transcript) waitFor(t *testing.T, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the output to show "+want, func() bool {
		out, _ := tr.text()
		return strings.Contains(out, want)
	})
}

func (tr *transcript) waitEnd(t *testing.T) {
	t.Helper()
	select {
	case <-tr.ended:
	case <-time.After(30 * time.Second):
		out, _ := tr.text()
		t.Fatalf("the output stream did not end; it shows %q", out)
	}
}

// A task with a terminal: a client sees its output as it comes, types
// into it (one input at a time), resizes it, and its end of input is the
// task's EOF; the sandbox's stdout holds everything too.
func TestAttachToATaskWithATerminal(t *testing.T) {
	a := startAttachCluster(t)
	cid := a.launch(t, "tty", `while read -r l; do case "$l" in size) stty size;; tty) test -t 0 && echo is-a-tty;; *) echo "got:$l";; esac; done; echo bye`, true)
	ctx := context.Background()
	out, err := a.cl.AttachOutput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	tr := follow(out)
	in, err := a.cl.AttachInput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct{ send, want string }{{"tty\n", "is-a-tty"}, {"hello\n", "got:hello"}} {
		if _, err := in.Write([]byte(step.send)); err != nil {
			t.Fatal(err)
		}
		tr.waitFor(t, step.want)
		if i > 0 {
			continue
		}
		// The task has read from the first input, so the agent holds it:
		// a second is refused. (Attached together, either may win.)
		second, err := a.cl.AttachInput(ctx, attachclient.ContainerID(cid, ""))
		if err == nil {
			err = second.Close()
		}
		var refused *attachclient.StatusError
		if !errors.As(err, &refused) || refused.Status != http.StatusConflict {
			t.Fatalf("a second input attach: %v, want 409", err)
		}
	}
	if err := in.Resize(33, 111); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("size\n")); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, "33 111")
	if err := in.Close(); err != nil { // the end of input: the loop reads EOF
		t.Fatalf("ending the input: %v", err)
	}
	tr.waitEnd(t)
	a.f.expect(t, "tty", "TASK_FINISHED", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_FINISHED })
	seen, _ := tr.text()
	b, err := os.ReadFile(a.sandboxFile(t, "tty", "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"is-a-tty", "got:hello", "33 111", "bye"} {
		if !strings.Contains(seen, want) || !strings.Contains(string(b), want) {
			t.Errorf("%q: attached client saw it %v, sandbox stdout holds it %v", want, strings.Contains(seen, want), strings.Contains(string(b), want))
		}
	}
	if _, err := a.cl.AttachOutput(ctx, attachclient.ContainerID(cid, "")); !isStatus(err, http.StatusNotFound, cid) {
		t.Errorf("attaching to the finished container: %v, want 404 naming it", err)
	}
}

func isStatus(err error, status int, mention string) bool {
	var se *attachclient.StatusError
	return errors.As(err, &se) && se.Status == status && strings.Contains(se.Message, mention)
}

// A client that stops reading is dropped: the task writes on, and its
// output still reaches the sandbox and the clients that read.
func TestAClientThatStopsReadingDoesNotBlockTheTask(t *testing.T) {
	a := startAttachCluster(t)
	const size = 20_000_000 // beyond what the agent holds for one client, and the sockets between
	cid := a.launch(t, "flood", `read go; head -c `+strconv.Itoa(size)+` /dev/zero | tr '\0' x; echo; echo flood-done; read again; echo after-flood`, true)
	ctx := context.Background()
	stuck := stuckOutputClient(t, a.cl.Base, cid)
	defer stuck.Close()
	in, err := a.cl.AttachInput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Abort()
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	stdout := a.sandboxFile(t, "flood", "stdout")
	waitFor(t, 60*time.Second, "the whole flood in the sandbox's stdout", func() bool {
		b, _ := os.ReadFile(stdout)
		return bytes.Contains(b, []byte("flood-done"))
	})
	b, _ := os.ReadFile(stdout)
	if n := bytes.Count(b, []byte("x")); n != size {
		t.Errorf("the sandbox stdout holds %d x's, want %d", n, size)
	}
	live, err := a.cl.AttachOutput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	tr := follow(live)
	if _, err := in.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, "after-flood")
	a.f.expect(t, "flood", "TASK_FINISHED", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_FINISHED })
}

// stuckOutputClient attaches to a container's output over a connection
// with a tiny receive buffer and never reads from it.
func stuckOutputClient(t *testing.T, base, cid string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	body, _ := codec.JSON.Marshal(&agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentapipb.Call_AttachContainerOutput{ContainerId: attachclient.ContainerID(cid, "")}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	req.Header.Set("Accept", "application/recordio")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	// The answer's headers, so that the client is attached before the test
	// goes on; nothing after them is ever read.
	status := make([]byte, len("HTTP/1.1 200"))
	if _, err := io.ReadFull(conn, status); err != nil || string(status) != "HTTP/1.1 200" {
		t.Fatalf("attaching the stuck client: %q %v", status, err)
	}
	return conn
}

// Bad input is answered with a status naming what was wrong, and the task
// runs on unaffected.
func TestAttachRefusesBadInput(t *testing.T) {
	a := startAttachCluster(t)
	ctx := context.Background()
	if _, err := a.cl.AttachOutput(ctx, attachclient.ContainerID("no-such-container", "")); !isStatus(err, http.StatusNotFound, "no-such-container") {
		t.Errorf("output of an unknown container: %v, want 404 naming it", err)
	}
	in, err := a.cl.AttachInput(ctx, attachclient.ContainerID("no-such-container", ""))
	if err == nil {
		err = in.Close()
	}
	if !isStatus(err, http.StatusNotFound, "no-such-container") {
		t.Errorf("input of an unknown container: %v, want 404 naming it", err)
	}
	plain := a.launch(t, "plain", "sleep 300", false)
	in, err = a.cl.AttachInput(ctx, attachclient.ContainerID(plain, ""))
	if err == nil {
		err = in.Close()
	}
	if !isStatus(err, http.StatusBadRequest, "tty_info") {
		t.Errorf("input of a task without a terminal: %v, want 400 saying why", err)
	}

	cid := a.launch(t, "echo", `while read -r l; do echo "got:$l"; done`, true)
	first, _ := codec.Protobuf.Marshal(&agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentapipb.Call_AttachContainerInput{Type: agentapipb.Call_AttachContainerInput_CONTAINER_ID.Enum(),
			ContainerId: attachclient.ContainerID(cid, "")}})
	stdout, _ := codec.Protobuf.Marshal(&agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentapipb.Call_AttachContainerInput{Type: agentapipb.Call_AttachContainerInput_PROCESS_IO.Enum(),
			ProcessIo: &agentapipb.ProcessIO{Type: agentapipb.ProcessIO_DATA.Enum(),
				Data: &agentapipb.ProcessIO_Data{Type: agentapipb.ProcessIO_Data_STDOUT.Enum(), Data: []byte("x")}}}})
	for name, c := range map[string]struct {
		records [][]byte
		raw     string
		want    string
	}{
		"not protobuf":        {records: [][]byte{first, []byte("\xff\xff\xff")}, want: "parse"},
		"stdout as input":     {records: [][]byte{first, stdout}, want: "STDIN"},
		"a broken frame":      {raw: "12\nabc", want: "RecordIO"},
		"no container first":  {records: [][]byte{stdout}, want: "CONTAINER_ID"},
		"an empty stream":     {want: "empty"},
		"a bad length header": {raw: "x1\n", want: "RecordIO"},
	} {
		var body bytes.Buffer
		w := recordio.NewWriter(&body)
		for _, r := range c.records {
			_ = w.WriteRecord(r)
		}
		body.WriteString(c.raw)
		req, _ := http.NewRequest(http.MethodPost, a.cl.Base+"/api/v1", &body)
		req.Header.Set("Content-Type", "application/recordio")
		req.Header.Set("Message-Content-Type", codec.ProtobufMediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), c.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", name, resp.StatusCode, msg, c.want)
		}
	}
	// The web UI's terminal opens only from the master's pages (any site
	// could otherwise open a shell through the operator's browser).
	for _, c := range []struct {
		query, origin string
		status        int
		want          string
	}{
		{"container=" + cid, "http://evil.example", http.StatusForbidden, "evil.example"},
		{"", a.c.MasterURL, http.StatusBadRequest, "container"},
		{"container=" + cid + "&rows=0", a.c.MasterURL, http.StatusBadRequest, "rows"},
		{"container=no-such-container", a.c.MasterURL, http.StatusNotFound, "no-such-container"},
	} {
		req, _ := http.NewRequest(http.MethodGet, a.cl.Base+"/api/v1/exec?"+c.query, nil)
		req.Header.Set("Origin", c.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(msg), c.want) {
			t.Errorf("the terminal with %q from %s: %d %q, want %d mentioning %q", c.query, c.origin, resp.StatusCode, msg, c.status, c.want)
		}
	}

	// The task runs on, and takes input again.
	out, err := a.cl.AttachOutput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	tr := follow(out)
	in, err = a.cl.AttachInput(ctx, attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("still here\n")); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, "got:still here")
	in.Abort()
	out.Close()
}

// A task without a terminal writes its sandbox files itself; an attached
// client follows them from the moment it attached until the task ends.
func TestAttachOutputFollowsATaskWithoutATerminal(t *testing.T) {
	a := startAttachCluster(t)
	cid := a.launch(t, "files", `echo before; while [ ! -e go ]; do sleep 0.05; done; echo to-stdout; echo to-stderr >&2`, false)
	stdout := a.sandboxFile(t, "files", "stdout")
	waitFor(t, 30*time.Second, "the task's first line", func() bool {
		b, _ := os.ReadFile(stdout)
		return strings.Contains(string(b), "before")
	})
	out, err := a.cl.AttachOutput(context.Background(), attachclient.ContainerID(cid, ""))
	if err != nil {
		t.Fatal(err)
	}
	tr := follow(out)
	if err := os.WriteFile(filepath.Join(filepath.Dir(stdout), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tr.waitEnd(t)
	o, e := tr.text()
	if o != "to-stdout\n" || e != "to-stderr\n" {
		t.Errorf("the client saw stdout %q and stderr %q, want what came after it attached, each on its stream", o, e)
	}
}

// A session runs beside the task, streams its output by stream, reports
// its exit status, and leaves nothing behind when its client goes.
func TestSessionsBesideAPosixTask(t *testing.T) {
	a := startAttachCluster(t)
	parent := a.launch(t, "host", "sleep 300", false)
	ctx := context.Background()
	sh := func(script string) *mesospb.CommandInfo { return shell(script) }
	out, err := a.cl.LaunchSession(ctx, "s1", parent, sh(`echo out; echo err >&2; echo "$MESOS_TASK_ID in $PWD"; exit 3`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := follow(out)
	tr.waitEnd(t)
	o, e := tr.text()
	sandbox, err := filepath.EvalSymlinks(filepath.Dir(a.sandboxFile(t, "host", "stdout")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o, "out\n") || e != "err\n" || !strings.Contains(o, "host in "+sandbox) {
		t.Errorf("session output: stdout %q, stderr %q; want out, err, and the task's ID and sandbox", o, e)
	}
	status, known, err := a.cl.Wait(ctx, attachclient.ContainerID("s1", parent))
	if err != nil || !known || attachclient.ExitCode(status) != 3 {
		t.Errorf("WAIT_NESTED_CONTAINER: status %d known %v err %v, want exit code 3", status, known, err)
	}
	if _, err := a.cl.LaunchSession(ctx, "s1", parent, sh("true"), nil); !isStatus(err, http.StatusConflict, "s1") {
		t.Errorf("a second session with the same ID: %v, want 409", err)
	}
	if _, err := a.cl.LaunchSession(ctx, "s2", "no-such-parent", sh("true"), nil); !isStatus(err, http.StatusNotFound, "no-such-parent") {
		t.Errorf("a session in an unknown container: %v, want 404 naming it", err)
	}

	// The client goes: the session and what it started in the background
	// are killed.
	sctx, cancel := context.WithCancel(ctx)
	out, err = a.cl.LaunchSession(sctx, "s3", parent, sh(`sleep 4242 & echo started; sleep 4243`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr = follow(out)
	tr.waitFor(t, "started")
	if len(processesRunning("sleep 4242")) == 0 {
		t.Fatal("the session's background process is not running")
	}
	cancel()
	waitFor(t, 30*time.Second, "the session's processes to be gone", func() bool {
		return len(processesRunning("sleep 4242")) == 0 && len(processesRunning("sleep 4243")) == 0
	})
}

// processesRunning lists the live processes whose command line is cmd.
func processesRunning(cmd string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})) != cmd {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // a zombie is dead
		}
		found = append(found, e.Name())
	}
	return found
}

// After an agent restart the output of a recovered task is followed in
// its sandbox files, as before.
func TestAttachOutputAfterAnAgentRestart(t *testing.T) {
	a := startAttachCluster(t)
	cid := a.launch(t, "survivor", `while [ ! -e go ]; do sleep 0.05; done; echo after-restart`, false)
	restarted, err := a.c.RestartAgent(0)
	if err != nil {
		t.Fatal(err)
	}
	cl := &attachclient.Client{Base: "http://" + restarted.Addr()}
	var out *attachclient.Output
	waitFor(t, 30*time.Second, "the restarted agent to have recovered the task", func() bool {
		out, err = cl.AttachOutput(context.Background(), attachclient.ContainerID(cid, ""))
		return err == nil
	})
	tr := follow(out)
	if err := os.WriteFile(filepath.Join(filepath.Dir(a.sandboxFile(t, "survivor", "stdout")), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tr.waitEnd(t)
	if o, _ := tr.text(); o != "after-restart\n" {
		t.Errorf("after the restart the client saw %q", o)
	}
}

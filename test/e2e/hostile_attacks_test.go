package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// hostile is the attackers' shared state: what to send, where, and what
// came back.
type hostile struct {
	t         *testing.T
	client    *http.Client
	master    string // host:port
	agents    []string
	sandboxes []string // agents' work dirs' sandbox roots
	victimID  string   // the steady framework's ID
	schedPool [][]byte // scheduler calls, protobuf or JSON
	operPool  [][]byte
	agentPool [][]byte
	execPool  [][]byte
	// dialErrors are connections that could not be made: on a machine
	// short of ephemeral ports they time out, which says nothing about the
	// servers (a handler that panics shows as a reset connection instead).
	dialErrors   atomic.Int64
	calls        atomic.Int64
	healthChecks atomic.Int64

	mu       sync.Mutex
	statuses map[string]map[int]int // endpoint -> status -> count; guarded by mu
	failures []string               // guarded by mu
}

func newHostile(t *testing.T, c *testcluster.Cluster, victim string, client *http.Client) *hostile {
	t.Helper()
	h := &hostile{
		t: t, client: client,
		master: c.MasterAddr, victimID: victim, statuses: map[string]map[int]int{},
	}
	for _, a := range c.Agents {
		h.agents = append(h.agents, a.Addr())
		h.sandboxes = append(h.sandboxes, filepath.Join(a.WorkDir(), "agents"))
	}
	h.schedPool = append(loadCorpus(t, "../../master/core/testdata/fuzz/FuzzSchedulerCall"), encodeBoth(validSchedulerCalls(victim)...)...)
	h.operPool = append(loadCorpus(t, "../../master/core/testdata/fuzz/FuzzOperatorCall"), encodeBoth(
		&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()}, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()},
		&masterpb.Call{Type: masterpb.Call_GET_METRICS.Enum()}, &masterpb.Call{Type: masterpb.Call_GET_ROLES.Enum()},
		&masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{}},
		&masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{
			WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("hostile"), Weight: proto.Float64(-1)}}}})...)
	h.agentPool = append(loadCorpus(t, "../../agent/testdata/fuzz/FuzzAPICall"), encodeBoth(
		&agentapipb.Call{Type: agentapipb.Call_GET_STATE.Enum()},
		&agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(), ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(h.sandboxes[0] + "/../../../../../../etc/passwd")}},
		&agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(), ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(h.sandboxes[0] + "/..")}})...)
	h.execPool = loadCorpus(t, "../../agent/testdata/fuzz/FuzzExecutorCall")
	return h
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// loadCorpus reads the inputs of a committed fuzz corpus.
func loadCorpus(t *testing.T, dir string) [][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("fuzz corpus: %v", err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, []byte(s))
	}
	if len(out) == 0 {
		t.Fatalf("no inputs in %s", dir)
	}
	return out
}

func encodeBoth(msgs ...proto.Message) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
			b, _ := c.Marshal(m)
			out = append(out, b)
		}
	}
	return out
}

// validSchedulerCalls act for the victim (without its stream ID) or
// subscribe hostile frameworks.
func validSchedulerCalls(victim string) []proto.Message {
	fw := &mesospb.FrameworkID{Value: proto.String(victim)}
	agent := &mesospb.AgentID{Value: proto.String("nope")}
	return []proto.Message{
		&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{
			User: proto.String("nobody"), Name: proto.String("hostile"), FailoverTimeout: proto.Float64(1e6)}}},
		&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum(), FrameworkId: fw},
		&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum(), FrameworkId: fw},
		&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), FrameworkId: fw, Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("steady-1")}}},
		&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), FrameworkId: fw, Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}}, Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("x"), TaskId: &mesospb.TaskID{Value: proto.String("../../x")},
					AgentId: agent, Command: &mesospb.CommandInfo{Value: proto.String("true")}}}}}}}},
		&schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fw, Acknowledge: &schedulerpb.Call_Acknowledge{
			TaskId: &mesospb.TaskID{Value: proto.String("steady-1")}, AgentId: agent, Uuid: make([]byte, 16)}},
		&schedulerpb.Call{Type: schedulerpb.Call_UPDATE_FRAMEWORK.Enum(), FrameworkId: fw, UpdateFramework: &schedulerpb.Call_UpdateFramework{
			FrameworkInfo: &mesospb.FrameworkInfo{Id: fw, User: proto.String("x"), Name: proto.String("stolen")}}},
	}
}

// Operator calls that change what the steady framework may use are valid
// operator actions, not attacks; mutated inputs that turn into them are
// not sent.
var disruptiveOperatorCalls = []masterpb.Call_Type{
	masterpb.Call_START_MAINTENANCE, masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE, masterpb.Call_SET_QUOTA,
	masterpb.Call_UPDATE_QUOTA, masterpb.Call_DRAIN_AGENT, masterpb.Call_DEACTIVATE_AGENT, masterpb.Call_MARK_AGENT_GONE,
	masterpb.Call_RESERVE_RESOURCES, masterpb.Call_CREATE_VOLUMES,
}

var contentTypes = []string{codec.ProtobufMediaType, codec.JSONMediaType, codec.ProtobufMediaType, codec.JSONMediaType,
	"", "text/plain", "application/json; charset=utf-8", "application/recordio", "application/x-protobuf, application/json"}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// mutate applies a few random byte-level edits.
func mutate(r *rand.Rand, in []byte, pool [][]byte) []byte {
	b := slices.Clone(in)
	for n := r.IntN(4); n > 0; n-- {
		switch r.IntN(7) {
		case 0:
			if len(b) > 0 {
				b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
			}
		case 1:
			if len(b) > 0 {
				b = b[:r.IntN(len(b))]
			}
		case 2:
			junk := make([]byte, 1+r.IntN(16))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			at := r.IntN(len(b) + 1)
			b = slices.Insert(b, at, junk...)
		case 3:
			// A huge varint length or a big JSON number.
			at := r.IntN(len(b) + 1)
			b = slices.Insert(b, at, pick(r, [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}, []byte("1e999"), []byte(`"\ud800"`), {0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f}})...)
		case 4:
			other := pick(r, pool)
			b = append(b[:r.IntN(len(b)+1)], other[r.IntN(len(other)+1):]...)
		case 5:
			if len(b) > 1 {
				i := r.IntN(len(b))
				b = append(b[:i], b[i+r.IntN(len(b)-i):]...)
			}
		case 6:
			b = append(b, b...)
		}
	}
	if len(b) > 256<<10 {
		b = b[:256<<10]
	}
	return b
}

func (h *hostile) attack(ctx context.Context, r *rand.Rand) {
	for ctx.Err() == nil {
		switch n := r.IntN(100); {
		case n < 30:
			h.schedulerCall(ctx, r)
		case n < 50:
			h.operatorCall(ctx, r)
		case n < 62:
			h.agentCall(ctx, r)
		case n < 70:
			h.filesCall(ctx, r)
		case n < 78:
			h.executorCall(ctx, r)
		case n < 88:
			h.rawCall(ctx, r)
		case n < 92:
			h.wrongMethod(ctx, r)
		case n < 94:
			h.oversized(ctx, r)
		case n < 97:
			h.streamAndDrop(ctx, r)
		default:
			h.subscribedFramework(ctx, r)
		}
	}
}

type hostileRequest struct {
	endpoint, method, url, contentType, streamID string
	body                                         []byte
	// stream: a 200 may be an event stream, read a little and hang up.
	stream bool
	// bigBody: the server may hang up before it has read everything.
	bigBody bool
}

// do sends one request and checks its status.
func (h *hostile) do(ctx context.Context, req hostileRequest) (int, []byte) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, bytes.NewReader(req.body))
	if err != nil {
		h.fail("%s: building the request: %v", req.endpoint, err)
		return 0, nil
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if req.streamID != "" {
		hr.Header.Set("Mesos-Stream-Id", req.streamID)
	}
	h.calls.Add(1)
	resp, err := h.client.Do(hr)
	if err != nil {
		if isDialError(err) {
			h.dialErrors.Add(1)
			return 0, nil
		}
		if ctx.Err() != nil || (req.bigBody && (strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset"))) {
			return 0, nil
		}
		h.fail("%s %s (%s, %d bytes %q): %v", req.method, req.endpoint, req.contentType, len(req.body), clip(req.body), err)
		return 0, nil
	}
	defer resp.Body.Close()
	var body []byte
	if req.stream && resp.StatusCode == http.StatusOK {
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		body = buf[:n]
		cancel()
	} else {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	h.record(req, resp.StatusCode, body)
	return resp.StatusCode, body
}

func (h *hostile) record(req hostileRequest, status int, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.statuses[req.endpoint] == nil {
		h.statuses[req.endpoint] = map[int]int{}
	}
	h.statuses[req.endpoint][status]++
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusNotImplemented {
		h.failLocked("%s %s (%s, %d bytes %q): %d %s", req.method, req.endpoint, req.contentType, len(req.body), clip(req.body), status, clip(body))
	}
	if status == http.StatusOK && bytes.Contains(body, []byte("root:x:0:0")) {
		h.failLocked("%s %s served /etc/passwd: %q", req.method, req.endpoint, clip(req.body))
	}
}

func (h *hostile) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failLocked(format, args...)
}

func (h *hostile) failLocked(format string, args ...any) {
	if len(h.failures) < 20 {
		h.failures = append(h.failures, fmt.Sprintf(format, args...))
	}
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func (h *hostile) schedulerCall(ctx context.Context, r *rand.Rand) {
	body := pick(r, h.schedPool)
	if r.IntN(3) > 0 {
		body = mutate(r, body, h.schedPool)
	}
	streamID := pick(r, []string{"", "", "00000000-0000-0000-0000-000000000000", strings.Repeat("x", 8<<10)})
	h.do(ctx, hostileRequest{endpoint: "/api/v1/scheduler", method: http.MethodPost, url: "http://" + h.master + "/api/v1/scheduler",
		contentType: pick(r, contentTypes), streamID: streamID, body: body, stream: true})
}

func (h *hostile) operatorCall(ctx context.Context, r *rand.Rand) {
	body := pick(r, h.operPool)
	if r.IntN(3) > 0 {
		body = mutate(r, body, h.operPool)
	}
	ct := pick(r, contentTypes)
	if c, err := codec.ForContentType(ct); err == nil {
		call := &masterpb.Call{}
		if c.Unmarshal(body, call) == nil && slices.Contains(disruptiveOperatorCalls, call.GetType()) {
			return
		}
	}
	h.do(ctx, hostileRequest{endpoint: "/api/v1", method: http.MethodPost, url: "http://" + h.master + "/api/v1",
		contentType: ct, body: body, stream: true})
}

func (h *hostile) agentCall(ctx context.Context, r *rand.Rand) {
	body := pick(r, h.agentPool)
	if r.IntN(3) > 0 {
		body = mutate(r, body, h.agentPool)
	}
	h.do(ctx, hostileRequest{endpoint: "agent /api/v1", method: http.MethodPost, url: "http://" + pick(r, h.agents) + "/api/v1",
		contentType: pick(r, contentTypes), body: body})
}

func (h *hostile) executorCall(ctx context.Context, r *rand.Rand) {
	body := pick(r, h.execPool)
	if r.IntN(3) > 0 {
		body = mutate(r, body, h.execPool)
	}
	h.do(ctx, hostileRequest{endpoint: "agent /api/v1/executor", method: http.MethodPost, url: "http://" + pick(r, h.agents) + "/api/v1/executor",
		contentType: pick(r, contentTypes), body: body, stream: true})
}

// filesCall tries to read outside the sandboxes.
func (h *hostile) filesCall(ctx context.Context, r *rand.Rand) {
	i := r.IntN(len(h.agents))
	root := h.sandboxes[i]
	path := pick(r, []string{"../../etc/passwd", "/etc/passwd", root + "/../../../../../../../../etc/passwd",
		root + "/../meta/agent_id", "/frameworks/../../../../etc/passwd", "/frameworks/x/../../../../../../etc", root + "/\x00/etc/passwd",
		root, "/proc/self/environ", root + "/" + strings.Repeat("a/", 2000), "//etc//passwd", "/./etc/./passwd"})
	query := "path=" + url.QueryEscape(path)
	switch r.IntN(4) {
	case 0:
		// Encoded dots and slashes the way a browser would not send them.
		query = "path=" + strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(path), ".", "%2e"), "%2F", "%2f")
	case 1:
		query = "path=" + url.QueryEscape(root) + "%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"
	case 2:
		query += "&offset=" + pick(r, []string{"-5", "99999999999999999999", "x", "0", "-1"}) + "&length=" + pick(r, []string{"-1", "1e9", "0", "9223372036854775807"})
	}
	endpoint := pick(r, []string{"/files/read", "/files/browse", "/files/download"})
	h.do(ctx, hostileRequest{endpoint: "agent " + endpoint, method: http.MethodGet, url: "http://" + h.agents[i] + endpoint + "?" + query})
}

func (h *hostile) wrongMethod(ctx context.Context, r *rand.Rand) {
	target := pick(r, []string{h.master + "/api/v1/scheduler", h.master + "/api/v1", h.master + "/api/v1/agent", pick(r, h.agents) + "/api/v1",
		pick(r, h.agents) + "/api/v1/executor", h.master + "/master/api/v1/scheduler", h.master + "/%2e%2e/api/v1"})
	h.do(ctx, hostileRequest{endpoint: "wrong method", method: pick(r, []string{http.MethodGet, http.MethodPut, http.MethodDelete, "PATCH"}),
		url: "http://" + target, contentType: codec.JSONMediaType, body: []byte(`{"type":"GET_HEALTH"}`)})
}

// oversized sends a body just over each endpoint's limit.
func (h *hostile) oversized(ctx context.Context, r *rand.Rand) {
	type limit struct {
		endpoint, url string
		size          int
	}
	l := pick(r, []limit{{"/api/v1/scheduler", "http://" + h.master + "/api/v1/scheduler", 16<<20 + 1},
		{"/api/v1", "http://" + h.master + "/api/v1", 4<<20 + 1}, {"agent /api/v1", "http://" + pick(r, h.agents) + "/api/v1", 1<<20 + 1},
		{"/api/v1/agent", "http://" + h.master + "/api/v1/agent", 16<<20 + 1}})
	body := bytes.Repeat([]byte{0x0a, 0x7f}, l.size/2+1)
	h.do(ctx, hostileRequest{endpoint: l.endpoint + " oversized", method: http.MethodPost, url: l.url,
		contentType: codec.ProtobufMediaType, body: body, bigBody: true})
}

// streamAndDrop subscribes (a hostile framework or an operator) and hangs
// up after the first bytes.
func (h *hostile) streamAndDrop(ctx context.Context, r *rand.Rand) {
	if r.IntN(2) == 0 {
		b, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
		h.do(ctx, hostileRequest{endpoint: "/api/v1 SUBSCRIBE", method: http.MethodPost, url: "http://" + h.master + "/api/v1",
			contentType: codec.JSONMediaType, body: b, stream: true})
		return
	}
	info := &mesospb.FrameworkInfo{User: proto.String("nobody"), Name: proto.String("hostile"),
		FailoverTimeout: proto.Float64(pick(r, []float64{0, 1, 1e6}))}
	b, _ := codec.Protobuf.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}})
	h.do(ctx, hostileRequest{endpoint: "/api/v1/scheduler SUBSCRIBE", method: http.MethodPost, url: "http://" + h.master + "/api/v1/scheduler",
		contentType: codec.ProtobufMediaType, body: b, stream: true})
}

// rawCall speaks broken HTTP on a fresh connection: lying lengths,
// malformed chunking, RecordIO bodies, headers that never end.
func (h *hostile) rawCall(ctx context.Context, r *rand.Rand) {
	addr, path := h.master, pick(r, []string{"/api/v1/scheduler", "/api/v1", "/api/v1/agent"})
	if r.IntN(3) == 0 {
		addr, path = pick(r, h.agents), pick(r, []string{"/api/v1", "/api/v1/executor"})
	}
	call := pick(r, h.schedPool)
	head := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-protobuf\r\n"
	var req string
	switch r.IntN(5) {
	case 0: // a length far beyond what follows
		req = head + "Content-Length: 1099511627776\r\n\r\n" + string(call)
	case 1: // chunked with a bad chunk size
		req = head + "Transfer-Encoding: chunked\r\n\r\nzzzz\r\n" + string(call) + "\r\n0\r\n\r\n"
	case 2: // a chunk claiming more than it has
		req = head + "Transfer-Encoding: chunked\r\n\r\nffffffffff\r\n" + string(call)
	case 3: // a truncated RecordIO record as the body
		rec := strconv.Itoa(len(call)+100) + "\n" + string(call)
		req = strings.Replace(head, "application/x-protobuf", "application/recordio", 1) + "Content-Length: " + strconv.Itoa(len(rec)) + "\r\n\r\n" + rec
	case 4: // headers that never end
		req = head + "X-Junk: " + strings.Repeat("a", 1000)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		h.dialErrors.Add(1)
		return
	}
	defer conn.Close()
	h.calls.Add(1)
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		return
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return // the server may just hang up on garbage
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	h.record(hostileRequest{endpoint: "raw " + path, method: "POST", body: []byte(req)}, resp.StatusCode, body)
}

// checkHealth asks the master for GET_HEALTH throughout the soak.
func (h *hostile) checkHealth(ctx context.Context) {
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()})
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		resp, err := h.client.Post("http://"+h.master+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
		if err != nil {
			h.fail("GET_HEALTH: %v", err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := &masterpb.Response{}
		if resp.StatusCode != http.StatusOK || codec.JSON.Unmarshal(b, out) != nil || !out.GetGetHealth().GetHealthy() {
			h.fail("GET_HEALTH: %d %s", resp.StatusCode, b)
			continue
		}
		if took := time.Since(start); took > 5*time.Second {
			h.fail("GET_HEALTH took %v", took)
		}
		h.healthChecks.Add(1)
	}
}

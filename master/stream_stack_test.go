//go:build !race

// The race detector deepens every frame, so this file's test runs in the
// build without it (make test-go runs it so).

package master

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/httpserve"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Every connected agent has a goroutine writing its event stream, parked
// for as long as the agent stays. The runtime halves a parked goroutine's
// stack only when less than a quarter of it (less its reserve) is in use,
// so whether that goroutine parks shallow decides between 8 and 4 KiB per
// agent: 200 MB at 50,000 agents. Over HTTP/2 (one handler goroutine per
// stream, as the simulated agents of `corral-bench scale` connect) the
// stacks of n connected agents must come to about 4 KiB each.
func TestAgentStreamsParkOnHalvedStacks(t *testing.T) {
	ln, err := httpserve.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Addr: ln.Addr().String(), HeartbeatInterval: time.Hour, AgentPingTimeout: time.Hour,
		AllocationInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserve.Serve(ln, m.Handler(), slog.New(slog.DiscardHandler))
	stopRun := testkit.RunInBackground(m.Run)
	t.Cleanup(func() { stopRun(); srv.Shutdown() })
	for deadline := time.Now().Add(10 * time.Second); !m.recovered.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the master did not recover its registry within 10s")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}

	rs, err := resources.Parse("cpus:1;mem:64", "*")
	if err != nil {
		t.Fatal(err)
	}
	// The agents speak HTTP/2 through raw frames: net/http's client would
	// run a goroutine per request in this process too, and the test counts
	// the server's stacks.
	const conns, perConn = 4, 75 // the server takes 100 streams per connection
	agents := make([]*rawH2Conn, conns)
	port := 10000
	subscribe := func(c *rawH2Conn, k int) {
		t.Helper()
		var ids []uint32
		for range k {
			port++
			body, _ := proto.Marshal(&agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: &agentpb.Call_Subscribe{
				AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("agent"), Port: proto.Int32(int32(port)), Resources: rs}}})
			ids = append(ids, c.post(t, "/api/v1/agent", codec.Protobuf.MediaType(), body))
		}
		// Each one's SUBSCRIBED: the master's handler is past the
		// admission and parked in the stream.
		c.awaitData(t, ids)
	}
	for i := range agents {
		agents[i] = dialRawH2(t, ln.Addr().String())
		subscribe(agents[i], 1) // the connection and the server's goroutines for it
	}
	before := stacks()
	for _, c := range agents {
		subscribe(c, perConn-1)
	}
	n := conns * (perConn - 1)
	per := float64(stacks()-before) / float64(n)
	t.Logf("%.0f bytes of stack per connected agent", per)
	if per > 6<<10 {
		t.Fatalf("each connected agent costs %.0f bytes of stack: its stream's goroutine parks too deep for the runtime to halve its 8 KiB", per)
	}
}

// rawH2Conn is an HTTP/2 connection without TLS (prior knowledge) whose
// streams are driven frame by frame.
type rawH2Conn struct {
	addr  string
	conn  net.Conn
	fr    *http2.Framer
	next  uint32
	hbuf  bytes.Buffer
	hpack *hpack.Encoder
}

func dialRawH2(t *testing.T, addr string) *rawH2Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &rawH2Conn{addr: addr, conn: conn, fr: http2.NewFramer(conn, conn), next: 1}
	c.hpack = hpack.NewEncoder(&c.hbuf)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// post opens a stream with a POST of body and returns its ID.
func (c *rawH2Conn) post(t *testing.T, path, contentType string, body []byte) uint32 {
	t.Helper()
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", c.addr}, {":path", path},
		{"content-type", contentType}, {"content-length", strconv.Itoa(len(body))}} {
		_ = c.hpack.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteData(id, true, body); err != nil {
		t.Fatal(err)
	}
	return id
}

// awaitData reads frames until each of the streams got data.
func (c *rawH2Conn) awaitData(t *testing.T, ids []uint32) {
	t.Helper()
	want := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for len(want) > 0 {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the master's frames, %d streams without data: %v", len(want), err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("the master went away: %v", f.ErrCode)
		case *http2.DataFrame:
			if len(f.Data()) > 0 {
				delete(want, f.StreamID)
			}
		}
	}
}

// stacks is the memory in goroutine stacks after two collections (the
// first halves the stacks that can be, the second frees what they left).
func stacks() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

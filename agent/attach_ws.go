package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// The web UI's terminal: GET /api/v1/exec?container=<task's container>
// [&rows=R&cols=C][&command=<shell command line>] upgrades to a WebSocket
// on a session with a terminal beside the task (a shell, /bin/sh, unless
// command says otherwise). The frames are the ProcessIO messages of the
// v1 API in JSON, as browsers speak it: the client sends what an
// ATTACH_CONTAINER_INPUT stream carries (DATA STDIN, CONTROL TTY_INFO and
// HEARTBEAT), the agent what a session's output stream carries, and last
// the WAIT_NESTED_CONTAINER response with the exit status; then it closes.
// The request is authenticated and authorized (launch_nested_container_
// sessions) like LAUNCH_NESTED_CONTAINER_SESSION, before the upgrade. A
// browser page of any site could open a WebSocket to an agent, so only
// pages of the agent's own origin and of the master it is registered
// with (the web UI) may: others are refused before the upgrade.

// maxWSMessage bounds a frame from the browser: keystrokes and pastes.
const maxWSMessage = 1 << 20

// execQuery reads the terminal's request.
func execQuery(q url.Values) (parent string, ws iosw.WindowSize, cmd *mesospb.CommandInfo, msg string) {
	parent = q.Get("container")
	if parent == "" {
		return "", ws, nil, "Expecting the query parameter 'container' to name the task's container"
	}
	ws = iosw.WindowSize{Rows: 24, Cols: 80}
	for name, v := range map[string]*uint16{"rows": &ws.Rows, "cols": &ws.Cols} {
		if s := q.Get(name); s != "" {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 || n > 1<<12 {
				return "", ws, nil, "Expecting '" + name + "' to be a size between 1 and 4096"
			}
			*v = uint16(n)
		}
	}
	cmd = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/sh"), Arguments: []string{"sh"}}
	if c := q.Get("command"); c != "" {
		cmd = &mesospb.CommandInfo{Shell: proto.Bool(true), Value: proto.String(c)}
	}
	return parent, ws, cmd, ""
}

// uiOrigins are the hosts whose pages may open the terminal: the master
// the agent is registered with, and the one it was told to use.
func (a *Agent) uiOrigins(ctx context.Context) []string {
	var origins []string
	if a.cfg.Master != "" {
		origins = append(origins, a.cfg.Master)
	}
	_ = a.do(ctx, func() {
		if a.session != nil && a.session.master != a.cfg.Master {
			origins = append(origins, a.session.master)
		}
	})
	for _, o := range origins {
		if host, port, err := net.SplitHostPort(o); err == nil && (host == "localhost" || host == "127.0.0.1") {
			// A master on loopback is the same page under either name.
			origins = append(origins, net.JoinHostPort("localhost", port), net.JoinHostPort("127.0.0.1", port))
		}
	}
	return origins
}

// serveExecWS serves the web UI's terminal.
func (a *Agent) serveExecWS(w http.ResponseWriter, r *http.Request) {
	parent, size, cmd, msg := execQuery(r.URL.Query())
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	id := "ui-" + randomID()
	info := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), TtyInfo: &mesospb.TTYInfo{
		WindowSize: &mesospb.TTYInfo_WindowSize{Rows: proto.Uint32(uint32(size.Rows)), Columns: proto.Uint32(uint32(size.Cols))}}}
	origins := a.uiOrigins(r.Context())
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, r.Host, origins) {
		http.Error(w, "Origin "+origin+" may not open a terminal on this agent: only the web UI of its master ("+
			joinOr(origins)+") may", http.StatusForbidden)
		return
	}
	run, sub, ok := a.openSession(w, r, id, parent, cmd, info)
	if !ok {
		return
	}
	defer a.sessions.finish(run)
	defer sub.Close()
	s := run.run
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: origins})
	if err != nil {
		sub.Close()
		s.Kill(syscall.SIGKILL)
		s.Start()
		<-s.Done()
		return // Accept has answered
	}
	conn.SetReadLimit(maxWSMessage)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	a.log.Info("terminal session started", "container", id, "parent", parent, "pid", s.Pid)
	s.Start()
	go func() {
		defer cancel() // the browser went: the session goes
		readTerminalInput(ctx, conn, s.Stdio)
	}()
	ended := pumpWS(ctx, conn, sub)
	sub.Close()
	if ended {
		select {
		case <-s.Done():
		case <-ctx.Done():
		}
	}
	s.Kill(syscall.SIGKILL)
	<-s.Done()
	if ended {
		if b, err := codec.JSON.Marshal(waitResponse(s.Exit())); err == nil {
			_ = conn.Write(ctx, websocket.MessageText, b)
		}
		_ = conn.Close(websocket.StatusNormalClosure, "the session ended")
	} else {
		_ = conn.CloseNow()
	}
	a.log.Info("terminal session ended", "container", id, "exit", s.Exit().String())
}

// readTerminalInput applies the browser's ProcessIO messages to the
// session's terminal until the browser goes or sends something malformed
// (which closes the connection, as a 400 ends an input stream).
func readTerminalInput(ctx context.Context, conn *websocket.Conn, board *iosw.Board) {
	in, err := board.AttachInput()
	if err != nil {
		return
	}
	defer in.Release()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		pio := &agentapipb.ProcessIO{}
		if err := codec.JSON.Unmarshal(b, pio); err != nil {
			_ = conn.Close(websocket.StatusInvalidFramePayloadData, "Failed to parse a message into ProcessIO")
			return
		}
		call := &agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_INPUT.Enum(), AttachContainerInput: &agentapipb.Call_AttachContainerInput{
			Type: agentapipb.Call_AttachContainerInput_PROCESS_IO.Enum(), ProcessIo: pio}}
		if err := applyInput(call, in); err != nil {
			var bad badInput
			if errors.As(err, &bad) {
				_ = conn.Close(websocket.StatusPolicyViolation, truncate(bad.msg, 120))
			}
			return
		}
	}
}

// pumpWS sends the session's output until it ends (true) or the browser
// goes (false).
func pumpWS(ctx context.Context, conn *websocket.Conn, sub *iosw.Reader) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-sub.Ready():
			chunks, more := sub.Take()
			for _, c := range chunks {
				b, err := codec.JSON.Marshal(dataRecord(c))
				if err != nil {
					return false
				}
				wctx, cancel := context.WithTimeout(ctx, outputStall)
				err = conn.Write(wctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					return false
				}
			}
			if !more {
				return true
			}
		}
	}
}

// originAllowed says whether a page of origin may open the terminal: one
// of the agent's own origin (host) or of origins (host:port each).
func originAllowed(origin, host string, origins []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == host {
		return true
	}
	for _, o := range origins {
		if u.Host == o {
			return true
		}
	}
	return false
}

func joinOr(origins []string) string {
	if len(origins) == 0 {
		return "none known: the agent is not registered"
	}
	out := origins[0]
	for _, o := range origins[1:] {
		out += ", " + o
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

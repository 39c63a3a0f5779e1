package master

import (
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/proto/masterpb"
)

// subscribeOperator answers the operator API's SUBSCRIBE with a RecordIO
// stream: the state, then every change the core publishes, and HEARTBEAT.
func (m *Master) subscribeOperator(w http.ResponseWriter, r *http.Request, out codec.Codec, principal string) {
	box := newOutbox()
	var conn *core.OperatorConn
	err := m.do(r.Context(), func(c *core.Core) { conn = c.SubscribeOperator(principal, box) })
	if err != nil {
		http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	heartbeat := func() proto.Message { return &masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()} }
	box.pump(w, r, out, heartbeat, m.cfg.HeartbeatInterval)
	m.post(func(c *core.Core) { c.UnsubscribeOperator(conn) })
}

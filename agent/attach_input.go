package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/recordio"
)

// maxInputRecord bounds one record of an input stream: keystrokes and
// pasted text come in far smaller pieces.
const maxInputRecord = 1 << 20

// isStreamingRequest reports whether a request body is a RecordIO stream
// of calls (ATTACH_CONTAINER_INPUT) rather than one call.
func isStreamingRequest(r *http.Request) bool {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(mt), recordIOMediaType)
}

// inputFeed reads an input stream's calls after the first.
type inputFeed struct {
	rec *recordio.Reader
	c   codec.Codec
}

// next returns the next call, io.EOF at a clean end of the stream.
func (f *inputFeed) next() (*agentapipb.Call, error) {
	b, err := f.rec.ReadRecord()
	if errors.Is(err, io.EOF) {
		return nil, err
	}
	if err != nil {
		// A framing error, or the client's connection broke inside a
		// record: either way the stream cannot go on.
		return nil, badInput{"Malformed RecordIO stream: " + err.Error()}
	}
	call := &agentapipb.Call{}
	if err := f.c.Unmarshal(b, call); err != nil {
		return nil, badInput{"Failed to parse a record into Call: " + err.Error()}
	}
	return call, nil
}

// badInput is a record the stream must not go on after (Mesos' 400).
type badInput struct{ msg string }

func (b badInput) Error() string { return b.msg }

// serveAttachInput serves ATTACH_CONTAINER_INPUT: a RecordIO stream whose
// first call names the container and whose later calls carry its input.
// It answers when the stream ends: 200 (without a body or Content-Type,
// as Mesos clients expect of it), or 400 at the first malformed record,
// closing the stream; the container is not touched by a bad record.
func (a *Agent) serveAttachInput(w http.ResponseWriter, r *http.Request) {
	mct := r.Header.Get(messageContentType)
	if mct == "" {
		http.Error(w, "Expecting '"+messageContentType+"' to be set for streaming requests", http.StatusBadRequest)
		return
	}
	c, err := codec.ForContentType(mct)
	if err != nil {
		http.Error(w, fmt.Sprintf("Expecting '%s' of %s or %s", messageContentType, codec.JSONMediaType, codec.ProtobufMediaType), http.StatusUnsupportedMediaType)
		return
	}
	feed := &inputFeed{rec: recordio.NewReader(r.Body, maxInputRecord), c: c}
	first, err := feed.next()
	if err != nil {
		http.Error(w, "Expecting a first record naming the container: "+inputError(err), http.StatusBadRequest)
		return
	}
	aci := first.GetAttachContainerInput()
	if first.GetType() != agentapipb.Call_ATTACH_CONTAINER_INPUT || aci.GetType() != agentapipb.Call_AttachContainerInput_CONTAINER_ID {
		http.Error(w, "Expecting the first record to be an ATTACH_CONTAINER_INPUT call of type CONTAINER_ID", http.StatusBadRequest)
		return
	}
	tgt, status, msg := a.attachTarget(r.Context(), aci.GetContainerId(), acl.AttachContainersInput)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	if tgt.board == nil {
		http.Error(w, "Container "+tgt.id+" has no terminal: its input cannot be attached (launch the task with ContainerInfo.tty_info)", http.StatusBadRequest)
		return
	}
	in, err := tgt.board.AttachInput()
	switch {
	case errors.Is(err, iosw.ErrInputBusy):
		http.Error(w, "Container "+tgt.id+": multiple input connections are not allowed", http.StatusConflict)
		return
	case errors.Is(err, iosw.ErrEnded):
		http.Error(w, "Container "+tgt.id+" is not running on this agent", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "Container "+tgt.id+": "+err.Error(), http.StatusBadRequest)
		return
	}
	err = feedInput(feed, in)
	in.Release()
	if err != nil {
		var bad badInput
		switch {
		case errors.As(err, &bad):
			http.Error(w, bad.msg, http.StatusBadRequest)
		default:
			// The client went, or the container's input did: nobody to tell.
			a.log.Debug("an input stream ended", "container", tgt.id, "err", err)
		}
		return
	}
	// The client ended its input: it is answered when the container's
	// output has reached the attached clients, since a client (msh) may
	// stop reading its output as soon as this call returns.
	select {
	case <-tgt.board.Settled():
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusOK)
}

// feedInput carries an input stream's records into in until the stream
// ends. A clean end is the client's end of input: the process reads EOF
// (an EOT on a terminal), as it would at the end of a piped stdin.
func feedInput(feed *inputFeed, in *iosw.Input) error {
	for {
		call, err := feed.next()
		if errors.Is(err, io.EOF) {
			return in.EOF()
		}
		if err != nil {
			return err
		}
		if err := applyInput(call, in); err != nil {
			return err
		}
	}
}

// applyInput validates one input record, as Mesos does, and applies it.
func applyInput(call *agentapipb.Call, in *iosw.Input) error {
	aci := call.GetAttachContainerInput()
	switch {
	case call.GetType() != agentapipb.Call_ATTACH_CONTAINER_INPUT:
		return badInput{"Expecting every record to be an ATTACH_CONTAINER_INPUT call, got " + call.GetType().String()}
	case aci.GetType() != agentapipb.Call_AttachContainerInput_PROCESS_IO:
		return badInput{"Expecting 'attach_container_input.type' to be 'PROCESS_IO' instead of: '" + aci.GetType().String() + "'"}
	case aci.ProcessIo == nil:
		return badInput{"Expecting 'attach_container_input.process_io' to be present"}
	}
	pio := aci.GetProcessIo()
	switch pio.GetType() {
	case agentapipb.ProcessIO_DATA:
		d := pio.GetData()
		switch {
		case d == nil:
			return badInput{"Expecting 'process_io.data' to be present"}
		case d.GetType() != agentapipb.ProcessIO_Data_STDIN:
			return badInput{"Expecting 'process_io.data.type' to be 'STDIN'"}
		case d.Data == nil:
			return badInput{"Expecting 'process_io.data.data' to be present"}
		case len(d.GetData()) == 0:
			return in.EOF() // Mesos' end of input
		}
		return in.Write(d.GetData())
	case agentapipb.ProcessIO_CONTROL:
		ctl := pio.GetControl()
		switch ctl.GetType() {
		case agentapipb.ProcessIO_Control_TTY_INFO:
			ws := ctl.GetTtyInfo().GetWindowSize()
			if ws == nil {
				return badInput{"Expecting 'tty_info.window_size' to be present"}
			}
			if err := in.Resize(iosw.WindowSize{Rows: clampSize(ws.GetRows()), Cols: clampSize(ws.GetColumns())}); err != nil {
				return badInput{"Unable to set the window size: " + err.Error()}
			}
			return nil
		case agentapipb.ProcessIO_Control_HEARTBEAT:
			return nil
		}
		return badInput{"'process_io.control.type' is unknown"}
	}
	return badInput{"'process_io.type' is unknown"}
}

// inputError says why a stream's first record could not be read.
func inputError(err error) string {
	if errors.Is(err, io.EOF) {
		return "the stream is empty"
	}
	return err.Error()
}

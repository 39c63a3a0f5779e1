// Package attachclient calls an agent's attach and session calls (Mesos'
// v1 agent API: LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT,
// ATTACH_CONTAINER_OUTPUT, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER)
// for `corral exec` and `corral attach`, and for corral's tests. It
// speaks protobuf in RecordIO, as Mesos' own CLI does.
package attachclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

const recordIOMediaType = "application/recordio"

// maxOutputRecord bounds one record read from an agent.
const maxOutputRecord = 4 << 20

// Client calls one agent's /api/v1.
type Client struct {
	// Base is the agent's URL, e.g. http://10.0.0.1:5051.
	Base string
	// HTTP sends the calls; it must not time whole requests out (the
	// streams last as long as the session). nil: http.DefaultClient.
	HTTP *http.Client
}

// StatusError is an agent's refusal: its HTTP status and message.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the agent answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &StatusError{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
}

// post sends one call; accept names the response's media type.
func (c *Client) post(ctx context.Context, call *agentapipb.Call, accept string) (*http.Response, error) {
	body, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", accept)
	if accept == recordIOMediaType {
		req.Header.Set("Message-Accept", codec.ProtobufMediaType)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the agent at %s: %w", c.Base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// Output is a stream of ProcessIO from the agent.
type Output struct {
	body io.ReadCloser
	rec  *recordio.Reader
}

// Next returns the next message; io.EOF when the output has ended.
func (o *Output) Next() (*agentapipb.ProcessIO, error) {
	b, err := o.rec.ReadRecord()
	if err != nil {
		return nil, err
	}
	m := &agentapipb.ProcessIO{}
	if err := codec.Protobuf.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Copy writes the output's data to stdout and stderr until it ends.
func (o *Output) Copy(stdout, stderr io.Writer) error {
	for {
		m, err := o.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.GetType() != agentapipb.ProcessIO_DATA {
			continue // heartbeats
		}
		w := stdout
		if m.GetData().GetType() == agentapipb.ProcessIO_Data_STDERR {
			w = stderr
		}
		if _, err := w.Write(m.GetData().GetData()); err != nil {
			return err
		}
	}
}

// Close ends the stream (for a session: the session).
func (o *Output) Close() error { return o.body.Close() }

func (c *Client) stream(ctx context.Context, call *agentapipb.Call) (*Output, error) {
	resp, err := c.post(ctx, call, recordIOMediaType)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != recordIOMediaType {
		resp.Body.Close()
		return nil, fmt.Errorf("the agent streamed %q, want %s", ct, recordIOMediaType)
	}
	return &Output{body: resp.Body, rec: recordio.NewReader(resp.Body, maxOutputRecord)}, nil
}

// ContainerID is a container's ID, nested under parent when parent is
// not "".
func ContainerID(id, parent string) *mesospb.ContainerID {
	c := &mesospb.ContainerID{Value: proto.String(id)}
	if parent != "" {
		c.Parent = &mesospb.ContainerID{Value: proto.String(parent)}
	}
	return c
}

// TTY is a ContainerInfo asking for a terminal of rows × cols.
func TTY(rows, cols uint32) *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), TtyInfo: &mesospb.TTYInfo{
		WindowSize: &mesospb.TTYInfo_WindowSize{Rows: proto.Uint32(rows), Columns: proto.Uint32(cols)}}}
}

// LaunchSession starts cmd as session id in container parent; the
// session lasts until its output ends or the Output is closed. container
// may ask for a terminal (TTY).
func (c *Client) LaunchSession(ctx context.Context, id, parent string, cmd *mesospb.CommandInfo, container *mesospb.ContainerInfo) (*Output, error) {
	return c.stream(ctx, &agentapipb.Call{Type: agentapipb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentapipb.Call_LaunchNestedContainerSession{
			ContainerId: ContainerID(id, parent), Command: cmd, Container: container}})
}

// AttachOutput follows container id's output from now on.
func (c *Client) AttachOutput(ctx context.Context, id *mesospb.ContainerID) (*Output, error) {
	return c.stream(ctx, &agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentapipb.Call_AttachContainerOutput{ContainerId: id}})
}

// Wait waits for session id to end and returns its wait(2) status; known
// is false when the agent could not tell it.
func (c *Client) Wait(ctx context.Context, id *mesospb.ContainerID) (status int32, known bool, err error) {
	resp, err := c.post(ctx, &agentapipb.Call{Type: agentapipb.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentapipb.Call_WaitNestedContainer{ContainerId: id}}, codec.ProtobufMediaType)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	out := &agentapipb.Response{}
	if err := codec.Protobuf.Unmarshal(b, out); err != nil {
		return 0, false, err
	}
	w := out.GetWaitNestedContainer()
	return w.GetExitStatus(), w.ExitStatus != nil, nil
}

// ExitCode turns a wait(2) status into a shell's exit code: the code,
// or 128 plus the signal that killed it.
func ExitCode(status int32) int {
	if sig := status & 0x7f; sig != 0 {
		return 128 + int(sig)
	}
	return int(status>>8) & 0xff
}

// Kill sends sig (0: SIGKILL) to session id.
func (c *Client) Kill(ctx context.Context, id *mesospb.ContainerID, sig int32) error {
	k := &agentapipb.Call_KillNestedContainer{ContainerId: id}
	if sig != 0 {
		k.Signal = proto.Int32(sig)
	}
	resp, err := c.post(ctx, &agentapipb.Call{Type: agentapipb.Call_KILL_NESTED_CONTAINER.Enum(), KillNestedContainer: k}, codec.ProtobufMediaType)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Input is an attached input stream.
type Input struct {
	pw     *io.PipeWriter
	rec    *recordio.Writer
	mu     sync.Mutex // serializes records
	done   chan struct{}
	result error // the agent's answer, once done is closed
}

// AttachInput attaches to container id's input. The agent answers only
// when the stream ends, so a refusal (404, 409) surfaces from Send or
// Close.
func (c *Client) AttachInput(ctx context.Context, id *mesospb.ContainerID) (*Input, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/v1", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", recordIOMediaType)
	req.Header.Set("Message-Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	in := &Input{pw: pw, rec: recordio.NewWriter(pw), done: make(chan struct{})}
	go func() {
		defer close(in.done)
		resp, err := c.http().Do(req)
		if err != nil {
			in.result = fmt.Errorf("attaching to the input: %w", err)
			pr.CloseWithError(in.result)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			in.result = statusError(resp)
		}
		// The agent answered: nothing more is read.
		pr.CloseWithError(errAnswered)
	}()
	first := &agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentapipb.Call_AttachContainerInput{
			Type: agentapipb.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: id}}
	if err := in.send(first); err != nil {
		return nil, err
	}
	return in, nil
}

var errAnswered = errors.New("the agent answered the input stream")

func (in *Input) send(call *agentapipb.Call) error {
	b, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.rec.WriteRecord(b); err != nil {
		<-in.done
		if in.result != nil {
			return in.result
		}
		return err
	}
	return nil
}

// Send sends one ProcessIO.
func (in *Input) Send(pio *agentapipb.ProcessIO) error {
	return in.send(&agentapipb.Call{Type: agentapipb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentapipb.Call_AttachContainerInput{
			Type: agentapipb.Call_AttachContainerInput_PROCESS_IO.Enum(), ProcessIo: pio}})
}

// Write sends p as stdin.
func (in *Input) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty DATA is end of input
	}
	err := in.Send(&agentapipb.ProcessIO{Type: agentapipb.ProcessIO_DATA.Enum(),
		Data: &agentapipb.ProcessIO_Data{Type: agentapipb.ProcessIO_Data_STDIN.Enum(), Data: p}})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Resize sends the terminal's new size.
func (in *Input) Resize(rows, cols uint32) error {
	return in.Send(&agentapipb.ProcessIO{Type: agentapipb.ProcessIO_CONTROL.Enum(), Control: &agentapipb.ProcessIO_Control{
		Type:    agentapipb.ProcessIO_Control_TTY_INFO.Enum(),
		TtyInfo: &mesospb.TTYInfo{WindowSize: &mesospb.TTYInfo_WindowSize{Rows: proto.Uint32(rows), Columns: proto.Uint32(cols)}}}})
}

// Close ends the stream cleanly, which the agent takes for end of input
// (a pipe closes, a terminal reads EOT), and returns its answer.
func (in *Input) Close() error {
	in.mu.Lock()
	_ = in.pw.Close()
	in.mu.Unlock()
	<-in.done
	return in.result
}

// Abort breaks the stream off without ending the input: the container
// reads nothing more, and no EOF.
func (in *Input) Abort() {
	in.mu.Lock()
	_ = in.pw.CloseWithError(errors.New("detached"))
	in.mu.Unlock()
	<-in.done
}

package iosw

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Stream names an output stream.
type Stream int

// The output streams. A terminal has only Stdout: the process's stdout
// and stderr are the same device.
const (
	Stdout Stream = iota + 1
	Stderr
)

// Chunk is output as the process wrote it.
type Chunk struct {
	Stream Stream
	Data   []byte
}

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows, Cols uint16
}

// Errors of attaching.
var (
	// ErrInputBusy: another client holds the input (Mesos' 409).
	ErrInputBusy = errors.New("another client is attached to this container's input")
	// ErrNoInput: the container's stdin is not the switchboard's.
	ErrNoInput = errors.New("this container's input cannot be attached")
	// ErrEnded: the container's output has ended.
	ErrEnded = errors.New("this container's output has ended")
	// ErrNotTerminal: a window size for a container without a terminal.
	ErrNotTerminal = errors.New("this container has no terminal to resize")
)

// readSize is what one read of a stream takes at most: one chunk.
const readSize = 32 << 10

// DefaultBudget is how many bytes a Reader may fall behind before it is
// dropped: what the Board holds for a client that stops reading.
const DefaultBudget = 8 << 20

// Board switches one container's standard streams (see the package doc).
type Board struct {
	tty bool
	// in is where input goes: the terminal's master side, or stdin's
	// pipe; nil when the input is not attachable.
	in      *os.File
	outputs []output
	log     *slog.Logger

	mu sync.Mutex
	// readers are the attached output clients; inputHeld says whether a
	// client holds the input; ended that the output is over. Guarded by mu.
	readers   map[*Reader]struct{}
	inputHeld bool
	ended     bool
	// inClosed: the input was closed (EOF sent on a pipe, or Close).
	inClosed bool

	started sync.Once
	pumps   sync.WaitGroup
	done    chan struct{} // closed when every pump has ended
	// attached counts the readers not yet Closed by their clients.
	attached sync.WaitGroup
	settled  chan struct{} // closed when Settle returns
	settle   sync.Once

	// lossless: no output has a sink, so the readers are the only place
	// the output goes (a session's); the pumps wait for a reader over its
	// budget instead of dropping it, and the process blocks in its write.
	lossless bool
	// waited is set whenever a pump waited for a reader, waiting counts
	// the pumps waiting now; Settle keeps reading while the clients, not
	// the process, are what is slow.
	waited  atomic.Bool
	waiting atomic.Int32
}

type output struct {
	stream Stream
	from   *os.File
	sink   io.Writer // nil: the output goes to readers only
}

// NewTerminal is a Board on a terminal's master side: input goes to it,
// output is read from it as Stdout and appended to sink (nil for none).
// The Board owns master from now on.
func NewTerminal(master *os.File, sink io.Writer, log *slog.Logger) *Board {
	b := newBoard(log)
	b.tty, b.in = true, master
	b.outputs = []output{{stream: Stdout, from: master, sink: sink}}
	b.lossless = sink == nil
	return b
}

// NewPipes is a Board on the agent's ends of three pipes: stdin (nil if
// the input is not attachable), stdout and stderr, each output copied to
// its sink too when one is given. The Board owns the files from now on.
func NewPipes(stdin, stdout, stderr *os.File, stdoutSink, stderrSink io.Writer, log *slog.Logger) *Board {
	b := newBoard(log)
	b.in = stdin
	b.outputs = []output{{stream: Stdout, from: stdout, sink: stdoutSink}, {stream: Stderr, from: stderr, sink: stderrSink}}
	b.lossless = stdoutSink == nil && stderrSink == nil
	return b
}

func newBoard(log *slog.Logger) *Board {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Board{log: log, readers: make(map[*Reader]struct{}), done: make(chan struct{}), settled: make(chan struct{})}
}

// TTY reports whether the Board is on a terminal.
func (b *Board) TTY() bool { return b.tty }

// Start runs the pumps; calls after the first do nothing.
func (b *Board) Start() {
	b.started.Do(func() {
		for _, o := range b.outputs {
			b.pumps.Add(1)
			go b.pump(o)
		}
		go func() {
			b.pumps.Wait()
			b.end()
		}()
	})
}

// pump reads one stream until it ends, sinking and fanning out each chunk.
func (b *Board) pump(o output) {
	defer b.pumps.Done()
	sinkFailed := false
	buf := make([]byte, readSize)
	for {
		n, err := o.from.Read(buf)
		if n > 0 {
			data := make([]byte, n) // every reader shares it; nobody writes to it
			copy(data, buf[:n])
			if o.sink != nil && !sinkFailed {
				if _, werr := o.sink.Write(data); werr != nil {
					// The output still reaches readers; the log says what the
					// sandbox file misses from here on.
					sinkFailed = true
					b.log.Warn("cannot write a container's output to its sandbox", "err", werr)
				}
			}
			b.fanOut(Chunk{Stream: o.stream, Data: data})
		}
		if err != nil {
			// EOF on a pipe, EIO on a terminal whose last user left, or the
			// file was closed by Settle: the stream is over either way.
			return
		}
	}
}

// fanOut hands c to every reader, dropping those over their budget; on a
// lossless Board it waits for them instead.
func (b *Board) fanOut(c Chunk) {
	b.mu.Lock()
	if b.lossless {
		readers := make([]*Reader, 0, len(b.readers))
		for r := range b.readers {
			readers = append(readers, r)
		}
		b.mu.Unlock()
		b.waiting.Add(1)
		defer b.waiting.Add(-1)
		for _, r := range readers {
			if r.pushWait(c) {
				b.waited.Store(true)
			}
		}
		return
	}
	defer b.mu.Unlock()
	for r := range b.readers {
		if !r.push(c) {
			delete(b.readers, r)
		}
	}
}

// end closes every reader once the output is over.
func (b *Board) end() {
	b.mu.Lock()
	b.ended = true
	for r := range b.readers {
		delete(b.readers, r)
		r.close(false)
	}
	b.mu.Unlock()
	close(b.done)
}

// Done is closed when the output has ended and every reader is closed.
func (b *Board) Done() <-chan struct{} { return b.done }

// Subscribe attaches an output client that may fall budget bytes behind
// (DefaultBudget if 0 or less). ErrEnded once the output is over.
func (b *Board) Subscribe(budget int) (*Reader, error) {
	if budget <= 0 {
		budget = DefaultBudget
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return nil, ErrEnded
	}
	r := &Reader{b: b, budget: budget, ready: make(chan struct{}, 1)}
	r.room.L = &r.mu
	b.readers[r] = struct{}{}
	b.attached.Add(1)
	return r, nil
}

// AttachInput gives the caller the input until it calls Release:
// ErrInputBusy while another client has it, ErrNoInput when there is none.
func (b *Board) AttachInput() (*Input, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.in == nil || b.inClosed:
		return nil, ErrNoInput
	case b.ended:
		return nil, ErrEnded
	case b.inputHeld:
		return nil, ErrInputBusy
	}
	b.inputHeld = true
	return &Input{b: b}, nil
}

// Settle waits up to grace for the pumps to read what the exited process
// left, then closes the Board's files, which ends the pumps at once: a
// process that left a child holding the streams must not hold up its
// exit. Then it waits, up to grace again, for the attached clients to
// take the end and detach, so that a client has the last of the output
// before anything reports the exit (msh stops at TASK_FINISHED; Mesos'
// switchboard likewise outlives its container until its connections
// are flushed).
func (b *Board) Settle(grace time.Duration) {
	b.Start() // a Board nobody started has nothing to wait for
	t := time.NewTimer(grace)
	defer t.Stop()
	b.waited.Store(false)
wait:
	for {
		select {
		case <-b.done:
			break wait
		case <-t.C:
			// A lossless Board's pumps that waited for a client in the
			// last grace have output left that only the client's pace
			// holds back: keep reading while the client is connected.
			if !b.waited.Swap(false) && b.waiting.Load() == 0 {
				break wait
			}
			t.Reset(grace)
		}
	}
	b.Close()
	<-b.done
	detached := make(chan struct{})
	go func() { b.attached.Wait(); close(detached) }()
	t.Reset(grace)
	select {
	case <-detached:
	case <-t.C:
	}
	b.settle.Do(func() { close(b.settled) })
}

// Settled is closed once the process has exited and its output has
// reached the attached clients (Settle has returned).
func (b *Board) Settled() <-chan struct{} { return b.settled }

// Close closes the Board's files: the pumps and any input end.
func (b *Board) Close() {
	b.mu.Lock()
	b.inClosed = true
	b.mu.Unlock()
	if b.in != nil {
		_ = b.in.Close()
	}
	for _, o := range b.outputs {
		if o.from != b.in {
			_ = o.from.Close()
		}
	}
	b.Start() // so that Done closes even on a Board never started
}

// SetWindowSize sets the size of the terminal f is a side of.
func SetWindowSize(f *os.File, ws WindowSize) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("resizing the terminal: %w", err)
	}
	var ioctlErr error
	err = raw.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
	})
	if err == nil {
		err = ioctlErr
	}
	if err != nil {
		return fmt.Errorf("resizing the terminal: %w", err)
	}
	return nil
}

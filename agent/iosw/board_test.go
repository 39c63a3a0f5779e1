package iosw

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockedBuffer is a sink the test reads while the pump writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pipeBoard is a Board on fresh pipes; it returns the process's ends.
func pipeBoard(t *testing.T, stdoutSink *lockedBuffer) (*Board, [3]*os.File) {
	t.Helper()
	proc, agent, err := Pipes()
	if err != nil {
		t.Fatal(err)
	}
	var sink io.Writer // a nil *lockedBuffer is no sink: a session's Board
	if stdoutSink != nil {
		sink = stdoutSink
	}
	b := NewPipes(agent[0], agent[1], agent[2], sink, nil, nil)
	t.Cleanup(func() {
		closeAll(proc[:])
		b.Close()
	})
	return b, proc
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// source is a Reader or a Follower.
type source interface {
	Ready() <-chan struct{}
	Take() ([]Chunk, bool)
}

// collect takes everything from src until its end, by stream.
func collect(src source) map[Stream]string {
	out := map[Stream]*strings.Builder{Stdout: {}, Stderr: {}}
	for range src.Ready() {
		chunks, more := src.Take()
		for _, c := range chunks {
			out[c.Stream].Write(c.Data)
		}
		if !more {
			break
		}
	}
	return map[Stream]string{Stdout: out[Stdout].String(), Stderr: out[Stderr].String()}
}

func TestBoardSinksAndFansOutEveryChunk(t *testing.T) {
	sink := &lockedBuffer{}
	b, proc := pipeBoard(t, sink)
	r1, err := b.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := b.Subscribe(0)
	b.Start()
	for _, line := range []string{"one\n", "two\n"} {
		if _, err := proc[1].WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = proc[2].WriteString("oops\n")
	closeAll(proc[:])
	got := make(chan map[Stream]string, 1)
	go func() { got <- collect(r2) }()
	if out := collect(r1); out[Stdout] != "one\ntwo\n" || out[Stderr] != "oops\n" {
		t.Errorf("reader 1 saw %v", out)
	}
	if out := <-got; out[Stdout] != "one\ntwo\n" || out[Stderr] != "oops\n" {
		t.Errorf("reader 2 saw %v", out)
	}
	<-b.Done()
	if sink.String() != "one\ntwo\n" {
		t.Errorf("the sink holds %q", sink.String())
	}
	if _, err := b.Subscribe(0); !errors.Is(err, ErrEnded) {
		t.Errorf("subscribing after the end: %v, want ErrEnded", err)
	}
}

// A reader that never reads is dropped once its queue is full; the
// process, the sink and the other readers carry on.
func TestBoardDropsAReaderThatStopsReading(t *testing.T) {
	sink := &lockedBuffer{}
	b, proc := pipeBoard(t, sink)
	line := strings.Repeat("x", 99) + "\n"
	stuck, _ := b.Subscribe(3 * len(line))
	live, _ := b.Subscribe(0)
	b.Start()
	const writes = 20
	var seen strings.Builder
	for i := range writes {
		// One write at a time, each seen by the live reader before the
		// next: the stuck reader's queue grows by one line each time.
		if _, err := proc[1].WriteString(line); err != nil {
			t.Fatal(err)
		}
		select {
		case <-live.Ready():
			chunks, _ := live.Take()
			for _, c := range chunks {
				seen.Write(c.Data)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("write %d never reached the live reader: the stuck one blocks the board", i)
		}
	}
	closeAll(proc[:])
	<-b.Done()
	if seen.String() != strings.Repeat(line, writes) {
		t.Errorf("the live reader got %d bytes, want %d", seen.Len(), writes*len(line))
	}
	if sink.String() != strings.Repeat(line, writes) {
		t.Errorf("the sink got %d bytes, want %d", len(sink.String()), writes*len(line))
	}
	if got := collect(stuck)[Stdout]; !stuck.Dropped() || got != "" {
		t.Errorf("the reader that never read: dropped %v holding %d bytes; want dropped, its queue freed", stuck.Dropped(), len(got))
	}
}

// A session's output goes to its client alone: a client slower than the
// process gets all of it, the process waiting in its writes, even when
// the process has exited long before the client has read the rest.
func TestSessionBoardWaitsForItsSlowReader(t *testing.T) {
	b, proc := pipeBoard(t, nil)
	r, _ := b.Subscribe(4 << 10)
	b.Start()
	const size = 1 << 20
	go func() {
		_, _ = proc[1].Write(bytes.Repeat([]byte("y"), size))
		closeAll(proc[:])
		b.Settle(10 * time.Millisecond) // the process exited
	}()
	got := 0
	for range r.Ready() {
		time.Sleep(time.Millisecond) // a slow client: far slower than the grace
		chunks, more := r.Take()
		for _, c := range chunks {
			got += len(c.Data)
		}
		if !more {
			break
		}
	}
	if got != size || r.Dropped() {
		t.Fatalf("the slow client got %d of %d bytes (dropped %v)", got, size, r.Dropped())
	}
	r.Close()
	<-b.Settled()
}

// A session client that goes away releases the pumps that waited for it.
func TestSessionBoardForgetsAClientThatLeaves(t *testing.T) {
	b, proc := pipeBoard(t, nil)
	r, _ := b.Subscribe(4 << 10)
	b.Start()
	wrote := make(chan error, 1)
	go func() {
		_, err := proc[1].Write(bytes.Repeat([]byte("y"), 1<<20))
		wrote <- err
	}()
	<-r.Ready()
	r.Close()
	if err := <-wrote; err != nil {
		t.Fatalf("the process's write after its client left: %v", err)
	}
	closeAll(proc[:])
	<-b.Done()
}

func TestBoardTakesOneInputAtATime(t *testing.T) {
	b, proc := pipeBoard(t, nil)
	b.Start()
	in, err := b.AttachInput()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AttachInput(); !errors.Is(err, ErrInputBusy) {
		t.Fatalf("a second input: %v, want ErrInputBusy", err)
	}
	if err := in.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	in.Release()
	again, err := b.AttachInput()
	if err != nil {
		t.Fatalf("attaching after a release: %v", err)
	}
	if err := again.EOF(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := proc[0].Read(buf)
	if string(buf[:n]) != "hello" {
		t.Errorf("stdin read %q", buf[:n])
	}
	if n, err := proc[0].Read(buf); n != 0 || err == nil {
		t.Errorf("after EOF stdin read %d bytes, %v; want EOF", n, err)
	}
	if _, err := b.AttachInput(); !errors.Is(err, ErrNoInput) {
		t.Errorf("attaching a closed stdin: %v, want ErrNoInput", err)
	}
}

func TestTerminalResizesAndEndsInputWithEOT(t *testing.T) {
	master, tty, err := OpenPTY(WindowSize{Rows: 30, Cols: 100}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	sink := &lockedBuffer{}
	b := NewTerminal(master, sink, nil)
	defer b.Close()
	b.Start()
	size := func() WindowSize {
		ws, err := unix.IoctlGetWinsize(int(tty.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			t.Fatal(err)
		}
		return WindowSize{Rows: ws.Row, Cols: ws.Col}
	}
	if got := size(); got != (WindowSize{30, 100}) {
		t.Errorf("opened at %v, want 30×100", got)
	}
	in, err := b.AttachInput()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Resize(WindowSize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != (WindowSize{50, 132}) {
		t.Errorf("resized to %v, want 50×132", got)
	}
	// Canonical mode: a line, then EOT at the start of the next, reads as
	// the line and then end of file.
	if err := in.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if err := in.EOF(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := tty.Read(buf)
	if string(buf[:n]) != "hi\n" {
		t.Errorf("the terminal read %q", buf[:n])
	}
	if n, _ := tty.Read(buf); n != 0 {
		t.Errorf("after EOT the terminal read %q, want end of file", buf[:n])
	}
	// What the process writes reaches the sink (echoed input too).
	if _, err := tty.WriteString("out\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(sink.String(), "out\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the sink holds %q", sink.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// followNew starts following a container's stdout, holding before, and
// its empty stderr; the follower is closed when the test ends.
func followNew(t *testing.T, before string) (f *Follower, stdout, stderr string, ended chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	stdout, stderr = filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := os.WriteFile(stdout, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stderr, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ended = make(chan struct{})
	f, err := Follow(stdout, stderr, ended)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, stdout, stderr, ended
}

func TestFollowSendsWhatIsAppended(t *testing.T) {
	f, stdout, stderr, ended := followNew(t, "before\n")
	appendTo := func(path, s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(stdout, "after\n")
	appendTo(stderr, "warn\n")
	deadline := time.After(20 * time.Second)
	var got []Chunk
	for len(got) < 2 {
		select {
		case <-f.Ready():
			chunks, _ := f.Take()
			got = append(got, chunks...)
		case <-deadline:
			t.Fatalf("the appends were not seen: %v", got)
		}
	}
	if got[0].Stream != Stdout || string(got[0].Data) != "after\n" || got[1].Stream != Stderr || string(got[1].Data) != "warn\n" {
		t.Fatalf("first chunks %v, want stdout \"after\\n\" (not what was there before), stderr \"warn\\n\"", got)
	}
	appendTo(stdout, "last\n")
	close(ended)
	if rest := collect(f); rest[Stdout] != "last\n" || rest[Stderr] != "" {
		t.Errorf("after the end: %v", rest)
	}
}

// A task that truncates its own output (a shell's `>` on /proc/1/fd/1, a
// log rotated by copy and truncate) and writes again is still followed:
// what it writes after the truncation is read from the file's start.
func TestFollowRereadsAFileTruncatedUnderIt(t *testing.T) {
	f, stdout, _, _ := followNew(t, "a long line written before the attach\n")
	if err := os.WriteFile(stdout, []byte("short\n"), 0o644); err != nil { // O_TRUNC, as `>` does
		t.Fatal(err)
	}
	var got strings.Builder
	deadline := time.After(20 * time.Second)
	for !strings.Contains(got.String(), "short\n") {
		select {
		case <-f.Ready():
			chunks, _ := f.Take()
			for _, c := range chunks {
				got.Write(c.Data)
			}
		case <-deadline:
			t.Fatalf("what was written after the truncation was not seen: %q", got.String())
		}
	}
}

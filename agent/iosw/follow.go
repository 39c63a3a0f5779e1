package iosw

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// followRecheck bounds how long an append can go unseen should inotify
// miss it (file systems that do not report every write).
const followRecheck = time.Second

// takeLimit bounds what one Take reads: the rest waits for the next.
const takeLimit = 1 << 20

// Follower streams what is appended to a container's stdout and stderr
// files, from their ends as they were when it started, until the
// container has exited and everything it wrote has been taken. It reads
// at the pace of its caller: one that stops reading holds up nobody else,
// since the files keep what it has not read.
type Follower struct {
	files []followed
	ended <-chan struct{}
	ready chan struct{}
	stop  chan struct{}
	once  sync.Once
	// mu serializes Take.
	mu sync.Mutex
}

type followed struct {
	file   *os.File
	stream Stream
}

// Follow starts following the stdout and stderr files; ended is closed
// when the container has exited. Close it when done.
func Follow(stdout, stderr string, ended <-chan struct{}) (*Follower, error) {
	f := &Follower{ended: ended, ready: make(chan struct{}, 1), stop: make(chan struct{})}
	for _, x := range []struct {
		path   string
		stream Stream
	}{{stdout, Stdout}, {stderr, Stderr}} {
		file, err := os.Open(x.path)
		if err == nil {
			_, err = file.Seek(0, io.SeekEnd)
		}
		if err != nil {
			f.closeFiles()
			if file != nil {
				file.Close()
			}
			return nil, fmt.Errorf("following the container's output: %w", err)
		}
		f.files = append(f.files, followed{file: file, stream: x.stream})
	}
	changed, stopWatch, err := watch(stdout, stderr)
	if err != nil {
		f.closeFiles()
		return nil, err
	}
	go func() {
		defer stopWatch()
		recheck := time.NewTicker(followRecheck)
		defer recheck.Stop()
		ended := f.ended
		for {
			select {
			case <-f.stop:
				return
			case <-ended:
				ended = nil // one notice: Take sees it closed from now on
			case <-changed:
			case <-recheck.C:
			}
			f.notify()
		}
	}()
	f.notify() // whatever came between the seek and the watch
	return f, nil
}

func (f *Follower) notify() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// Ready holds a notice when Take may have something to say.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Take reads what was appended since the last Take, and whether more may
// come: false once the container has exited and all it wrote was taken.
func (f *Follower) Take() ([]Chunk, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	over := false
	select {
	case <-f.ended:
		over = true // checked before reading: nothing is written after
	default:
	}
	var out []Chunk
	total := 0
	for _, x := range f.files {
		rewindIfTruncated(x.file)
		for total < takeLimit {
			buf := make([]byte, min(readSize, takeLimit-total))
			n, err := x.file.Read(buf)
			if n > 0 {
				out = append(out, Chunk{Stream: x.stream, Data: buf[:n]})
				total += n
			}
			if n == 0 || err != nil {
				break
			}
		}
	}
	if total >= takeLimit || (over && len(out) > 0) {
		f.notify() // more is waiting, or the end is, for the next Take
		return out, true
	}
	return out, !over
}

// rewindIfTruncated starts reading file again from its beginning when it
// is now shorter than what was read of it: the task truncated it (a
// shell's `>` on its own output, a log rotated by copy and truncate), and
// what it writes next lands before where reading had got to, where a
// follower that stayed put would never see it, as `tail -F` would.
func rewindIfTruncated(file *os.File) {
	pos, err := file.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	if st, err := file.Stat(); err == nil && st.Size() < pos {
		_, _ = file.Seek(0, io.SeekStart)
	}
}

// Close stops following.
func (f *Follower) Close() {
	f.once.Do(func() {
		close(f.stop)
		f.closeFiles()
	})
}

func (f *Follower) closeFiles() {
	for _, x := range f.files {
		x.file.Close()
	}
}

// watch reports, on the returned channel, that one of the files changed.
func watch(paths ...string) (<-chan struct{}, func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("watching the container's output: %w", err)
	}
	for _, p := range paths {
		if _, err := unix.InotifyAddWatch(fd, p, unix.IN_MODIFY); err != nil {
			unix.Close(fd)
			return nil, nil, fmt.Errorf("watching %s: %w", p, err)
		}
	}
	events := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends the read below
	changed := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := events.Read(buf); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			select {
			case changed <- struct{}{}:
			default: // one pending notice covers any number of writes
			}
		}
	}()
	return changed, func() { events.Close() }, nil
}

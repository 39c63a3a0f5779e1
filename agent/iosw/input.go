package iosw

import (
	"fmt"
	"sync"
)

// Input is the attached input client's hold on the input.
type Input struct {
	b        *Board
	released sync.Once
}

// Write sends p to the container's stdin. It blocks while the process
// does not read (a full pipe or terminal): that pushes back on the client
// alone.
func (in *Input) Write(p []byte) error {
	if _, err := in.b.in.Write(p); err != nil {
		return fmt.Errorf("writing to the container's input: %w", err)
	}
	return nil
}

// EOT is what a terminal reads as end of input at the start of a line
// (^D): a terminal cannot be closed on one side only.
const EOT = 0x04

// EOF ends the input: a pipe is closed (the process reads EOF and no
// client can attach the input again), a terminal is sent EOT.
func (in *Input) EOF() error {
	if in.b.tty {
		return in.Write([]byte{EOT})
	}
	in.b.mu.Lock()
	in.b.inClosed = true
	in.b.mu.Unlock()
	if err := in.b.in.Close(); err != nil {
		return fmt.Errorf("closing the container's input: %w", err)
	}
	return nil
}

// Resize sets the terminal's window size (the kernel signals SIGWINCH to
// its foreground processes).
func (in *Input) Resize(ws WindowSize) error {
	if !in.b.tty {
		return ErrNotTerminal
	}
	return SetWindowSize(in.b.in, ws)
}

// Release gives the input back for another client.
func (in *Input) Release() {
	in.released.Do(func() {
		in.b.mu.Lock()
		in.b.inputHeld = false
		in.b.mu.Unlock()
	})
}

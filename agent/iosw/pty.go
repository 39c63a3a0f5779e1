package iosw

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenPTY opens a new pseudo-terminal on the host: its master side, for a
// Board, and its other side, for the process's stdin, stdout and stderr.
// The master is non-blocking, so that closing it ends a pending read.
// uid and gid, unless -1, own the process's side (its user may then open
// it again, as a shell does for /dev/tty).
func OpenPTY(ws WindowSize, uid, gid int) (master, tty *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	fail := func(what string, err error) (*os.File, *os.File, error) {
		master.Close()
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlocking the pseudo-terminal", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("naming the pseudo-terminal", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	if uid >= 0 {
		if err := os.Chown(name, uid, gid); err != nil {
			return fail("giving the pseudo-terminal to its user", err)
		}
	}
	tty, err = os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fail("opening the pseudo-terminal", err)
	}
	if ws.Rows > 0 && ws.Cols > 0 {
		if err := SetWindowSize(master, ws); err != nil {
			tty.Close()
			return fail("sizing the pseudo-terminal", err)
		}
	}
	return master, tty, nil
}

// Pipes makes the three pipes of a process without a terminal: the
// process's ends (for its stdin, stdout and stderr) and the agent's, for
// NewPipes.
func Pipes() (proc [3]*os.File, agent [3]*os.File, err error) {
	var made []*os.File
	fail := func(err error) ([3]*os.File, [3]*os.File, error) {
		for _, f := range made {
			f.Close()
		}
		return [3]*os.File{}, [3]*os.File{}, fmt.Errorf("making the stdio pipes: %w", err)
	}
	for i := range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		made = append(made, r, w)
		if i == 0 {
			proc[i], agent[i] = r, w // stdin: the process reads
		} else {
			proc[i], agent[i] = w, r
		}
	}
	return proc, agent, nil
}

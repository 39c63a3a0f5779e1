package containerizer

import (
	"os"

	"github.com/corral-sched/corral/agent/iosw"
)

// taskStdio is what a launcher opened for a task's stdio: the sandbox
// files it hands the process, or a terminal and its Board.
type taskStdio struct {
	// files are the process's ends, closed once it has started.
	files []*os.File
	// tty is the process's side of a terminal; board switches the
	// master side and sink is the sandbox's stdout it appends to.
	tty   *os.File
	board *iosw.Board
	sink  *os.File
}

// openTerminal opens a terminal on the host for a task and the Board
// that appends its output to the sandbox's stdout (stderr stays empty:
// a terminal has one output).
func openTerminal(sandbox string, ws iosw.WindowSize, uid, gid int) (*taskStdio, error) {
	stdout, stderr, err := openStdio(sandbox)
	if err != nil {
		return nil, err
	}
	stderr.Close()
	master, tty, err := iosw.OpenPTY(ws, uid, gid)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	return &taskStdio{files: []*os.File{tty}, tty: tty, board: iosw.NewTerminal(master, stdout, nil), sink: stdout}, nil
}

// started closes the process's ends (it holds its own now) and starts
// the Board; a failed start closes everything.
func (t *taskStdio) started(err error) {
	closeFiles(t.files)
	if t.board == nil {
		return
	}
	if err != nil {
		t.board.Close()
		t.sink.Close()
		return
	}
	t.board.Start()
}

// exited reads what the process left on its terminal before its exit is
// reported: a client attached sees all of it before the task ends.
func (t *taskStdio) exited() {
	if t.board == nil {
		return
	}
	t.board.Settle(sessionSettle)
	t.sink.Close()
}

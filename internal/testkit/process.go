package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// StartLogged starts cmd in a process group of its own (so that stopping
// it reaches its children), its output appended to logPath, and returns a
// channel closed once it has exited.
func StartLogged(cmd *exec.Cmd, logPath string) (<-chan struct{}, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	return done, nil
}

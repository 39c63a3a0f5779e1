//go:build linux

package fetcher

import (
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// startWorker starts a goroutine on an OS thread of its own whose
// filesystem credentials are id's, or returns nil when id needs no switch.
func startWorker(id identity) (*worker, error) {
	if !id.switched {
		return nil, nil
	}
	w := &worker{jobs: make(chan func())}
	ready := make(chan error, 1)
	go w.run(id, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

func (w *worker) run(id identity, ready chan<- error) {
	// Never unlocked: once its credentials are changed the thread must not
	// run other goroutines, so it exits with this one. Threads the runtime
	// starts meanwhile are cloned from its template thread, not this one.
	runtime.LockOSThread()
	if err := assume(id); err != nil {
		ready <- fmt.Errorf("taking on the credentials of user %s: %w", id.name, err)
		return
	}
	ready <- nil
	for job := range w.jobs {
		job()
	}
}

// assume gives the calling thread id's supplementary groups, filesystem
// gid and filesystem uid. These raw system calls change this thread only
// (unlike syscall.Setgroups, which Go applies to every thread). Once the
// fsuid is not 0 the kernel drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
// CAP_CHOWN and CAP_FOWNER from the thread's effective set, so the user's
// permission checks apply and what it creates is the user's.
func assume(id identity) error {
	if err := unix.Setgroups(id.groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	// setfsgid and setfsuid answer the previous value and never fail
	// loudly: a second call reads what the first one left.
	_, _ = unix.SetfsgidRetGid(id.gid)
	_, _ = unix.SetfsuidRetUid(id.uid)
	if got, _ := unix.SetfsgidRetGid(id.gid); got != id.gid {
		return fmt.Errorf("the filesystem gid stayed %d instead of %d", got, id.gid)
	}
	if got, _ := unix.SetfsuidRetUid(id.uid); got != id.uid {
		return fmt.Errorf("the filesystem uid stayed %d instead of %d", got, id.uid)
	}
	got, err := unix.Getgroups()
	if err != nil {
		return fmt.Errorf("getgroups: %w", err)
	}
	if !sameSet(got, id.groups) {
		return fmt.Errorf("the supplementary groups are %v instead of %v", got, id.groups)
	}
	return nil
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

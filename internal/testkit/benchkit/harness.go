package benchkit

import (
	"fmt"
	"os"
	"sync"
)

// Harness stands in for testing.TB where a test harness (zktest) runs
// inside a command: Fatalf records the failure and ends the goroutine,
// cleanups run when Cleanup is called. Call Err after each harness call.
type Harness struct {
	mu     sync.Mutex
	defers []func() // guarded by mu
	err    error    // guarded by mu
}

// Helper does nothing.
func (h *Harness) Helper() {}

// Fatalf records the failure and stops the calling goroutine, as
// testing.TB does; run harness calls through Do to get it back as an error.
func (h *Harness) Fatalf(format string, args ...any) {
	h.mu.Lock()
	h.err = fmt.Errorf(format, args...)
	h.mu.Unlock()
	panic(fatal{})
}

// Skipf is Fatalf: a benchmark that cannot run has failed.
func (h *Harness) Skipf(format string, args ...any) { h.Fatalf(format, args...) }

// TempDir makes a directory removed by Close.
func (h *Harness) TempDir() string {
	dir, err := os.MkdirTemp("", "corral-bench-")
	if err != nil {
		h.Fatalf("benchkit: %v", err)
	}
	h.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Cleanup registers f to run at Close, last registered first.
func (h *Harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.defers = append(h.defers, f)
}

type fatal struct{}

// Do runs f, returning the error a Fatalf inside it recorded.
func (h *Harness) Do(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
			h.mu.Lock()
			err = h.err
			h.mu.Unlock()
		}
	}()
	f()
	return nil
}

// Close runs the cleanups.
func (h *Harness) Close() {
	h.mu.Lock()
	defers := h.defers
	h.defers = nil
	h.mu.Unlock()
	for i := len(defers) - 1; i >= 0; i-- {
		defers[i]()
	}
}

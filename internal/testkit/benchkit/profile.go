package benchkit

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// StartCPUProfile profiles this process into path until the returned
// function is called; an empty path profiles nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("benchkit: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("benchkit: cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// WriteHeapProfile writes the live heap to path after a collection; an
// empty path writes nothing.
func WriteHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("benchkit: heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC() // the profile shows what is live, not what was last collected
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("benchkit: heap profile: %w", err)
	}
	return nil
}

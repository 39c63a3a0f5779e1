// Package cgroups holds the cgroup isolators: cgroups/cpu (shares, and a
// CFS quota with CFS), cgroups/mem (a hard memory limit; an OOM kill is a
// memory limitation), cgroups/pids (a cap on processes) and
// cgroups/devices (the default device allow-list). Each adds its limits to
// the container's Launch, which the linux launcher applies when it makes
// the container's cgroups; each reads usage from, and writes updated
// limits to, the container's cgroup files, on cgroup v1 and v2.
//
// The v2 paths are exercised here by unit tests against a fake cgroup
// tree only: the machines corral is developed on run cgroup v1 (hybrid).
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/isolators"
)

// Options configure the cgroup isolators.
type Options struct {
	// Parent is the cgroup every container's cgroup goes under (an
	// absolute cgroup path such as /corral); a container's is Parent/ID.
	Parent string
	// CFS enforces cpus as a hard CFS quota, not only as shares.
	CFS bool
	// PidsLimit caps processes per container; 0 means no cap.
	PidsLimit int64
	// Root is where the cgroup file systems are mounted (default
	// /sys/fs/cgroup); V2 says whether it is one unified hierarchy.
	Root string
	V2   bool
}

// Hierarchy finds a container's cgroup files.
type Hierarchy struct{ opts Options }

// NewHierarchy returns the hierarchy opts describe.
func NewHierarchy(opts Options) Hierarchy {
	if opts.Root == "" {
		opts.Root = "/sys/fs/cgroup"
	}
	return Hierarchy{opts: opts}
}

// Path is the cgroup path (relative to a hierarchy's root) of container
// id, as the linux launcher creates it.
func (h Hierarchy) Path(id string) string { return filepath.Join(h.opts.Parent, id) }

// Dir is the directory of container id's cgroup for controller (v1), or
// of its one cgroup (v2).
func (h Hierarchy) Dir(controller, id string) string {
	if h.opts.V2 {
		return filepath.Join(h.opts.Root, h.Path(id))
	}
	return filepath.Join(h.opts.Root, controller, h.Path(id))
}

// V2 reports whether the hierarchy is cgroup v2.
func (h Hierarchy) V2() bool { return h.opts.V2 }

// read reads a cgroup file's value, trimmed.
func read(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readUint(dir, file string) (uint64, error) {
	s, err := read(dir, file)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroups: %s in %s: %w", file, dir, err)
	}
	return n, nil
}

// key reads one "key value" line of a flat-keyed cgroup file (cpu.stat,
// memory.stat, memory.events).
func key(dir, file, name string) (uint64, error) {
	s, err := read(dir, file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroups: %s %s in %s: %w", file, name, dir, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("cgroups: no %s in %s/%s", name, dir, file)
}

// write writes one cgroup file.
func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroups: writing %q to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// exists reports whether a cgroup file is there (some are optional:
// memory.memsw.* without swap accounting).
func exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return !errors.Is(err, os.ErrNotExist)
}

// ensure returns l's Cgroups, making them.
func ensure(l *isolators.Launch) *isolators.Cgroups {
	if l.Cgroups == nil {
		l.Cgroups = &isolators.Cgroups{}
	}
	return l.Cgroups
}

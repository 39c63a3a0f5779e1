//go:build !(linux && cgo)

package containerizer

import "errors"

// Init does nothing: this build cannot run linux containers.
func Init() {}

// LinuxAvailable reports why linux isolation cannot be used here.
func LinuxAvailable() string { return "linux isolation needs a Linux build with cgo" }

// CgroupV2 is false: this build has no cgroups.
func CgroupV2() bool { return false }

// Linux is unavailable in this build.
type Linux struct {
	Root, CgroupParent string
}

// Launch fails: this build has no container runtime.
func (*Linux) Launch(Start) (*Process, error) {
	return nil, errors.New("containerizer: " + LinuxAvailable())
}

// Recover fails: this build has no container runtime.
func (*Linux) Recover(Start, int, uint64) (*Process, error) {
	return nil, errors.New("containerizer: " + LinuxAvailable())
}

// Containers finds nothing: this build has no container runtime.
func (*Linux) Containers(string) map[string]Running { return nil }

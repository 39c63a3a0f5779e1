// Package volumes holds the isolators that resolve a ContainerInfo's
// volumes to host directories: volume/sandbox_path (a directory of the
// task's own sandbox, made if missing) and volume/host_path (a host
// directory, only under the agent's allowed host paths). A file system
// isolator then makes them appear in the container; a volume whose kind
// has no isolator here is refused there.
package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/resources"
)

// SandboxPath is volume/sandbox_path.
type SandboxPath struct{}

var _ isolators.Isolator = SandboxPath{}

// Name is Mesos' name.
func (SandboxPath) Name() string { return "volume/sandbox_path" }

// Prepare resolves SANDBOX_PATH volumes to directories of the sandbox.
func (SandboxPath) Prepare(_ context.Context, c *isolators.Container, _ *isolators.Launch) error {
	for i := range c.Volumes {
		v := &c.Volumes[i]
		if v.Kind != isolators.SandboxPathVolume {
			continue
		}
		if err := resources.ValidateContainerPath(v.Path); err != nil {
			return fmt.Errorf("SANDBOX_PATH volume %q: %w", v.Target, err)
		}
		v.Source = filepath.Join(c.Sandbox, v.Path)
		if err := os.MkdirAll(v.Source, 0o755); err != nil {
			return fmt.Errorf("SANDBOX_PATH volume %q: %w", v.Target, err)
		}
	}
	return nil
}

// HostPath is volume/host_path.
type HostPath struct {
	// Allowed are the host directories tasks may mount (and what is under
	// them); none by default.
	Allowed []string
}

var _ isolators.Isolator = HostPath{}

// Name is Mesos' name.
func (HostPath) Name() string { return "volume/host_path" }

// Prepare resolves HOST_PATH volumes, refusing paths outside the allowed
// directories (after resolving links: a link under an allowed directory
// to elsewhere is outside).
func (h HostPath) Prepare(_ context.Context, c *isolators.Container, _ *isolators.Launch) error {
	for i := range c.Volumes {
		v := &c.Volumes[i]
		if v.Kind != isolators.HostPathVolume {
			continue
		}
		resolved, err := h.allowed(v.Path)
		if err != nil {
			return err
		}
		v.Source = resolved
	}
	return nil
}

func (h HostPath) allowed(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("HOST_PATH volume %q: the host path must be absolute", path)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return "", fmt.Errorf("HOST_PATH volume %q: %w", path, err)
	}
	for _, allowed := range h.Allowed {
		root, err := filepath.EvalSymlinks(filepath.Clean(allowed))
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(root, resolved); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return resolved, nil
		}
	}
	return "", fmt.Errorf("HOST_PATH volume %q is not under the agent's --allowed-host-paths", path)
}

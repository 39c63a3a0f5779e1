package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The agent checkpoints the resources the master told it to keep (dynamic
// reservations and persistent volumes) under meta/, and keeps each
// volume's data in volumes/roles/<role>/<persistence id>, outside any
// sandbox, so that it outlives tasks, agent restarts and master failovers.

func (a *Agent) resourcesPath() string { return filepath.Join(a.cfg.WorkDir, "meta", "resources.pb") }

// volumePath is where a volume's data lives; the role is escaped because
// hierarchical roles contain slashes.
func (a *Agent) volumePath(v *mesospb.Resource) string {
	return filepath.Join(a.cfg.WorkDir, "volumes", "roles", url.PathEscape(resources.ReservedRole(v)),
		v.GetDisk().GetPersistence().GetId())
}

// volumePathProblem checks what volumePath puts in a path. The master
// validates both; the agent checks again because it creates and deletes
// these directories as root.
func volumePathProblem(v *mesospb.Resource) error {
	if err := resources.ValidatePathName("persistence ID", v.GetDisk().GetPersistence().GetId()); err != nil {
		return err
	}
	return resources.ValidatePathName("role", url.PathEscape(resources.ReservedRole(v)))
}

// loadCheckpointedResources reads the checkpoint, if any.
func (a *Agent) loadCheckpointedResources() error {
	b, err := os.ReadFile(a.resourcesPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: reading checkpointed resources: %w", err)
	}
	msg := &agentpb.Event_CheckpointResources{}
	if err := proto.Unmarshal(b, msg); err != nil {
		return fmt.Errorf("agent: checkpointed resources in %s are corrupt: %w", a.resourcesPath(), err)
	}
	a.checkpointed = msg.GetResources()
	return nil
}

// checkpointResources persists the master's new set of checkpointed
// resources, then creates new volumes' directories and deletes destroyed
// volumes' data.
func (a *Agent) checkpointResources(res []*mesospb.Resource) {
	b, err := proto.Marshal(&agentpb.Event_CheckpointResources{Resources: res})
	if err == nil {
		err = writeFileAtomic(a.resourcesPath(), b)
	}
	if err != nil {
		// The master will send the full set again with the next change;
		// meanwhile the volumes are not touched.
		a.log.Error("could not checkpoint resources", "err", err)
		return
	}
	old := a.checkpointed
	a.checkpointed = res
	for _, v := range res {
		if resources.IsVolume(v) && findVolume(old, v) == nil {
			if err := volumePathProblem(v); err != nil {
				a.log.Error("refusing a persistent volume", "err", err)
				continue
			}
			if err := os.MkdirAll(a.volumePath(v), 0o755); err != nil {
				a.log.Error("could not create a persistent volume", "volume", v.GetDisk().GetPersistence().GetId(), "err", err)
			} else {
				a.log.Info("persistent volume created", "volume", v.GetDisk().GetPersistence().GetId(), "path", a.volumePath(v))
			}
		}
	}
	for _, v := range old {
		if resources.IsVolume(v) && findVolume(res, v) == nil {
			if err := volumePathProblem(v); err != nil {
				continue // never created
			}
			if err := os.RemoveAll(a.volumePath(v)); err != nil {
				a.log.Error("could not delete a destroyed persistent volume", "volume", v.GetDisk().GetPersistence().GetId(), "err", err)
			} else {
				a.log.Info("persistent volume destroyed", "volume", v.GetDisk().GetPersistence().GetId())
			}
		}
	}
}

func findVolume(in []*mesospb.Resource, v *mesospb.Resource) *mesospb.Resource {
	for _, x := range in {
		if resources.IsVolume(x) && x.GetDisk().GetPersistence().GetId() == v.GetDisk().GetPersistence().GetId() &&
			resources.ReservedRole(x) == resources.ReservedRole(v) {
			return x
		}
	}
	return nil
}

// linkVolumes makes each persistent volume of a task appear in its
// sandbox at the volume's container path. With posix isolation that is a
// symbolic link (read-only mode cannot be enforced without a mount
// namespace).
func (a *Agent) linkVolumes(sandbox string, task *mesospb.TaskInfo) error {
	for _, v := range task.GetResources() {
		if !resources.IsVolume(v) {
			continue
		}
		rel := v.GetDisk().GetVolume().GetContainerPath()
		if err := resources.ValidateContainerPath(rel); err != nil {
			return fmt.Errorf("persistent volume %s: %w", v.GetDisk().GetPersistence().GetId(), err)
		}
		target := a.volumePath(v)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("persistent volume %s: %w", v.GetDisk().GetPersistence().GetId(), err)
		}
		link := filepath.Join(sandbox, rel)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fmt.Errorf("persistent volume %s: %w", v.GetDisk().GetPersistence().GetId(), err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("persistent volume %s: linking it into the sandbox: %w", v.GetDisk().GetPersistence().GetId(), err)
		}
	}
	return nil
}

// containerVolumes turns the task's ContainerInfo volumes into mounts:
// SANDBOX_PATH (a directory of the sandbox) and HOST_PATH (only under
// AllowedHostPaths). Relative container paths are inside the sandbox;
// absolute ones need linux isolation. With posix isolation relative
// volumes become symbolic links in the sandbox.
func (a *Agent) containerVolumes(t *taskRun) ([]containerizer.Mount, error) {
	var mounts []containerizer.Mount
	for _, v := range t.info.GetContainer().GetVolumes() {
		dest := v.GetContainerPath()
		if dest == "" {
			return nil, errors.New("a volume needs 'container_path'")
		}
		var source string
		switch {
		case v.GetSource().GetType() == mesospb.Volume_Source_SANDBOX_PATH:
			sp := v.GetSource().GetSandboxPath()
			if sp.GetType() == mesospb.Volume_Source_SandboxPath_PARENT {
				return nil, errors.New("SANDBOX_PATH volumes of type PARENT need a task group")
			}
			if err := resources.ValidateContainerPath(sp.GetPath()); err != nil {
				return nil, fmt.Errorf("SANDBOX_PATH volume: %w", err)
			}
			source = filepath.Join(t.sandbox, sp.GetPath())
			if err := os.MkdirAll(source, 0o755); err != nil {
				return nil, fmt.Errorf("SANDBOX_PATH volume: %w", err)
			}
		case v.GetSource().GetType() == mesospb.Volume_Source_HOST_PATH || (v.Source == nil && v.GetHostPath() != ""):
			host := v.GetHostPath()
			if v.GetSource().GetHostPath() != nil {
				host = v.GetSource().GetHostPath().GetPath()
			}
			resolved, err := a.allowedHostPath(host)
			if err != nil {
				return nil, err
			}
			source = resolved
		default:
			return nil, fmt.Errorf("volume %q: source type %v is not supported", dest, v.GetSource().GetType())
		}
		ro := v.GetMode() == mesospb.Volume_RO
		if !filepath.IsAbs(dest) {
			if err := resources.ValidateContainerPath(dest); err != nil {
				return nil, fmt.Errorf("volume: %w", err)
			}
			dest = filepath.Join(t.sandbox, dest)
		}
		if a.cfg.Isolation != "linux" {
			if strings.HasPrefix(dest, t.sandbox+"/") {
				if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
					return nil, err
				}
				if err := os.Symlink(source, dest); err != nil {
					return nil, fmt.Errorf("volume %q: %w", v.GetContainerPath(), err)
				}
				continue
			}
			return nil, fmt.Errorf("volume %q: an absolute container path needs linux isolation", v.GetContainerPath())
		}
		mounts = append(mounts, containerizer.Mount{Source: source, Destination: dest, ReadOnly: ro})
	}
	return mounts, nil
}

// allowedHostPath resolves a HOST_PATH volume's path and checks that it is
// under one of AllowedHostPaths.
func (a *Agent) allowedHostPath(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("HOST_PATH volume %q: the host path must be absolute", path)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return "", fmt.Errorf("HOST_PATH volume %q: %w", path, err)
	}
	for _, allowed := range a.cfg.AllowedHostPaths {
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

// writeFileAtomic writes b to path durably: a synced temporary file
// renamed over it.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

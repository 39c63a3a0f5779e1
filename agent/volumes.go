package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
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

// volumes lists what a task's container makes appear: its persistent
// volumes (their data under work dir/volumes) and its ContainerInfo's
// volumes, which the volume isolators resolve.
func (a *Agent) volumes(ti *mesospb.TaskInfo) ([]isolators.Volume, error) {
	var out []isolators.Volume
	for _, v := range ti.GetResources() {
		if !resources.IsVolume(v) {
			continue
		}
		id := v.GetDisk().GetPersistence().GetId()
		rel := v.GetDisk().GetVolume().GetContainerPath()
		if err := resources.ValidateContainerPath(rel); err != nil {
			return nil, fmt.Errorf("persistent volume %s: %w", id, err)
		}
		if err := volumePathProblem(v); err != nil {
			return nil, fmt.Errorf("persistent volume %s: %w", id, err)
		}
		out = append(out, isolators.Volume{Source: a.volumePath(v), Target: rel, Kind: isolators.PersistentVolume,
			ReadOnly: v.GetDisk().GetVolume().GetMode() == mesospb.Volume_RO})
	}
	more, err := isolators.VolumesOf(ti.GetContainer())
	if err != nil {
		return nil, err
	}
	return append(out, more...), nil
}

// makeVolumes makes the directories of persistent volumes that do not
// exist yet (a volume is made when the master checkpoints it; a task may
// come first).
func makeVolumes(vols []isolators.Volume) error {
	for _, v := range vols {
		if v.Kind == isolators.PersistentVolume {
			if err := os.MkdirAll(v.Source, 0o755); err != nil {
				return fmt.Errorf("persistent volume at %s: %w", v.Target, err)
			}
		}
	}
	return nil
}

// writeFileAtomic writes b to path durably: a synced temporary file
// renamed over it.
func writeFileAtomic(path string, b []byte) error { return writeFileMode(path, b, 0o644) }

// writeFileMode is writeFileAtomic giving the file mode.
func writeFileMode(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	// O_CREATE's mode applies only to a new file: a leftover tmp file
	// keeps its own.
	if err := f.Chmod(mode); err != nil {
		f.Close()
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

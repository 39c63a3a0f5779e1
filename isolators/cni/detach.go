package cni

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/containernetworking/cni/libcni"

	"github.com/corral-sched/corral/internal/netns"
)

// Detach runs DEL for each of the container's networks (last attached
// first), then removes its namespace and record. It works from the
// record on disk, so it also works for a container attached before an
// agent restart, and it is idempotent. If a DEL fails, the namespace and
// record stay so that a later Detach or Recover can retry.
func (m *Manager) Detach(ctx context.Context, id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("cni: invalid container ID %q", id)
	}
	a, err := readRecord(m.recordPath(id))
	if errors.Is(err, os.ErrNotExist) {
		// Nothing recorded: at most a namespace made before the record
		// was, or cache entries of a record that was lost.
		a = &Attachment{ContainerID: id, NetNS: m.netnsPath(id)}
	} else if err != nil {
		return err
	}
	var errs []error
	for i := len(a.Networks) - 1; i >= 0; i-- {
		n := &a.Networks[i]
		if err := m.del(ctx, m.runtime(a, n), n.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.delCached(ctx, id, a); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := netns.Remove(m.netnsPath(id)); err != nil {
		return fmt.Errorf("cni: container %s: %w", id, err)
	}
	if err := os.RemoveAll(m.dir(id)); err != nil {
		return fmt.Errorf("cni: container %s: %w", id, err)
	}
	m.mu.Lock()
	delete(m.attached, id)
	m.mu.Unlock()
	return nil
}

// del runs DEL for one network with the configuration and arguments its
// ADD used, from libcni's cache; without a cache entry (the ADD never
// finished) it falls back to the current configuration, since a half
// done ADD may still have left something to release.
func (m *Manager) del(ctx context.Context, rt *libcni.RuntimeConf, name string) error {
	list, rt, err := m.cachedList(name, rt)
	if err != nil {
		return err
	}
	if list == nil {
		m.log.Warn("no configuration to detach with: network gone and nothing cached", "network", name, "container", rt.ContainerID)
		return nil
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("cni: network %q: detaching container %s: %w", name, rt.ContainerID, err)
	}
	return nil
}

func (m *Manager) cachedList(name string, rt *libcni.RuntimeConf) (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	cached, cachedRT, err := m.cni.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: name}, rt)
	if err != nil {
		return nil, nil, fmt.Errorf("cni: network %q: reading the cache of container %s: %w", name, rt.ContainerID, err)
	}
	if cached != nil {
		list, err := libcni.NetworkConfFromBytes(cached)
		if err != nil {
			return nil, nil, fmt.Errorf("cni: network %q: cached configuration of container %s: %w", name, rt.ContainerID, err)
		}
		return list, cachedRT, nil
	}
	return m.nets[name], rt, nil
}

// delCached detaches networks libcni's cache holds for the container that
// its record does not name (a record lost or never written).
func (m *Manager) delCached(ctx context.Context, id string, a *Attachment) error {
	cached, err := m.cni.GetCachedAttachments(id)
	if err != nil {
		return fmt.Errorf("cni: reading the cache of container %s: %w", id, err)
	}
	var errs []error
	for _, c := range cached {
		if slices.ContainsFunc(a.Networks, func(n Network) bool { return n.Name == c.Network && n.IfName == c.IfName }) {
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: id, NetNS: c.NetNS, IfName: c.IfName, Args: c.CniArgs, CapabilityArgs: c.CapabilityArgs}
		if err := m.del(ctx, rt, c.Network); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Check runs CHECK for each of the container's networks: the plugins
// verify that what ADD made is still there.
func (m *Manager) Check(ctx context.Context, id string) error {
	a, ok := m.Attachment(id)
	if !ok {
		return fmt.Errorf("cni: container %s is not attached", id)
	}
	for i := range a.Networks {
		n := &a.Networks[i]
		list, rt, err := m.cachedList(n.Name, m.runtime(a, n))
		if err != nil {
			return err
		}
		if list == nil {
			return fmt.Errorf("cni: network %q: no configuration to check container %s with", n.Name, id)
		}
		if err := m.cni.CheckNetworkList(ctx, list, rt); err != nil {
			return fmt.Errorf("cni: network %q: checking container %s: %w", n.Name, id, err)
		}
	}
	return nil
}

// Recover runs after an agent restart: the containers in alive keep their
// attachments (Attachment answers for them again); every other container
// with a record, a cached attachment or a namespace is detached.
func (m *Manager) Recover(ctx context.Context, alive []string) error {
	keep := map[string]bool{}
	for _, id := range alive {
		keep[id] = true
	}
	seen := map[string]bool{}
	entries, err := os.ReadDir(filepath.Join(m.cfg.StateDir, "containers"))
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	for _, e := range entries {
		seen[e.Name()] = true
	}
	cached, err := m.cni.GetCachedAttachments("")
	if err != nil {
		return fmt.Errorf("cni: reading the result cache: %w", err)
	}
	for _, c := range cached {
		seen[c.ContainerID] = true
	}
	spaces, err := os.ReadDir(filepath.Join(m.cfg.StateDir, "netns"))
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	for _, e := range spaces {
		seen[e.Name()] = true
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		if !validID.MatchString(id) {
			continue
		}
		if !keep[id] {
			if err := m.Detach(ctx, id); err != nil {
				errs = append(errs, err)
			} else {
				m.log.Info("detached the networks of a container that is gone", "container", id)
			}
			continue
		}
		a, err := readRecord(m.recordPath(id))
		if err != nil {
			errs = append(errs, fmt.Errorf("cni: container %s is alive but its record is unreadable: %w", id, err))
			continue
		}
		m.mu.Lock()
		m.attached[id] = a
		m.mu.Unlock()
	}
	return errors.Join(errs...)
}

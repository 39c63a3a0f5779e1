package cni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Isolator is network/cni: a container whose ContainerInfo names CNI
// networks (network_infos with a name) gets a network namespace of its
// own, attached to them before it starts, with /etc/resolv.conf and
// /etc/hosts to match; other containers are left as they were (the host's
// network, or loopback only under namespaces/net).
//
// A task group's networks belong to the group: PrepareGroup attaches a
// namespace named after the group, its tasks join it, and it stays until
// the group has ended and its last task is gone. Which container belongs
// to which group is kept on disk, so that a restarted agent still knows.
type Isolator struct {
	m *Manager

	mu sync.Mutex
	// held are the groups the agent has not ended yet; groupOf maps a
	// member container to its group; attaching holds the outcome of the
	// plugins still running for a container. All guarded by mu.
	held      map[string]bool
	groupOf   map[string]string
	attaching map[string]chan error
}

var (
	_ isolators.Isolator  = (*Isolator)(nil)
	_ isolators.Isolater  = (*Isolator)(nil)
	_ isolators.Cleaner   = (*Isolator)(nil)
	_ isolators.Recoverer = (*Isolator)(nil)
	_ isolators.Statuser  = (*Isolator)(nil)
	_ isolators.Grouper   = (*Isolator)(nil)
)

// NewIsolator returns network/cni over m.
func NewIsolator(m *Manager) *Isolator {
	return &Isolator{m: m, held: map[string]bool{}, groupOf: map[string]string{}, attaching: map[string]chan error{}}
}

// Name is Mesos' name.
func (*Isolator) Name() string { return "network/cni" }

// Manager is the isolator's Manager.
func (i *Isolator) Manager() *Manager { return i.m }

// named returns the network_infos that name a CNI network; an unnamed one
// stands for the host network, which needs nothing from this isolator.
func named(info *mesospb.ContainerInfo) []*mesospb.NetworkInfo {
	var out []*mesospb.NetworkInfo
	for _, ni := range info.GetNetworkInfos() {
		if ni.GetName() != "" {
			out = append(out, ni)
		}
	}
	return out
}

// Prepare attaches a container that names CNI networks, or joins a group's
// container to its group's networks.
func (i *Isolator) Prepare(ctx context.Context, c *isolators.Container, l *isolators.Launch) error {
	infos := named(c.Info)
	if group := i.groupByNetNS(c.NetNS); group != "" {
		if len(infos) > 0 {
			return errors.New("a task of a group joins its group's networks: name them in the executor's ContainerInfo.network_infos")
		}
		a, ok := i.m.Attachment(group)
		if !ok {
			return fmt.Errorf("the networks of group %s are gone", group)
		}
		if err := i.join(c.ID, group); err != nil {
			return err
		}
		apply(l, a)
		return nil
	}
	if len(infos) == 0 {
		return nil
	}
	if c.NetNS != "" {
		return errors.New("a container that joins another's network namespace cannot name networks of its own")
	}
	hostname := l.Hostname
	if hostname == "" {
		hostname = c.Info.GetHostname()
	}
	a, err := i.m.Begin(ctx, c.ID, infos, hostname)
	if err != nil {
		return err
	}
	// The plugins run while the container is made; Isolate waits for
	// them before its command starts.
	done := make(chan error, 1)
	i.mu.Lock()
	i.attaching[c.ID] = done
	i.mu.Unlock()
	go func() {
		_, err := i.m.Finish(context.WithoutCancel(ctx), a)
		done <- err
	}()
	apply(l, a)
	return nil
}

// Isolate waits until the container's networks are attached: the
// launcher calls it before the container's command runs.
func (i *Isolator) Isolate(_ context.Context, c *isolators.Container) error {
	return i.attached(c.ID)
}

// attached waits for the plugins still running for container id, if any.
func (i *Isolator) attached(id string) error {
	i.mu.Lock()
	done, ok := i.attaching[id]
	delete(i.attaching, id)
	i.mu.Unlock()
	if !ok {
		return nil
	}
	return <-done
}

// apply puts the container in a's namespace (in place of the new one
// namespaces/net asked for, if it did) with a's name service files.
func apply(l *isolators.Launch, a *Attachment) {
	joined := false
	for k := range l.Namespaces {
		if l.Namespaces[k].Type == isolators.NetworkNamespace {
			l.Namespaces[k].Path, joined = a.NetNS, true
		}
	}
	if !joined {
		l.Namespaces = append(l.Namespaces, isolators.Namespace{Type: isolators.NetworkNamespace, Path: a.NetNS})
	}
	if a.ResolvConf != "" {
		l.Mounts = append(l.Mounts, isolators.Bind(a.ResolvConf, "/etc/resolv.conf", true))
	}
	if a.Hosts != "" {
		l.Mounts = append(l.Mounts, isolators.Bind(a.Hosts, "/etc/hosts", true))
	}
}

// Cleanup detaches a container's own networks, or lets go of its group's
// (detached here if the group has ended and this was its last container).
func (i *Isolator) Cleanup(ctx context.Context, c *isolators.Container) error {
	i.mu.Lock()
	group, member := i.groupOf[c.ID]
	i.mu.Unlock()
	if member {
		return i.leave(ctx, c.ID, group)
	}
	if err := i.attached(c.ID); err != nil {
		return nil // the failed attach undid itself
	}
	if _, ok := i.m.Attachment(c.ID); !ok {
		return nil // it named no networks
	}
	return i.m.Detach(ctx, c.ID)
}

// PrepareGroup attaches the group's namespace to the networks its
// executor's ContainerInfo names, before any of its tasks exists.
func (i *Isolator) PrepareGroup(ctx context.Context, g *isolators.Container) error {
	infos := named(g.Info)
	if len(infos) == 0 {
		return nil
	}
	a, err := i.m.Attach(ctx, g.ID, infos, g.Info.GetHostname())
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.held[g.ID] = true
	i.mu.Unlock()
	g.NetNS = a.NetNS
	return nil
}

// CleanupGroup ends the group: its networks go once no container of it is
// left.
func (i *Isolator) CleanupGroup(ctx context.Context, g *isolators.Container) error {
	i.mu.Lock()
	if !i.held[g.ID] {
		i.mu.Unlock()
		return nil
	}
	delete(i.held, g.ID)
	last := i.membersLocked(g.ID) == 0
	i.mu.Unlock()
	if !last {
		return nil
	}
	return i.detachGroup(ctx, g.ID)
}

// Status reports the networks of the container, or of its group.
func (i *Isolator) Status(c *isolators.Container, s *mesospb.ContainerStatus) {
	id := c.ID
	i.mu.Lock()
	if g, ok := i.groupOf[c.ID]; ok {
		id = g
	}
	i.mu.Unlock()
	if a, ok := i.m.Attachment(id); ok {
		s.NetworkInfos = append(s.NetworkInfos, a.NetworkInfos()...)
	}
}

// Recover keeps the networks of the containers still alive and of the
// groups with a container alive; everything else is detached.
func (i *Isolator) Recover(ctx context.Context, alive []*isolators.Container) error {
	live := make(map[string]bool, len(alive))
	keep := make([]string, 0, len(alive))
	for _, c := range alive {
		live[c.ID] = true
		keep = append(keep, c.ID)
	}
	groups, err := os.ReadDir(i.groupsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: %w", err)
	}
	var errs []error
	i.mu.Lock()
	for _, g := range groups {
		members, err := os.ReadDir(filepath.Join(i.groupsDir(), g.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("cni: %w", err))
			continue
		}
		kept := false
		for _, mem := range members {
			if live[mem.Name()] {
				i.groupOf[mem.Name()] = g.Name()
				kept = true
			} else if err := os.Remove(filepath.Join(i.groupsDir(), g.Name(), mem.Name())); err != nil {
				errs = append(errs, fmt.Errorf("cni: %w", err))
			}
		}
		if kept {
			// A restarted agent no longer knows the group: it ends with its
			// last container.
			keep = append(keep, g.Name())
		} else if err := os.Remove(filepath.Join(i.groupsDir(), g.Name())); err != nil {
			errs = append(errs, fmt.Errorf("cni: %w", err))
		}
	}
	i.mu.Unlock()
	return errors.Join(append(errs, i.m.Recover(ctx, keep))...)
}

func (i *Isolator) groupsDir() string { return filepath.Join(i.m.cfg.StateDir, "groups") }

// groupByNetNS names the group whose namespace is at path, if path is one
// of this isolator's and a group holds it.
func (i *Isolator) groupByNetNS(path string) string {
	if path == "" || filepath.Dir(path) != filepath.Join(i.m.cfg.StateDir, "netns") {
		return ""
	}
	id := filepath.Base(path)
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.held[id] {
		return ""
	}
	return id
}

// join records, on disk first, that container id uses group's networks.
func (i *Isolator) join(id, group string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("cni: invalid container ID %q", id)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.held[group] {
		return fmt.Errorf("the group %s has ended", group)
	}
	dir := filepath.Join(i.groupsDir(), group)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, id), nil, 0o600); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	i.groupOf[id] = group
	return nil
}

// leave forgets a group's container, and detaches the group's networks
// if it has ended and nothing else uses them.
func (i *Isolator) leave(ctx context.Context, id, group string) error {
	i.mu.Lock()
	delete(i.groupOf, id)
	err := os.Remove(filepath.Join(i.groupsDir(), group, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		i.mu.Unlock()
		return fmt.Errorf("cni: %w", err)
	}
	last := !i.held[group] && i.membersLocked(group) == 0
	i.mu.Unlock()
	if !last {
		return nil
	}
	return i.detachGroup(ctx, group)
}

// detachGroup detaches a group's networks once nothing uses them.
func (i *Isolator) detachGroup(ctx context.Context, group string) error {
	if err := i.m.Detach(ctx, group); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(i.groupsDir(), group)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}

// membersLocked counts group's containers; i.mu must be held.
func (i *Isolator) membersLocked(group string) int {
	n := 0
	for _, g := range i.groupOf {
		if g == group {
			n++
		}
	}
	return n
}

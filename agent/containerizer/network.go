package containerizer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/isolators/cni"
	"github.com/corral-sched/corral/proto/mesospb"
)

// CNI configures network/cni: Mesos' --network_cni_config_dir and
// --network_cni_plugins_dir, and the nameservers containers on CNI
// networks get.
type CNI struct {
	ConfigDir  string
	PluginDirs []string
	// DNS, if set, is the resolv.conf's nameservers of every container on
	// a CNI network (corral dns); otherwise the networks' plugins decide,
	// else the host's resolv.conf stays.
	DNS []string
}

// newCNI loads the CNI networks; the agent's state for them lives under
// root, so that a restarted agent can detach what an earlier one attached.
func newCNI(cfg Config) (*cni.Isolator, error) {
	if cfg.CNI == nil || cfg.CNI.ConfigDir == "" {
		return nil, errors.New("containerizer: network/cni needs a directory of CNI network configurations (--network-cni-config-dir)")
	}
	mc := cni.Config{ConfigDir: cfg.CNI.ConfigDir, PluginDirs: cfg.CNI.PluginDirs, StateDir: filepath.Join(cfg.Root, "cni"),
		Logger: cfg.Logger.With("isolator", "network/cni")}
	if len(cfg.CNI.DNS) > 0 {
		mc.DNS = &cni.DNS{Nameservers: cfg.CNI.DNS}
	}
	m, err := cni.New(mc)
	if err != nil {
		return nil, fmt.Errorf("containerizer: %w", err)
	}
	return cni.NewIsolator(m), nil
}

// namesNetworks reports whether info asks for CNI networks.
func namesNetworks(info *mesospb.ContainerInfo) bool {
	for _, ni := range info.GetNetworkInfos() {
		if ni.GetName() != "" {
			return true
		}
	}
	return false
}

// checkNetworks refuses a container that names CNI networks on an agent
// that attaches none: running it on the host's network would break what
// its framework relies on.
func (c *Containerizer) checkNetworks(info *mesospb.ContainerInfo) error {
	if namesNetworks(info) && !c.sel.Has("network/cni") {
		return errors.New("containerizer: the container names CNI networks (ContainerInfo.network_infos), but this agent runs no network/cni isolator (--network-cni-config-dir)")
	}
	return nil
}

// networkInfos is what the isolators report of a running container for its
// status updates.
func (c *Containerizer) networkInfos(ic *isolators.Container) []*mesospb.NetworkInfo {
	st := &mesospb.ContainerStatus{}
	for _, iso := range c.isolators {
		if s, ok := iso.(isolators.Statuser); ok {
			s.Status(ic, st)
		}
	}
	return st.NetworkInfos
}

// NetworkInfos are the container's networks and addresses, as Mesos
// reports them in TaskStatus.container_status.network_infos; nil for a
// container on the host's network.
func (p *Process) NetworkInfos() []*mesospb.NetworkInfo {
	out := make([]*mesospb.NetworkInfo, len(p.networks))
	for i, ni := range p.networks {
		out[i] = proto.CloneOf(ni)
	}
	return out
}

// PrepareGroup makes what the containers of task group id share before
// any of them exists; info is the group's executor's ContainerInfo. It
// returns the network namespace they join (Spec.NetNS), or "" when the
// group has none of its own from the isolators.
func (c *Containerizer) PrepareGroup(ctx context.Context, id string, info *mesospb.ContainerInfo) (string, error) {
	if err := c.checkNetworks(info); err != nil {
		return "", err
	}
	g := &isolators.Container{ID: id, Info: info}
	var prepared []isolators.Grouper
	for _, iso := range c.isolators {
		if x, ok := iso.(isolators.Grouper); ok {
			if err := x.PrepareGroup(ctx, g); err != nil {
				for i := len(prepared) - 1; i >= 0; i-- {
					_ = prepared[i].CleanupGroup(context.WithoutCancel(ctx), g)
				}
				return "", fmt.Errorf("%s: %w", iso.Name(), err)
			}
			prepared = append(prepared, x)
		}
	}
	return g.NetNS, nil
}

// CleanupGroup ends task group id: what PrepareGroup made goes once the
// group's last container is gone.
func (c *Containerizer) CleanupGroup(ctx context.Context, id string, info *mesospb.ContainerInfo) {
	g := &isolators.Container{ID: id, Info: info}
	for i := len(c.isolators) - 1; i >= 0; i-- {
		if x, ok := c.isolators[i].(isolators.Grouper); ok {
			if err := x.CleanupGroup(ctx, g); err != nil {
				c.log.Warn("cleaning up after a task group", "group", id, "isolator", c.isolators[i].Name(), "err", err)
			}
		}
	}
}
